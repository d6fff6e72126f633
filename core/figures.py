"""Plotly figure builders: data in, `go.Figure` out, readable on a projector."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
import torch

FONT = dict(size=16)
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


def _house_layout(title: str | None, height: int | None, panels: bool) -> dict:
    """House style as a layout dict. The title is pinned to the top and the legend to the
    bottom, so a legend that wraps on a narrow chart pushes the plot, never the title; `panels`
    leaves room for the panel titles between the title and the plot."""
    layout = dict(
        font=FONT, margin=dict(l=60, r=20, t=(90 if panels else 60) if title else 30, b=20),
        legend=dict(orientation="h", yref="container", y=0, yanchor="bottom", xanchor="left", x=0),
    )
    if title:
        layout["title"] = dict(text=title, font=dict(size=20), yref="container", y=1, yanchor="top",
                               pad=dict(t=12), automargin=True)
    if height:
        layout["height"] = height
    return layout


def _figure(data: list[dict], layout: dict, title: str | None = None, height: int | None = None,
            panels: bool = False) -> go.Figure:
    """One constructor call validates everything once; each update_* call would validate again."""
    return go.Figure(data=data, layout=_house_layout(title, height, panels) | layout)


def _style(fig: go.Figure, title: str | None = None, height: int | None = None, panels: bool = False) -> go.Figure:
    """Apply the house style to a figure built elsewhere."""
    return fig.update_layout(_house_layout(title, height, panels))


def _panels(count: int, titles: Sequence[str], gap: float = 0.03) -> tuple[list[str], dict]:
    """Side-by-side panels as axis ids and a layout, built in one go (make_subplots is slow)."""
    width = (1 - gap * (count - 1)) / count
    ids, layout, notes = [], {}, []
    for i in range(count):
        suffix = "" if i == 0 else str(i + 1)
        left = i * (width + gap)
        ids.append(suffix)
        layout[f"xaxis{suffix}"] = dict(domain=[left, left + width], anchor=f"y{suffix}")
        layout[f"yaxis{suffix}"] = dict(anchor=f"x{suffix}", **({"matches": "y", "showticklabels": False} if i else {}))
        notes.append(dict(text=titles[i], x=left + width / 2, y=1.0, xref="paper", yref="paper",
                          xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=17)))
    layout["annotations"] = notes
    return ids, layout


def tile_images(images: torch.Tensor, columns: int, pad: int = 2) -> torch.Tensor:
    """Lay (n, h, w) images out as one (rows*(h+pad), columns*(w+pad)) canvas."""
    if images.dim() != 3:
        raise ValueError(f"images must have shape (n, height, width), got {tuple(images.shape)}.")
    n, h, w = images.shape
    columns = max(1, min(columns, n))
    rows = math.ceil(n / columns)
    canvas = torch.full((rows * (h + pad) - pad, columns * (w + pad) - pad), 0.2)
    for i, image in enumerate(images.float().cpu()):
        r, c = divmod(i, columns)
        canvas[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = image
    return canvas


def digits_figure(
    images: torch.Tensor,
    columns: int = 8,
    title: str | None = None,
    height: int | None = None,
    labels: Sequence[str] | None = None,
) -> go.Figure:
    """Grayscale digits (n, 28, 28) in [0, 1], ink dark on white, tiled in a grid."""
    canvas = tile_images(images, columns)
    data = [dict(type="heatmap", z=canvas.numpy(), colorscale="gray_r", zmin=0, zmax=1, showscale=False,
                 hovertemplate="intensity %{z:.2f}<extra></extra>")]
    layout = dict(yaxis=dict(autorange="reversed", visible=False, scaleanchor="x", constrain="domain"),
                  xaxis=dict(visible=False, constrain="domain"), margin=dict(l=10, r=10, t=50 if title else 10, b=10))
    if labels:
        _, h, w = images.shape
        cols = max(1, min(columns, images.shape[0]))
        layout["annotations"] = [
            dict(x=c * (w + 2) + w / 2, y=r * (h + 2) - 0.5, text=text, showarrow=False, yanchor="bottom",
                 font=dict(size=14))
            for i, text in enumerate(labels) for r, c in [divmod(i, cols)]
        ]
    return _figure(data, layout, title, height)


def _class_labels(k: int) -> list[str]:
    return [str(i) for i in range(k)]


def _tau_titles(taus: Sequence[float]) -> list[str]:
    return [f"τ = {tau:g}" for tau in taus]


def relaxed_means_figure(taus: Sequence[float], means: torch.Tensor, errors: torch.Tensor,
                         probabilities: torch.Tensor, height: int = 340) -> go.Figure:
    """Per temperature: the mean relaxed sample (bars, ±2 s.e.) against softmax(logits) (diamonds)."""
    classes = _class_labels(probabilities.numel())
    ids, layout = _panels(len(taus), _tau_titles(taus))
    data = []
    for i, ax in enumerate(ids):
        data.append(dict(type="bar", x=classes, y=means[i].tolist(), error_y=dict(array=(2 * errors[i]).tolist()),
                         marker_color=PALETTE[0], name="E[relaxed sample]", showlegend=i == 0,
                         xaxis=f"x{ax}", yaxis=f"y{ax}", hovertemplate="class %{x}: %{y:.3f}<extra></extra>"))
        data.append(dict(type="scatter", x=classes, y=probabilities.tolist(), mode="markers",
                         marker=dict(symbol="diamond", size=11, color=PALETTE[1]), name="softmax(logits)",
                         showlegend=i == 0, xaxis=f"x{ax}", yaxis=f"y{ax}",
                         hovertemplate="p(class %{x}) = %{y:.3f}<extra></extra>"))
        layout[f"xaxis{ax}"].update(title_text="class", type="category")
    layout["yaxis"].update(range=[0, 1], title_text="probability")
    return _figure(data, layout, "Expected relaxed sample vs the categorical", height, panels=True)


def samples_figure(taus: Sequence[float], shown: torch.Tensor, height: int = 300) -> go.Figure:
    """A few single relaxed samples per temperature as heat rows; row r uses the same noise everywhere."""
    t, s, k = shown.shape
    ids, layout = _panels(t, _tau_titles(taus))
    rows = [f"draw {r + 1}" for r in range(s)]
    data = []
    for i, ax in enumerate(ids):
        values = shown[i].tolist()
        data.append(dict(type="heatmap", z=values, x=_class_labels(k), y=rows, zmin=0, zmax=1, colorscale="Blues",
                         showscale=i == t - 1, text=[[f"{v:.2f}" for v in row] for row in values],
                         texttemplate="%{text}" if k <= 5 else None, textfont=dict(size=12),
                         xaxis=f"x{ax}", yaxis=f"y{ax}", hovertemplate="%{y}, class %{x}: %{z:.3f}<extra></extra>"))
        layout[f"xaxis{ax}"].update(title_text="class", type="category")
    layout["yaxis"].update(autorange="reversed")
    return _figure(data, layout, "Single samples: same Gumbel noise, different temperature", height, panels=True)


def simplex_figure(taus: Sequence[float], cloud: torch.Tensor, probabilities: torch.Tensor,
                   height: int = 380) -> go.Figure:
    """Ternary scatter of relaxed 3-class samples per temperature; the star is softmax(logits)."""
    t = len(taus)
    _, layout = _panels(t, _tau_titles(taus), gap=0.05)
    p = probabilities.tolist()
    axis = dict(showticklabels=False, ticks="")
    data = []
    for i in range(t):
        name = "ternary" if i == 0 else f"ternary{i + 1}"
        points = cloud[i]
        # The corner titles hang below the domain, where no margin is kept for them: lift it off the legend.
        layout[name] = dict(domain=dict(x=layout["xaxis" if i == 0 else f"xaxis{i + 1}"]["domain"], y=[0.1, 0.9]),
                            sum=1, aaxis=dict(title="0", **axis), baxis=dict(title="1", **axis),
                            caxis=dict(title="2", **axis))
        data.append(dict(type="scatterternary", a=points[:, 0].numpy(), b=points[:, 1].numpy(),
                         c=points[:, 2].numpy(), subplot=name, mode="markers",
                         marker=dict(size=4, opacity=0.45, color=PALETTE[0]), name="relaxed samples",
                         showlegend=i == 0, hovertemplate="(%{a:.2f}, %{b:.2f}, %{c:.2f})<extra></extra>"))
        data.append(dict(type="scatterternary", a=[p[0]], b=[p[1]], c=[p[2]], subplot=name, mode="markers",
                         marker=dict(symbol="star", size=16, color=PALETTE[1]), name="softmax(logits)",
                         showlegend=i == 0))
    for key in [k for k in layout if k.startswith(("xaxis", "yaxis"))]:
        del layout[key]
    return _figure(data, layout, "Relaxed samples on the simplex (corners are one-hot)", height, panels=True)


def one_hotness_figure(taus: torch.Tensor, values: torch.Tensor, marked: Sequence[float],
                       classes: int, height: int = 340) -> go.Figure:
    """Mean largest component against temperature (log axis); 1 is one-hot, 1/K the centre."""
    near = [float(values[(taus - m).abs().argmin()]) for m in marked]
    data = [
        dict(type="scatter", x=taus.numpy(), y=values.numpy(), mode="lines", line=dict(width=3, color=PALETTE[0]),
             name="mean max component", hovertemplate="τ = %{x:.3g}: %{y:.3f}<extra></extra>"),
        dict(type="scatter", x=list(marked), y=near, mode="markers", name="your temperatures",
             marker=dict(size=12, color=PALETTE[1])),
    ]
    guides = [(1.0, "one-hot", "bottom"), (1.0 / classes, "uniform 1/K", "top")]
    layout = dict(
        xaxis=dict(type="log", title_text="temperature τ (log scale)"),
        yaxis=dict(title_text="mean largest component", range=[0, 1.05]),
        shapes=[dict(type="line", xref="paper", x0=0, x1=1, y0=y, y1=y, line=dict(dash="dot", color="gray"))
                for y, _, _ in guides],
        annotations=[dict(xref="paper", x=1, y=y, text=text, showarrow=False, xanchor="right", yanchor=side)
                     for y, text, side in guides],
    )
    return _figure(data, layout, "How close to one-hot?", height)


def frequency_figure(frequencies: torch.Tensor, probabilities: torch.Tensor, draws: int,
                     height: int = 340) -> go.Figure:
    """Gumbel-max sample frequencies (bars) against softmax(logits) (diamonds); the page states
    the χ² test beside it, as a title would be cut on a narrow chart."""
    classes = _class_labels(probabilities.numel())
    data = [
        dict(type="bar", x=classes, y=frequencies.tolist(), name=f"frequency ({draws:,} draws)",
             marker_color=PALETTE[2], hovertemplate="class %{x}: %{y:.4f}<extra></extra>"),
        dict(type="scatter", x=classes, y=probabilities.tolist(), mode="markers", name="softmax(logits)",
             marker=dict(symbol="diamond", size=12, color=PALETTE[1])),
    ]
    layout = dict(xaxis=dict(title_text="class", type="category"), yaxis=dict(title_text="probability"))
    return _figure(data, layout, "Gumbel-max vs softmax", height)


def code_grid_figure(code: torch.Tensor, classes: int, selected: int | None = None,
                     height: int = 360) -> go.Figure:
    """The one-hot code as a clickable grid: variables across, classes down, active cells dark."""
    variables = code.numel()
    xs = np.repeat(np.arange(variables), classes)
    ys = np.tile(np.arange(classes), variables)
    active = (code.numpy()[xs] == ys).astype(float)
    data = [dict(
        type="scatter", x=xs, y=ys, mode="markers",
        marker=dict(symbol="square", size=22, color=active, colorscale=[[0, "#e8eef7"], [1, "#1f3b73"]],
                    cmin=0, cmax=1, line=dict(width=2, color="white")),
        hovertemplate="variable %{x}, class %{y}<extra>click to activate</extra>", showlegend=False,
    )]
    layout = dict(
        xaxis=dict(title_text="variable", tickmode="linear", dtick=1, range=[-0.7, variables - 0.3],
                   showgrid=False, zeroline=False, fixedrange=True),
        yaxis=dict(title_text="class", tickmode="linear", dtick=1, range=[classes - 0.3, -0.7],
                   showgrid=False, zeroline=False, fixedrange=True),
        clickmode="event+select", dragmode=False,
    )
    if selected is not None:
        layout["shapes"] = [dict(type="rect", x0=selected - 0.5, x1=selected + 0.5, y0=-0.6, y1=classes - 0.4,
                                 line=dict(color=PALETTE[1], width=3))]
    return _figure(data, layout, "Code: one active class per variable (click a cell)", height)


def probabilities_figure(probabilities: torch.Tensor, code: torch.Tensor, height: int = 320) -> go.Figure:
    """The encoder's q(z | x) per variable and class; dots mark the code's active cells."""
    variables, classes = probabilities.shape
    data = [
        dict(type="heatmap", z=probabilities.T.numpy(), x=list(range(variables)), y=list(range(classes)), zmin=0,
             zmax=1, colorscale="Blues", colorbar=dict(title=dict(text="q")),
             hovertemplate="variable %{x}, class %{y}: q = %{z:.3f}<extra></extra>"),
        dict(type="scatter", x=list(range(variables)), y=code.tolist(), mode="markers", name="code",
             marker=dict(size=7, color=PALETTE[1]), hoverinfo="skip"),
    ]
    layout = dict(
        xaxis=dict(title_text="variable", tickmode="linear", dtick=1, fixedrange=True),
        yaxis=dict(title_text="class", tickmode="linear", dtick=1, autorange="reversed", fixedrange=True),
    )
    return _figure(data, layout, "Encoder probabilities q(z | x) for the test digit", height)


def epoch_curves_figure(curves: dict[str, dict[str, Sequence[float]]], height: int = 460) -> go.Figure:
    """Per-epoch objectives of whole runs: for each run, relaxed (solid), unrelaxed (dashed) and
    test (dotted) in one colour, so the gap between relaxed and exact samples is visible."""
    styles = (("relaxed", "solid", "train, relaxed"), ("unrelaxed", "dash", "train, exact samples"),
              ("test", "dot", "test, exact samples"))
    data = []
    for i, (label, series) in enumerate(curves.items()):
        for key, dash, what in styles:
            values = list(series[key])
            data.append(dict(type="scatter", x=list(range(1, len(values) + 1)), y=values, mode="lines+markers",
                             name=f"{label}: {what}", line=dict(color=PALETTE[i % len(PALETTE)], dash=dash, width=3),
                             marker=dict(size=6)))
    layout = dict(xaxis=dict(title_text="epoch", dtick=1 if max(len(s["test"]) for s in curves.values()) <= 15 else 5),
                  yaxis=dict(title_text="objective (nats per image)"),
                  legend=dict(orientation="v", x=1.02, xanchor="left", y=1, yanchor="top"),
                  margin=dict(l=70, r=20, t=70, b=60))
    return _figure(data, layout, "Training curves: relaxed vs exact-sample objectives", height)
