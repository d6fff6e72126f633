"""Figures of the Compare page: chosen runs' per-epoch curves on shared axes, and its table's
settings written by their kind."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from core.figures.style import PALETTE, PALETTE_WIDE, figure, panels

PANELS: tuple[tuple[str, str], ...] = (
    ("relaxed", "Relaxed (train)"),
    ("unrelaxed", "Exact samples (train)"),
    ("test", "Test, exact samples"),
    ("tau", "Temperature τ"),
)
DASHES = ("solid", "dash", "dot", "dashdot")


def setting_text(value: Any) -> str:
    """A setting as its kind reads: a whole number as one (a seed, a batch, τ = 1), any other
    number to 3 significant figures (an annealing rate of 3e-5 stays 3e-05, not 0.0000), text
    as it is, a missing value as a dash."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return "—" if value is None else str(value)
    number = float(value)
    if math.isnan(number):
        return "—"
    return str(int(number)) if number.is_integer() else f"{number:.3g}"


def comparison_figure(labels: Sequence[str], histories: Sequence[Sequence[dict]], height: int = 460) -> go.Figure:
    """One panel per quantity (the three objectives share their y axis; τ has its own), one
    line per run in the same colour across panels; the legend names each run once."""
    ids, layout = panels(len(PANELS), [title for _, title in PANELS], gap=0.05, share_y=False)
    for suffix in ids[1:3]:
        layout[f"yaxis{suffix}"] |= {"matches": "y"}
    layout["yaxis"] |= {"title": dict(text="nats per image")}
    for suffix in ids:
        layout[f"xaxis{suffix}"] |= {"title": dict(text="epoch")}
    traces = []
    for i, (label, history) in enumerate(zip(labels, histories)):
        colour = PALETTE[i % len(PALETTE)]
        dash = DASHES[(i // len(PALETTE)) % len(DASHES)]
        epochs = [h.get("epoch") for h in history]
        for j, ((key, _), suffix) in enumerate(zip(PANELS, ids)):
            traces.append(
                dict(
                    type="scatter",
                    mode="lines+markers",
                    x=epochs,
                    y=[h.get(key) for h in history],
                    name=label,
                    legendgroup=label,
                    showlegend=j == 0,
                    line=dict(color=colour, dash=dash),
                    marker=dict(size=5),
                    xaxis=f"x{suffix}",
                    yaxis=f"y{suffix}",
                    hovertemplate=f"{label}<br>epoch %{{x}}: %{{y:.3f}}<extra></extra>",
                )
            )
    return figure(traces, layout, title="Per-epoch objectives and temperature", height=height)


def sweep_figure(labels: Sequence[str], curves: Sequence[Sequence[tuple[int, float]]], height: int = 420) -> go.Figure:
    """Every trial's smoothed relaxed objective against its step, one line per trial, as they grow."""
    traces = []
    for i, (label, points) in enumerate(zip(labels, curves)):
        traces.append(
            dict(
                type="scatter",
                mode="lines",
                x=[p[0] for p in points],
                y=[p[1] for p in points],
                name=label,
                line=dict(color=PALETTE[i % len(PALETTE)], dash=DASHES[(i // len(PALETTE)) % len(DASHES)]),
                hovertemplate=f"{label}<br>step %{{x}}: %{{y:.2f}}<extra></extra>",
            )
        )
    layout = dict(
        xaxis=dict(title=dict(text="step"), rangemode="tozero"),
        yaxis=dict(title=dict(text="relaxed objective (smoothed), nats")),
        uirevision="sweep",
    )
    return figure(traces, layout, title="All trials, live", height=height)


def tau_study_figure(points: Sequence[tuple[str, float, float]], title: str, height: int = 480) -> go.Figure:
    """The test objective against τ (log axis) per estimator: each seed a dot, their mean a line.
    `points` are (estimator label, τ, test objective)."""
    by_estimator: dict[str, dict[float, list[float]]] = {}
    for label, tau, value in points:
        by_estimator.setdefault(label, {}).setdefault(tau, []).append(value)
    traces: list[dict[str, Any]] = []
    taus_all = sorted({p[1] for p in points})
    for i, (label, values) in enumerate(by_estimator.items()):
        colour = PALETTE[i % len(PALETTE)]
        taus = sorted(values)
        traces.append(
            dict(
                type="scatter",
                mode="lines+markers",
                x=taus,
                y=[sum(values[t]) / len(values[t]) for t in taus],
                name=f"{label} (mean)",
                legendgroup=label,
                line=dict(color=colour, width=3),
                marker=dict(size=9),
            )
        )
        seeds = [(t, v) for t in taus for v in values[t]]
        traces.append(
            dict(
                type="scatter",
                mode="markers",
                x=[t for t, _ in seeds],
                y=[v for _, v in seeds],
                name=f"{label} (each seed)",
                legendgroup=label,
                showlegend=False,
                marker=dict(color=colour, size=6, symbol="circle-open"),
            )
        )
    layout = dict(
        xaxis=dict(
            title=dict(text="temperature τ"), type="log", tickvals=taus_all, ticktext=[f"{t:g}" for t in taus_all]
        ),
        yaxis=dict(title=dict(text="test objective, exact samples (nats, lower is better)")),
    )
    return figure(traces, layout, title=title, height=height)


def bound_curves_figure(
    curves: Mapping[str, Sequence[Sequence[tuple[int, float]]]],
    references: Mapping[str, float | None],
    title: str,
    height: int = 560,
) -> go.Figure:
    """A held-out bound against updates: one colour per estimator (`curves` maps its label to one
    list of (updates, bound) per seed), and its published figure (`references`, same labels) as a
    dashed horizontal line of that colour."""
    traces: list[dict[str, Any]] = []
    for i, (label, seeds) in enumerate(curves.items()):
        colour = PALETTE_WIDE[i % len(PALETTE_WIDE)]
        for j, points in enumerate(seeds):
            traces.append(
                dict(
                    type="scatter",
                    mode="lines+markers",
                    x=[p[0] for p in points],
                    y=[p[1] for p in points],
                    name=label,
                    legendgroup=label,
                    showlegend=j == 0,
                    line=dict(color=colour, width=2),
                    marker=dict(size=6),
                    hovertemplate=f"{label}<br>%{{x:,}} updates: %{{y:.2f}}<extra></extra>",
                )
            )
    shapes, notes = [], []
    heights = [p[1] for seeds in curves.values() for points in seeds for p in points]
    heights += [v for v in references.values() if v is not None]
    near = 0.03 * (max(heights) - min(heights)) if heights else 0.0  # a label's height, roughly
    placed: list[tuple[float, int]] = []
    for i, label in enumerate(curves):
        value = references.get(label)
        if value is None:
            continue
        colour = PALETTE_WIDE[i % len(PALETTE_WIDE)]
        dashed = dict(color=colour, width=2, dash="dash")
        shapes.append(dict(type="line", xref="paper", x0=0, x1=1, y0=value, y1=value, line=dashed))
        # Figures a label's height apart (110.6 and 110.9) are written side by side, not over each other.
        slot = 0
        while any(abs(value - y) < near and s == slot for y, s in placed):
            slot += 1
        placed.append((value, slot))
        note = dict(xref="paper", x=1 - 0.05 * slot, y=value, text=f"{value:g}", font=dict(color=colour))
        notes.append(note | dict(showarrow=False, xanchor="right", yanchor="bottom"))
    layout = dict(
        xaxis=dict(title=dict(text="updates"), rangemode="tozero"),
        yaxis=dict(title=dict(text="nats per image (lower is better)")),
        shapes=shapes,
        annotations=notes,
    )
    return figure(traces, layout, title=title, height=height)
