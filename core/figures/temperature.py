"""Figures of the Temperature page: relaxed samples at several temperatures against the
categorical they relax, and the Gumbel-max frequency check."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import torch

from core.figures.style import PALETTE, class_labels, figure, panels, tau_titles
from core.studies.temperature import FrequencyCheck, TemperatureStudy


def relaxed_means_figure(study: TemperatureStudy, height: int = 340) -> go.Figure:
    """Per temperature: the mean relaxed sample (bars, ±2 s.e.) against softmax(logits) (diamonds)."""
    taus, means, errors, probabilities = study.taus, study.means, study.mean_errors, study.probabilities
    classes = class_labels(probabilities.numel())
    ids, layout = panels(len(taus), tau_titles(taus))
    data = []
    for i, ax in enumerate(ids):
        data.append(
            dict(
                type="bar",
                x=classes,
                y=means[i].tolist(),
                error_y=dict(array=(2 * errors[i]).tolist()),
                marker_color=PALETTE[0],
                name="E[relaxed sample]",
                showlegend=i == 0,
                xaxis=f"x{ax}",
                yaxis=f"y{ax}",
                hovertemplate="class %{x}: %{y:.3f}<extra></extra>",
            )
        )
        data.append(
            dict(
                type="scatter",
                x=classes,
                y=probabilities.tolist(),
                mode="markers",
                marker=dict(symbol="diamond", size=11, color=PALETTE[1]),
                name="softmax(logits)",
                showlegend=i == 0,
                xaxis=f"x{ax}",
                yaxis=f"y{ax}",
                hovertemplate="p(class %{x}) = %{y:.3f}<extra></extra>",
            )
        )
        layout[f"xaxis{ax}"].update(title_text="class", type="category")
    layout["yaxis"].update(range=[0, 1], title_text="probability")
    return figure(data, layout, "Expected relaxed sample vs the categorical", height, panels=True)


def samples_figure(study: TemperatureStudy, height: int = 300) -> go.Figure:
    """A few single relaxed samples per temperature as heat rows; row r uses the same noise everywhere."""
    taus, shown = study.taus, study.shown
    t, s, k = shown.shape
    ids, layout = panels(t, tau_titles(taus))
    rows = [f"draw {r + 1}" for r in range(s)]
    data = []
    for i, ax in enumerate(ids):
        values = shown[i].tolist()
        data.append(
            dict(
                type="heatmap",
                z=values,
                x=class_labels(k),
                y=rows,
                zmin=0,
                zmax=1,
                colorscale="Blues",
                showscale=i == t - 1,
                text=[[f"{v:.2f}" for v in row] for row in values],
                texttemplate="%{text}" if k <= 5 else None,
                textfont=dict(size=12),
                xaxis=f"x{ax}",
                yaxis=f"y{ax}",
                hovertemplate="%{y}, class %{x}: %{z:.3f}<extra></extra>",
            )
        )
        layout[f"xaxis{ax}"].update(title_text="class", type="category")
    layout["yaxis"].update(autorange="reversed")
    return figure(data, layout, "Single samples: same Gumbel noise, different temperature", height, panels=True)


def simplex_figure(
    taus: Sequence[float], cloud: torch.Tensor, probabilities: torch.Tensor, height: int = 380
) -> go.Figure:
    """Ternary scatter of relaxed 3-class samples per temperature; the star is softmax(logits)."""
    t = len(taus)
    _, layout = panels(t, tau_titles(taus), gap=0.05)
    p = probabilities.tolist()
    axis = dict(showticklabels=False, ticks="")
    data = []
    for i in range(t):
        name = "ternary" if i == 0 else f"ternary{i + 1}"
        points = cloud[i]
        # The corner titles hang below the domain, where no margin is kept for them: lift it off the legend.
        layout[name] = dict(
            domain=dict(x=layout["xaxis" if i == 0 else f"xaxis{i + 1}"]["domain"], y=[0.1, 0.9]),
            sum=1,
            aaxis=dict(title="0", **axis),
            baxis=dict(title="1", **axis),
            caxis=dict(title="2", **axis),
        )
        data.append(
            dict(
                type="scatterternary",
                a=points[:, 0].numpy(),
                b=points[:, 1].numpy(),
                c=points[:, 2].numpy(),
                subplot=name,
                mode="markers",
                marker=dict(size=4, opacity=0.45, color=PALETTE[0]),
                name="relaxed samples",
                showlegend=i == 0,
                hovertemplate="(%{a:.2f}, %{b:.2f}, %{c:.2f})<extra></extra>",
            )
        )
        data.append(
            dict(
                type="scatterternary",
                a=[p[0]],
                b=[p[1]],
                c=[p[2]],
                subplot=name,
                mode="markers",
                marker=dict(symbol="star", size=16, color=PALETTE[1]),
                name="softmax(logits)",
                showlegend=i == 0,
            )
        )
    for key in [k for k in layout if k.startswith(("xaxis", "yaxis"))]:
        del layout[key]
    return figure(data, layout, "Relaxed samples on the simplex (corners are one-hot)", height, panels=True)


def one_hotness_figure(
    taus: torch.Tensor, values: torch.Tensor, marked: Sequence[float], classes: int, height: int = 340
) -> go.Figure:
    """Mean largest component against temperature (log axis); 1 is one-hot, 1/K the centre."""
    near = [float(values[(taus - m).abs().argmin()]) for m in marked]
    data: list[dict[str, Any]] = [
        dict(
            type="scatter",
            x=taus.numpy(),
            y=values.numpy(),
            mode="lines",
            line=dict(width=3, color=PALETTE[0]),
            name="mean max component",
            hovertemplate="τ = %{x:.3g}: %{y:.3f}<extra></extra>",
        ),
        dict(
            type="scatter",
            x=list(marked),
            y=near,
            mode="markers",
            name="your temperatures",
            marker=dict(size=12, color=PALETTE[1]),
        ),
    ]
    guides = [(1.0, "one-hot", "bottom"), (1.0 / classes, "uniform 1/K", "top")]
    layout = dict(
        xaxis=dict(type="log", title_text="temperature τ (log scale)"),
        yaxis=dict(title_text="mean largest component", range=[0, 1.05]),
        shapes=[
            dict(type="line", xref="paper", x0=0, x1=1, y0=y, y1=y, line=dict(dash="dot", color="gray"))
            for y, _, _ in guides
        ],
        annotations=[
            dict(xref="paper", x=1, y=y, text=text, showarrow=False, xanchor="right", yanchor=side)
            for y, text, side in guides
        ],
    )
    return figure(data, layout, "How close to one-hot?", height)


def frequency_figure(check: FrequencyCheck, height: int = 340) -> go.Figure:
    """Gumbel-max sample frequencies (bars) against softmax(logits) (diamonds); the page states
    the χ² test beside it, as a title would be cut on a narrow chart."""
    frequencies, probabilities, draws = check.frequencies, check.probabilities, check.draws
    classes = class_labels(probabilities.numel())
    data: list[dict[str, Any]] = [
        dict(
            type="bar",
            x=classes,
            y=frequencies.tolist(),
            name=f"frequency ({draws:,} draws)",
            marker_color=PALETTE[2],
            hovertemplate="class %{x}: %{y:.4f}<extra></extra>",
        ),
        dict(
            type="scatter",
            x=classes,
            y=probabilities.tolist(),
            mode="markers",
            name="softmax(logits)",
            marker=dict(symbol="diamond", size=12, color=PALETTE[1]),
        ),
    ]
    layout = dict(xaxis=dict(title_text="class", type="category"), yaxis=dict(title_text="probability"))
    return figure(data, layout, "Gumbel-max vs softmax", height)
