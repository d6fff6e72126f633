"""Plotly figures for random graphs and spanning trees: studies in, go.Figure out.

Drawings put the nodes on a circle and draw each edge as a segment whose width and opacity
grow with its value (a hard 0/1 edge, a probability or a relaxed marginal). Edges are
grouped into a fixed number of width levels, one trace each, so a drawing has the same
traces whatever the values and stays cheap at n = 10 with several panels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch

from core.figures.style import PALETTE, figure, panels
from core.graphs.learning import TreeProgress
from core.studies.graphs import EdgeGraphStudy, TreeStudy

LEVELS = 5  # width levels of a drawing; a value v in (0, 1] is drawn at level ceil(v * LEVELS)
MIN_SHOWN = 0.02  # values below this draw no segment (they still have a hover point)
NODE_COLOUR = PALETTE[0]
EDGE_COLOUR = PALETTE[1]
FAINT = "rgba(150, 150, 150, 0.25)"
DRAW_TRACES_PER_PANEL = LEVELS + 3  # all edges (faint), the levels, hover points, nodes
EXACT_TREE_REFERENCE = "exact (enumeration)"
SAMPLED_TREE_REFERENCE = "Monte Carlo"
MAX_TREES_SHOWN = 15


def edge_label(i: int, j: int) -> str:
    """Nodes are numbered from 1 on screen."""
    return f"{i + 1}–{j + 1}"


def edge_labels(n: int) -> list[str]:
    return [edge_label(i, j) for i in range(n) for j in range(i + 1, n)]


def circle_layout(n: int) -> np.ndarray:
    """Node positions (n, 2) on the unit circle, node 1 at the top, clockwise."""
    angles = math.pi / 2 - 2 * math.pi * np.arange(n) / n
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _upper(matrix: torch.Tensor | np.ndarray) -> np.ndarray:
    """The upper-triangle values of a symmetric (n, n) matrix, row by row (`edge_index` order)."""
    values = np.asarray(matrix, dtype=float)
    return values[np.triu_indices(len(values), k=1)]


def _segments(pairs: Sequence[tuple[int, int]], xy: np.ndarray) -> tuple[list, list]:
    xs: list = []
    ys: list = []
    for i, j in pairs:
        xs += [xy[i, 0], xy[j, 0], None]
        ys += [xy[i, 1], xy[j, 1], None]
    return xs, ys


def _drawing(values: np.ndarray, xy: np.ndarray, axis: str, legend: bool) -> list[dict[str, Any]]:
    """One panel's traces: every edge faintly, the edges by width level, hover points, nodes."""
    n = len(xy)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    refs = dict(xaxis=f"x{axis}", yaxis=f"y{axis}", showlegend=False)
    xs, ys = _segments(pairs, xy)
    traces: list[dict[str, Any]] = [
        dict(type="scatter", x=xs, y=ys, mode="lines", line=dict(color=FAINT, width=1), hoverinfo="skip", **refs)
    ]
    levels = np.ceil(np.clip(values, 0, 1) * LEVELS).astype(int)
    for level in range(1, LEVELS + 1):
        chosen = [p for p, v, lv in zip(pairs, values, levels) if lv == level and v >= MIN_SHOWN]
        xs, ys = _segments(chosen, xy)
        line = dict(color=EDGE_COLOUR, width=1.5 + 7 * level / LEVELS)
        opacity = 0.25 + 0.75 * level / LEVELS
        traces.append(
            dict(type="scatter", x=xs, y=ys, mode="lines", line=line, opacity=opacity, hoverinfo="skip", **refs)
        )
    middle = np.array([(xy[i] + xy[j]) / 2 for i, j in pairs]).reshape(-1, 2)
    text = [f"edge {edge_label(i, j)}: {v:.3f}" for (i, j), v in zip(pairs, values)]
    traces.append(_points(middle, "markers", dict(size=10, opacity=0), text, hoverinfo="text", **refs))
    node = dict(size=26, color=NODE_COLOUR, line=dict(color="white", width=2))
    labels = [str(i + 1) for i in range(n)]
    traces.append(
        _points(
            xy,
            "markers+text",
            node,
            labels,
            textfont=dict(color="white"),
            hoverinfo="skip",
            name="node",
            **(refs | dict(showlegend=legend)),
        )
    )
    return traces


def _points(xy: np.ndarray, mode: str, marker: dict, text: list[str], **extra: Any) -> dict:
    """Markers at (n, 2) positions: the nodes, or the invisible hover targets at edge midpoints."""
    return dict(type="scatter", x=xy[:, 0], y=xy[:, 1], mode=mode, marker=marker, text=text, **extra)


def drawings_figure(
    matrices: Sequence[torch.Tensor | np.ndarray], titles: Sequence[str], title: str, height: int = 360
) -> go.Figure:
    """Side-by-side node-link drawings of symmetric (n, n) matrices with values in [0, 1]."""
    if not matrices or len(matrices) != len(titles):
        raise ValueError("drawings_figure needs one title per matrix, and at least one matrix.")
    xy = circle_layout(len(matrices[0]))
    ids, layout = panels(len(matrices), titles, gap=0.02, share_y=False)
    data: list[dict[str, Any]] = []
    for matrix, axis in zip(matrices, ids):
        data += _drawing(_upper(matrix), xy, axis, legend=False)
        hidden = dict(visible=False, range=[-1.3, 1.3], fixedrange=True)
        layout[f"xaxis{axis}"] |= hidden
        layout[f"yaxis{axis}"] |= hidden | dict(scaleanchor=f"x{axis}")
    return figure(data, layout | dict(showlegend=False), title, height, panels=True)


def _one_draw_figure(
    hard: torch.Tensor, hard_title: str, study: TreeStudy | EdgeGraphStudy, title: str, height: int
) -> go.Figure:
    """A hard draw, then its relaxation at every temperature of the study from the same noise."""
    titles = [hard_title] + [f"relaxed, τ = {tau:g}" for tau in study.taus]
    return drawings_figure([hard, *study.relaxed], titles, title, height)


def tree_draw_figure(study: TreeStudy, height: int = 360) -> go.Figure:
    """A TreeStudy's one Gumbel draw: the perturb-and-max tree, then its relaxation at every τ."""
    title = "One Gumbel draw: the hard tree and its matrix-tree relaxations (same noise)"
    return _one_draw_figure(study.hard_tree, "perturb-and-max tree", study, title, height)


def graph_draw_figure(study: EdgeGraphStudy, height: int = 360) -> go.Figure:
    """An EdgeGraphStudy's one logistic draw: the exact graph, then its relaxation at every τ."""
    title = "One draw: the edge-independent graph and its Gumbel-sigmoid relaxations (same noise)"
    return _one_draw_figure(study.hard_graph, "sampled graph", study, title, height)


def _bars(labels: list[str], series: Mapping[str, tuple[np.ndarray, np.ndarray | None]]) -> list[dict]:
    bars = []
    for (name, (values, errors)), colour in zip(series.items(), PALETTE):
        bar: dict[str, Any] = dict(type="bar", x=labels, y=values, name=name, marker_color=colour)
        if errors is not None:
            bar["error_y"] = dict(type="data", array=errors, visible=True, thickness=1.5)
        bars.append(bar)
    return bars


def _bar_layout(x_title: str, y_title: str) -> dict[str, Any]:
    return dict(
        barmode="group",
        xaxis=dict(title=dict(text=x_title), type="category"),
        yaxis=dict(title=dict(text=y_title), rangemode="tozero"),
    )


def tree_edge_frequency_figure(study: TreeStudy, height: int = 420) -> go.Figure:
    """Per edge: how often perturb-and-max trees use it (± 2 standard errors) against the
    Gibbs marginal P(e ∈ T) at τ = 1 (exact for any n, by the matrix-tree theorem)."""
    n = len(study.scores)
    series = {
        f"perturb-and-max frequency ({study.draws:,} draws, ±2 s.e.)": (
            _upper(study.perturb_max_frequency),
            2 * _upper(study.frequency_standard_error),
        ),
        "Gibbs marginal P(e ∈ T), exact (matrix-tree theorem)": (_upper(study.gibbs_marginals), None),
    }
    layout = _bar_layout("edge", "P(edge in the tree)")
    return figure(_bars(edge_labels(n), series), layout, "Edge frequencies: perturb-and-max against Gibbs", height)


def tree_reference_label(exact: bool) -> str:
    return EXACT_TREE_REFERENCE if exact else SAMPLED_TREE_REFERENCE


def tree_probability_figure(study: TreeStudy, height: int = 420, shown: int = MAX_TREES_SHOWN) -> go.Figure:
    """Per tree (the most likely under Gibbs first): the perturb-and-max frequency against the
    Gibbs probability P(T) ∝ ∏ w_e, exact by enumeration for small n, else Monte Carlo (Wilson)."""
    count = min(shown, len(study.trees))
    labels = [f"T{k + 1}" for k in range(count)]
    series = {
        f"perturb-and-max frequency ({study.draws:,} draws)": (
            np.asarray(study.perturb_max_tree_frequency[:count], dtype=float),
            None,
        ),
        f"Gibbs P(T), {tree_reference_label(study.exact)}": (
            np.asarray(study.gibbs_tree_probability[:count], dtype=float),
            None,
        ),
    }
    layout = _bar_layout(f"tree (the {count} most likely under Gibbs)", "probability")
    return figure(_bars(labels, series), layout, "Whole trees: perturb-and-max is not Gibbs", height)


def graph_edge_frequency_figure(study: EdgeGraphStudy, height: int = 420) -> go.Figure:
    """Per edge: the frequency in exact edge-independent samples against sigmoid(θ)."""
    n = len(study.theta)
    series = {
        f"sampled frequency ({study.draws:,} draws)": (_upper(study.frequency), None),
        "sigmoid(θ), exact": (_upper(study.probabilities), None),
    }
    layout = _bar_layout("edge", "P(edge present)")
    return figure(_bars(edge_labels(n), series), layout, "Edge frequencies against sigmoid(θ)", height)


def learning_curves_figure(
    histories: Mapping[str, Sequence[TreeProgress]],
    labels: Mapping[str, str],
    title: str,
    steps: int,
    height: int = 380,
) -> go.Figure:
    """A panel per estimator: the share of planted edges in the learned tree and in the
    sampled trees, against the step. `histories` maps estimator -> TreeProgress list."""
    if not labels:
        raise ValueError("learning_curves_figure needs at least one estimator.")
    names = list(labels)
    ids, layout = panels(len(names), [labels[name] for name in names], gap=0.04)
    data: list[dict[str, Any]] = []
    for k, (name, axis) in enumerate(zip(names, ids)):
        history = list(histories.get(name, ()))
        steps_done = [p.step for p in history]
        refs = dict(xaxis=f"x{axis}", yaxis=f"y{axis}", legendgroup=str(k), showlegend=k == 0, mode="lines")
        series = (
            ("learned tree (accuracy)", [p.accuracy for p in history], dict(color=PALETTE[0], width=3), "learned"),
            (
                "sampled trees",
                [p.sample_accuracy for p in history],
                dict(color=PALETTE[1], width=2, dash="dot"),
                "sampled",
            ),
        )
        for label, values, line, group in series:
            data.append(
                dict(type="scatter", x=steps_done, y=values, name=label, line=line, **(refs | dict(legendgroup=group)))
            )
        layout[f"xaxis{axis}"] |= dict(range=[0, steps], title=dict(text="step"))
        layout[f"yaxis{axis}"] |= dict(range=[0, 1.05])
    layout["yaxis"] |= dict(title=dict(text="share of planted edges"))
    return figure(data, layout, title, height, panels=True)
