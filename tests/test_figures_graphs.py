"""The graph figure builders: panels, trace counts, names and the reference labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.figures import graphs as figures
from core.graphs.learning import TreeProgress
from core.studies.graphs import edge_graph_study, graph_scores, tree_study

TAUS = [0.1, 1.0]


def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture(scope="module")
def small_tree():
    return tree_study(graph_scores("planted_tree", 5, 0), TAUS, 300, generator())


@pytest.fixture(scope="module")
def large_tree():
    return tree_study(graph_scores("two_clusters", 7, 0), TAUS, 200, generator())


@pytest.fixture(scope="module")
def graph():
    return edge_graph_study(graph_scores("random", 5, 1), TAUS, 300, generator())


def panel_titles(fig) -> list[str]:
    return [note.text for note in fig.layout.annotations]


def test_tree_drawing_has_the_hard_tree_then_one_panel_per_tau(small_tree) -> None:
    fig = figures.tree_draw_figure(small_tree)
    assert panel_titles(fig) == ["perturb-and-max tree", "relaxed, τ = 0.1", "relaxed, τ = 1"]
    assert len(fig.data) == 3 * figures.DRAW_TRACES_PER_PANEL
    assert {trace.xaxis for trace in fig.data} == {"x", "x2", "x3"}
    nodes = [trace for trace in fig.data if trace.name == "node"]
    assert len(nodes) == 3 and list(nodes[0].text) == ["1", "2", "3", "4", "5"]


def test_a_hard_tree_draws_its_n_minus_1_edges_at_full_width(small_tree) -> None:
    fig = figures.tree_draw_figure(small_tree)
    first_panel = fig.data[: figures.DRAW_TRACES_PER_PANEL]
    widest = first_panel[figures.LEVELS]  # the top width level
    segments = sum(1 for x in widest.x if x is None)
    assert segments == 4
    assert all(sum(1 for x in t.x if x is None) == 0 for t in first_panel[1 : figures.LEVELS])
    hover = first_panel[figures.LEVELS + 1]
    assert len(hover.text) == 10 and hover.text[0].startswith("edge 1–2: ")


def test_relaxed_drawings_widen_edges_with_their_marginals() -> None:
    values = np.array([[0, 0.05, 0.95], [0.05, 0, 0.5], [0.95, 0.5, 0]])
    fig = figures.drawings_figure([values], ["relaxed"], "t")
    levels = fig.data[1 : figures.LEVELS + 1]
    counts = [sum(1 for x in t.x if x is None) for t in levels]
    assert counts == [1, 0, 1, 0, 1]
    assert levels[-1].line.width > levels[0].line.width and levels[-1].opacity > levels[0].opacity


def test_graph_drawing_names_its_panels(graph) -> None:
    fig = figures.graph_draw_figure(graph)
    assert panel_titles(fig) == ["sampled graph", "relaxed, τ = 0.1", "relaxed, τ = 1"]
    assert len(fig.data) == 3 * figures.DRAW_TRACES_PER_PANEL


def test_drawings_need_a_title_per_matrix() -> None:
    with pytest.raises(ValueError, match="one title per matrix"):
        figures.drawings_figure([np.zeros((3, 3))], [], "t")


def test_tree_edge_frequencies_are_grouped_bars_against_the_exact_marginals(small_tree) -> None:
    fig = figures.tree_edge_frequency_figure(small_tree)
    assert [t.type for t in fig.data] == ["bar", "bar"]
    assert fig.data[0].name == "perturb-and-max frequency (300 draws, ±2 s.e.)"
    assert fig.data[1].name == "Gibbs marginal P(e ∈ T), exact (matrix-tree theorem)"
    assert list(fig.data[0].x)[:2] == ["1–2", "1–3"] and len(fig.data[0].x) == 10
    assert np.isclose(np.sum(fig.data[1].y), 4)
    assert fig.layout.barmode == "group"


def test_tree_probabilities_say_exact_for_small_n_and_monte_carlo_above(small_tree, large_tree) -> None:
    small = figures.tree_probability_figure(small_tree)
    assert small.data[1].name == "Gibbs P(T), exact (enumeration)"
    assert len(small.data[0].x) == figures.MAX_TREES_SHOWN
    assert list(small.data[1].y) == sorted(small.data[1].y, reverse=True)
    assert figures.tree_probability_figure(large_tree).data[1].name == "Gibbs P(T), Monte Carlo"


def test_graph_edge_frequencies_are_against_sigmoid_theta(graph) -> None:
    fig = figures.graph_edge_frequency_figure(graph)
    assert [t.name for t in fig.data] == ["sampled frequency (300 draws)", "sigmoid(θ), exact"]
    assert len(fig.data[1].y) == 10


def test_learning_curves_have_a_panel_per_estimator_and_one_legend() -> None:
    history = [TreeProgress(0, float("nan"), float("nan"), 0.25), TreeProgress(10, 1.0, 0.5, 0.75)]
    labels = {"a": "A", "b": "B", "c": "C"}
    fig = figures.learning_curves_figure({"a": history, "b": history[:1]}, labels, "curves", steps=10)
    assert panel_titles(fig) == ["A", "B", "C"]
    assert len(fig.data) == 6
    assert [t.name for t in fig.data[:2]] == ["learned tree (accuracy)", "sampled trees"]
    assert [t.showlegend for t in fig.data] == [True, True, False, False, False, False]
    assert list(fig.data[0].y) == [0.25, 0.75] and len(fig.data[4].x) == 0
    with pytest.raises(ValueError):
        figures.learning_curves_figure({}, {}, "curves", steps=10)
