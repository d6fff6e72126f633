"""Plotly builders for the Train page: curves, diagnostics and the per-epoch digits.

The page redraws these twice a second, so they take already smoothed and thinned curves
(`core.training.training_curves`) and send numbers as float32 arrays, which plotly
encodes compactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from core.figures.images import digits_figure
from core.figures.style import PALETTE, figure, panels, style
from core.training.curves import TrainingCurves
from core.training.live import Preview
from core.training.loop import Change, EpochMetrics

RELAXED, UNRELAXED, TEST = PALETTE[0], PALETTE[1], PALETTE[2]


def _array(values: Sequence[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def focus_range(values: Sequence[float], skip: float = 0.1, margin: float = 0.08) -> tuple[float, float] | None:
    """A y-range that leaves out the first `skip` of the points, so the steep first steps
    (about 540 nats) do not squash the late gap between the curves into a few pixels;
    the newest points always stay in view."""
    finite = _array(values[int(len(values) * skip) :])
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return None
    low, high = float(finite.min()), float(finite.max())
    pad = max((high - low) * margin, 1e-3 * max(abs(high), 1.0))
    return low - pad, high + pad


def _union(*ranges: tuple[float, float] | None) -> tuple[float, float] | None:
    found = [r for r in ranges if r is not None]
    return (min(r[0] for r in found), max(r[1] for r in found)) if found else None


def _line(x: np.ndarray, y: Sequence[float], name: str, color: str, width: float = 3, **extra) -> dict:
    return dict(type="scatter", x=x, y=_array(y), mode="lines", name=name, line=dict(color=color, width=width), **extra)


CHANGE_COLOR = "#555555"
CHANGE_NAMES = {"tau": "τ", "lr": "lr"}


def change_label(change: Change) -> str:
    return f"{CHANGE_NAMES.get(change.name, change.name)} → {change.value:g}"


def change_marks(changes: Sequence[Change], axes: Sequence[str] = ("",), label: bool = True) -> dict:
    """A dashed vertical line on each of the axes at every step where τ or the learning rate was
    changed mid-run, labelled at the top with the new value; several changes at one step share a label."""
    by_step: dict[int, list[Change]] = {}
    for change in changes:
        by_step.setdefault(change.step, []).append(change)
    shapes, notes = [], []
    for step, group in by_step.items():
        for n in axes:
            shapes.append(
                dict(
                    type="line",
                    x0=step,
                    x1=step,
                    xref=f"x{n}",
                    y0=0,
                    y1=1,
                    yref=f"y{n} domain",
                    line=dict(color=CHANGE_COLOR, width=2, dash="dash"),
                )
            )
            if label:
                notes.append(
                    dict(
                        x=step,
                        xref=f"x{n}",
                        y=1,
                        yref=f"y{n} domain",
                        text=", ".join(change_label(c) for c in group),
                        showarrow=False,
                        xanchor="left",
                        yanchor="top",
                        font=dict(size=13, color=CHANGE_COLOR),
                        bgcolor="rgba(255,255,255,0.8)",
                    )
                )
    return dict(shapes=shapes, annotations=notes)


def objectives_figure(
    curves: TrainingCurves,
    epochs: Sequence[EpochMetrics],
    total_steps: int | None = None,
    height: int = 430,
    revision: str = "training",
    changes: Sequence[Change] = (),
) -> go.Figure:
    """Relaxed and unrelaxed training objectives per step (smoothed) and the test objective
    per epoch on one step axis; the axis spans the whole run so the chart grows into it.
    Redraws with the same `revision` (say, the run's name) keep the viewer's zoom and legend clicks."""
    x = np.asarray(curves.step, dtype=np.int32)
    test = [e.test for e in epochs]
    # The exact-sample curve is wider and drawn first, so it shows beside the relaxed one where they meet.
    traces = [
        _line(x, curves.unrelaxed, "train, exact samples", UNRELAXED, width=5, legendrank=2),
        _line(x, curves.relaxed, "train, relaxed", RELAXED, width=2.5, legendrank=1),
        dict(
            type="scatter",
            x=np.asarray([e.step for e in epochs], dtype=np.int32),
            y=_array(test),
            mode="lines+markers",
            name="test, exact samples",
            line=dict(color=TEST, width=3, dash="dot"),
            marker=dict(size=10),
            legendrank=3,
        ),
    ]
    fig = go.Figure(
        traces,
        layout=dict(
            xaxis=dict(title=dict(text="training step"), range=[0, total_steps] if total_steps else None),
            yaxis=dict(
                title=dict(text="objective (nats per image)"),
                range=_union(focus_range(curves.relaxed), focus_range(curves.unrelaxed), focus_range(test, 0)),
            ),
            uirevision=revision,
            hovermode="x unified",
            **change_marks(changes),
        ),
    )
    return style(fig, "Negative ELBO: lower is better", height)


def diagnostics_figure(
    curves: TrainingCurves,
    total_steps: int | None = None,
    height: int = 300,
    revision: str = "training",
    changes: Sequence[Change] = (),
) -> go.Figure:
    """Temperature, KL to the prior and reconstruction side by side, on the same step axis.
    Each figure is built in one constructor call, the panels laid out by hand: make_subplots
    and repeated updates cost tens of milliseconds, and the page redraws twice a second."""
    # Short titles: three panels share the width of one chart, narrow on a laptop.
    series = (
        ("temperature τ", curves.tau, PALETTE[3], None),
        ("KL to prior", curves.kl, PALETTE[4], focus_range(curves.kl)),
        ("reconstruction", curves.reconstruction, PALETTE[5], focus_range(curves.reconstruction)),
    )
    x = np.asarray(curves.step, dtype=np.int32)
    ids, layout = panels(len(series), [title for title, _, _, _ in series], gap=0.08, share_y=False)
    traces = []
    for n, (title, values, color, y_range) in zip(ids, series):
        traces.append(_line(x, values, title, color, xaxis=f"x{n}", yaxis=f"y{n}", showlegend=False))
        layout[f"xaxis{n}"].update(title=dict(text="step"), range=[0, total_steps] if total_steps else None)
        layout[f"yaxis{n}"].update(range=y_range)
    marks = change_marks(changes, ids[:1])  # labelled on the temperature panel, lines on all three
    marks["shapes"] = change_marks(changes, ids, label=False)["shapes"]
    layout["shapes"] = marks["shapes"]
    layout["annotations"] = layout["annotations"] + marks["annotations"]
    return figure(traces, layout | dict(uirevision=revision, margin=dict(l=60, r=20, t=40, b=20)), None, height)


def reconstructions_figure(preview: Preview, height: int = 240) -> go.Figure:
    """The fixed test digits over their reconstructions (decoded from the mode of q)."""
    images = torch.cat([preview.originals, preview.reconstructions])
    return digits_figure(images, columns=preview.originals.shape[0], height=height, title="Reconstructions")


def prior_samples_figure(preview: Preview, height: int = 480) -> go.Figure:
    """Digits decoded from codes drawn from the uniform prior, as an 8x8 grid."""
    return digits_figure(preview.prior_samples, columns=8, height=height, title="Prior samples")


def epoch_curves_figure(curves: Mapping[str, Mapping[str, Sequence[float]]], height: int = 460) -> go.Figure:
    """Per-epoch objectives of whole runs: for each run, relaxed (solid), unrelaxed (dashed) and
    test (dotted) in one colour, so the gap between relaxed and exact samples is visible."""
    styles = (
        ("relaxed", "solid", "train, relaxed"),
        ("unrelaxed", "dash", "train, exact samples"),
        ("test", "dot", "test, exact samples"),
    )
    data = []
    for i, (label, series) in enumerate(curves.items()):
        for key, dash, what in styles:
            values = list(series[key])
            data.append(
                dict(
                    type="scatter",
                    x=list(range(1, len(values) + 1)),
                    y=values,
                    mode="lines+markers",
                    name=f"{label}: {what}",
                    line=dict(color=PALETTE[i % len(PALETTE)], dash=dash, width=3),
                    marker=dict(size=6),
                )
            )
    layout = dict(
        xaxis=dict(title_text="epoch", dtick=1 if max(len(s["test"]) for s in curves.values()) <= 15 else 5),
        yaxis=dict(title_text="objective (nats per image)"),
        legend=dict(orientation="v", x=1.02, xanchor="left", y=1, yanchor="top"),
        margin=dict(l=70, r=20, t=70, b=60),
    )
    return figure(data, layout, "Training curves: relaxed vs exact-sample objectives", height)
