"""Plotly figures for subsets and permutations: data in, go.Figure out.

In the house style, with one colour scale shared by every heatmap on a figure (0 to 1, the
range of a doubly-stochastic matrix).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from core.figures.style import FONT_SIZE, HEATMAP_SCALE, PALETTE, style

SERIES_COLOURS = PALETTE
Values = Sequence[float] | np.ndarray | torch.Tensor
MARGIN = dict(l=70, r=30, t=90, b=20)


def item_labels(n: int) -> list[str]:
    """Items are numbered from 1 on screen."""
    return [str(i + 1) for i in range(n)]


def inclusion_figure(series: Mapping[str, Values], title: str) -> go.Figure:
    """Grouped bars, one group per item: e.g. exact inclusion probability, sampled
    frequency and mean relaxed k-hot side by side."""
    if not series:
        raise ValueError("inclusion_figure needs at least one series.")
    n = len(next(iter(series.values())))
    fig = go.Figure()
    for (name, values), colour in zip(series.items(), SERIES_COLOURS):
        fig.add_bar(x=item_labels(n), y=list(np.asarray(values, dtype=float)), name=name, marker_color=colour)
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text="item", type="category")
    fig.update_yaxes(title_text="inclusion probability / mean value", rangemode="tozero")
    return style(fig, title, 440, margin=MARGIN)


def khot_draw_figure(relaxed: Values, hard: Values, title: str) -> go.Figure:
    """One draw: the relaxed k-hot as bars, the exact k-hot of the same noise as markers."""
    relaxed = np.asarray(relaxed, dtype=float)
    labels = item_labels(len(relaxed))
    fig = go.Figure()
    fig.add_bar(x=labels, y=list(relaxed), name="relaxed k-hot", marker_color=SERIES_COLOURS[1])
    fig.add_scatter(
        x=labels,
        y=list(np.asarray(hard, dtype=float)),
        name="hard top-k (same noise)",
        mode="markers",
        marker=dict(symbol="diamond", size=16, color=SERIES_COLOURS[0]),
    )
    fig.update_xaxes(title_text="item", type="category")
    fig.update_yaxes(title_text="value", rangemode="tozero")
    return style(fig, title, 380, margin=MARGIN)


def _heatmap(matrix: np.ndarray, row_labels: list[str], col_labels: list[str]) -> go.Heatmap:
    return go.Heatmap(
        z=matrix,
        x=col_labels,
        y=row_labels,
        coloraxis="coloraxis",
        hovertemplate="row %{y}, column %{x}: %{z:.3f}<extra></extra>",
    )


def _shared_scale(fig: go.Figure) -> None:
    fig.update_layout(
        coloraxis=dict(
            colorscale=HEATMAP_SCALE,
            cmin=0.0,
            cmax=1.0,
            colorbar=dict(title=dict(text="P[i, j]", font=dict(size=FONT_SIZE)), tickfont=dict(size=FONT_SIZE - 2)),
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")


def permutation_grid_figure(
    matrices: np.ndarray, row_titles: Sequence[str], col_titles: Sequence[str], title: str
) -> go.Figure:
    """A grid of n x n heatmaps (matrices of shape (rows, cols, n, n)) on one colour scale."""
    matrices = np.asarray(matrices, dtype=float)
    rows, cols, n = matrices.shape[0], matrices.shape[1], matrices.shape[-1]
    fig = make_subplots(
        rows=rows,
        cols=cols,
        column_titles=list(col_titles),
        row_titles=list(row_titles),
        horizontal_spacing=0.03,
        vertical_spacing=0.05,
    )
    labels = item_labels(n)
    for r in range(rows):
        for c in range(cols):
            fig.add_trace(_heatmap(matrices[r, c], labels, labels), row=r + 1, col=c + 1)
    _shared_scale(fig)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_xaxes(showticklabels=True, row=rows)
    fig.update_yaxes(showticklabels=True, col=1)
    return style(fig, title, 140 + 230 * rows, margin=MARGIN)


def matrix_figure(
    matrix: np.ndarray,
    title: str,
    x_title: str,
    y_title: str,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
) -> go.Figure:
    """One matrix with values in [0, 1] (a soft or hard permutation) as a labelled heatmap."""
    matrix = np.asarray(matrix, dtype=float)
    rows = list(row_labels) if row_labels is not None else item_labels(matrix.shape[0])
    cols = list(col_labels) if col_labels is not None else item_labels(matrix.shape[1])
    fig = go.Figure(_heatmap(matrix, rows, cols))
    _shared_scale(fig)
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return style(fig, title, 460, margin=MARGIN)


def sorting_progress_figure(
    steps: Sequence[int],
    element_accuracy: Sequence[float],
    list_accuracy: Sequence[float],
    loss: Sequence[float],
    title: str,
) -> go.Figure:
    """Test accuracy (left axis, 0 to 1) and training loss (right axis) against step."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    steps = list(steps)
    for name, values, colour in (
        ("element accuracy", element_accuracy, SERIES_COLOURS[0]),
        ("whole-list accuracy", list_accuracy, SERIES_COLOURS[2]),
    ):
        fig.add_scatter(
            x=steps,
            y=list(values),
            name=name,
            mode="lines+markers",
            line=dict(width=4, color=colour),
            secondary_y=False,
        )
    shown = [(s, v) for s, v in zip(steps, loss) if math.isfinite(v)]
    fig.add_scatter(
        x=[s for s, _ in shown],
        y=[v for _, v in shown],
        name="training loss",
        mode="lines",
        line=dict(width=2, dash="dot", color=SERIES_COLOURS[1]),
        secondary_y=True,
    )
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text="test accuracy", range=[0, 1.05], secondary_y=False)
    fig.update_yaxes(title_text="loss", rangemode="tozero", tickformat=".2f", secondary_y=True, showgrid=False)
    return style(fig, title, 440, margin=MARGIN)
