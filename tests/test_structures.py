"""Subsets and permutations: exact samplers against enumeration, relaxations against their
limits, Sinkhorn against its definition, and the sorting task against a stated accuracy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from scipy.stats import chisquare

from core import seeds
from core.figures import structures as figures
from core.gumbel import gumbel_noise
from core.structures.permutations import (
    doubly_stochastic_error,
    gumbel_sinkhorn,
    is_permutation,
    matching,
    permutation_matrix,
    sinkhorn,
)
from core.structures.sorting import INIT_STREAM, TEST_STREAM, TRAINING_STREAM, SortingConfig, SortingTask
from core.structures.subsets import (
    MAX_EXACT_ITEMS,
    gumbel_topk,
    inclusion_probabilities,
    k_hot,
    monte_carlo_inclusion,
    relaxed_topk,
    sequence_probabilities,
    successive_softmax,
    weights_to_logits,
)
from core.studies.structures import (
    DRAW_STREAM,
    NOISE_STREAM,
    REFERENCE_SAMPLES,
    REFERENCE_STREAM,
    SCORES_STREAM,
    random_scores,
    sinkhorn_grid,
    sinkhorn_view,
    subset_summary,
)
from tests.gradients import hard_output_with_the_relaxed_gradient

WEIGHTS = [4.0, 3.0, 2.0, 1.0, 0.5, 0.0]


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- k-subsets: exact sampling -------------------------------------------------------------


def test_gumbel_topk_matches_plackett_luce_sequences():
    """Ordered draws of 3 of 6 items (one impossible) against the enumerated sequential law."""
    logits = weights_to_logits(WEIGHTS)
    sequences, probs = sequence_probabilities(logits, 3)
    possible = probs > 0
    draws = 60_000
    drawn = gumbel_topk(logits.expand(draws, -1), 3, seeded(0))
    index = {tuple(s): i for i, s in enumerate(sequences.tolist())}
    counts = np.bincount([index[tuple(s)] for s in drawn.tolist()], minlength=len(probs))
    assert counts[~possible.numpy()].sum() == 0, "an item of weight 0 was drawn"
    expected = probs[possible].numpy() * draws
    assert expected.min() >= 5
    assert chisquare(counts[possible.numpy()], expected).pvalue > 0.01


def test_gumbel_topk_differs_from_a_wrong_law():
    """The chi-square above has power: the same draws reject sampling *with* replacement."""
    logits = weights_to_logits(WEIGHTS[:5])
    sequences, probs = sequence_probabilities(logits, 2)
    with_replacement = torch.softmax(logits, 0)[sequences].prod(dim=1)
    with_replacement = with_replacement / with_replacement.sum()
    drawn = gumbel_topk(logits.expand(20_000, -1), 2, seeded(1))
    index = {tuple(s): i for i, s in enumerate(sequences.tolist())}
    counts = np.bincount([index[tuple(s)] for s in drawn.tolist()], minlength=len(probs))
    assert chisquare(counts, probs.numpy() * 20_000).pvalue > 0.01
    assert chisquare(counts, with_replacement.numpy() * 20_000).pvalue < 1e-6


def test_inclusion_probabilities_agree_with_sequence_enumeration():
    logits = torch.tensor([1.0, 0.3, -0.5, 2.0, 0.0, -math.inf, 0.7])
    for k in range(1, 7):
        sequences, probs = sequence_probabilities(logits, k)
        by_sequences = torch.zeros(len(logits), dtype=torch.float64)
        by_sequences.index_add_(0, sequences.flatten(), probs.repeat_interleave(k))
        exact = inclusion_probabilities(logits, k)
        torch.testing.assert_close(exact, by_sequences, rtol=0, atol=1e-12)
        assert exact.sum().item() == pytest.approx(k, abs=1e-12)
    torch.testing.assert_close(inclusion_probabilities(logits, 1), torch.softmax(logits.double(), 0))


def test_monte_carlo_inclusion_matches_exact():
    logits = weights_to_logits([5.0, 1.0, 1.0, 2.0, 0.2, 3.0, 0.5, 1.5])
    exact = inclusion_probabilities(logits, 4)
    draws = 40_000
    estimate = monte_carlo_inclusion(logits, 4, draws, seeded(2))
    sigma = (exact * (1 - exact) / draws).sqrt()
    assert ((estimate - exact).abs() <= 4 * sigma + 1e-12).all()


def test_exact_enumeration_refuses_large_problems():
    with pytest.raises(ValueError, match="monte_carlo_inclusion"):
        inclusion_probabilities(torch.zeros(MAX_EXACT_ITEMS + 1), 2)
    with pytest.raises(ValueError, match="ordered sequences"):
        sequence_probabilities(torch.zeros(12), 6)


def test_subset_summary_falls_back_to_monte_carlo_beyond_the_exact_limit():
    small = subset_summary(weights_to_logits([3.0, 2.0, 1.0, 1.0]), 2, 0.5, 2000, seed=3)
    assert small.reference_is_exact
    torch.testing.assert_close(small.reference, inclusion_probabilities(weights_to_logits([3.0, 2.0, 1.0, 1.0]), 2))
    big = subset_summary(torch.zeros(MAX_EXACT_ITEMS + 1), 3, 0.5, 2000, seed=3)
    assert not big.reference_is_exact
    assert big.reference.sum().item() == pytest.approx(3.0)
    assert big.reference.sub(3 / (MAX_EXACT_ITEMS + 1)).abs().max() < 0.01
    assert big.draw_sum == pytest.approx(3.0, abs=1e-5)


def test_subset_summary_draws_its_reference_and_its_samples_from_separate_streams():
    """On one generator the shown draws followed the 200,000 reference draws; now each has a
    stream of the seed, so the draws are the same whether the reference is sampled or exact."""
    logits = torch.zeros(MAX_EXACT_ITEMS + 1)
    summary = subset_summary(logits, 3, 0.5, 500, seed=3)
    reference = monte_carlo_inclusion(logits, 3, REFERENCE_SAMPLES, seeds.generator(3, REFERENCE_STREAM))
    assert torch.equal(summary.reference, reference)
    drawn = gumbel_topk(logits.expand(500, -1), 3, seeds.generator(3, DRAW_STREAM))
    assert torch.equal(summary.topk_frequency, k_hot(drawn, MAX_EXACT_ITEMS + 1).mean(dim=0))


# --- k-subsets: relaxation -----------------------------------------------------------------


@pytest.mark.parametrize("tau", [10.0, 1.0, 0.1, 1e-2, 1e-3])
def test_relaxed_khot_sums_to_k_and_stays_finite(tau):
    logits = torch.randn(200, 9, generator=seeded(4))
    logits[:, 2] = -math.inf
    khot = relaxed_topk(logits, 4, tau, generator=seeded(5))
    assert torch.isfinite(khot).all()
    assert (khot >= 0).all()
    torch.testing.assert_close(khot.sum(dim=-1), torch.full((200,), 4.0), rtol=0, atol=1e-4)
    assert (khot[:, 2] == 0).all()


def test_relaxed_khot_approaches_the_hard_topk_as_tau_goes_to_zero():
    scores = torch.tensor([[0.3, 2.0, -1.0, 1.2, 0.9, 1.6], [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    hard = k_hot(scores.topk(3, dim=-1).indices, 6)
    gaps = [(successive_softmax(scores, 3, tau) - hard).abs().max().item() for tau in (1.0, 0.3, 0.1, 0.03, 1e-3)]
    assert all(a > b for a, b in itertools.pairwise(gaps)), gaps
    assert gaps[-1] < 1e-6
    assert gaps[0] > 0.1


def test_relaxed_khot_is_right_for_huge_scores_at_small_tau():
    """A clamp of 1 - a at float32's tiny would leave the top item at 1e4 - 87 and pick it twice."""
    scores = torch.tensor([1e4, 0.0, 3.0, 2.0])
    torch.testing.assert_close(successive_softmax(scores, 2, 1e-3), torch.tensor([1.0, 0.0, 1.0, 0.0]))


def test_relaxed_khot_gradients_are_finite_at_small_tau():
    logits = torch.randn(50, 7, generator=seeded(6))
    logits[:, 0] = -math.inf
    logits.requires_grad_(True)
    weights = torch.randn(7, generator=seeded(7))
    (relaxed_topk(logits, 3, 1e-3, generator=seeded(8)) * weights).sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_straight_through_forwards_the_exact_khot_and_backwards_the_relaxed_gradient():
    logits = torch.randn(30, 6, generator=seeded(9))
    out = hard_output_with_the_relaxed_gradient(
        lambda x, hard: relaxed_topk(x, 2, 0.5, hard=hard, generator=seeded(11)),
        logits,
        torch.randn(6, generator=seeded(10)),
    )
    torch.testing.assert_close(out, k_hot(gumbel_topk(logits, 2, seeded(11)), 6))


# --- input checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: gumbel_topk(torch.zeros(4), 0), "between 1 and the number of items"),
        (lambda: gumbel_topk(torch.zeros(4), 5), "between 1 and the number of items"),
        (lambda: gumbel_topk(torch.zeros(4), 2.5), "whole number"),
        (lambda: gumbel_topk(torch.tensor([0.0, -math.inf, -math.inf]), 2), "only 1 of the 3 items"),
        (lambda: relaxed_topk(torch.zeros(4), 2, tau=0.0), "tau"),
        (lambda: relaxed_topk(torch.zeros(4), 2, tau=-1.0), "tau"),
        (lambda: weights_to_logits([1.0, -2.0]), ">= 0"),
        (lambda: weights_to_logits([0.0, 0.0]), "every weight is 0"),
        (lambda: sinkhorn(torch.zeros(3, 4)), "square"),
        (lambda: sinkhorn(torch.zeros(4)), "square"),
        (lambda: sinkhorn(torch.zeros(3, 3), tau=0.0), "tau"),
        (lambda: sinkhorn(torch.full((3, 3), math.nan)), "finite"),
        (lambda: sinkhorn(torch.zeros(3, 3), n_iters=0), "at least 1"),
        (lambda: gumbel_sinkhorn(torch.zeros(3, 3), noise_scale=-1.0), "noise_scale"),
        (lambda: matching(torch.zeros(2, 3)), "square"),
        (lambda: sinkhorn_grid(torch.zeros(3, 3), [], [5]), "at least one temperature"),
        (lambda: SortingConfig(n=1), "n must be at least 2"),
        (lambda: SortingConfig(tau=0.0), "tau"),
        (lambda: SortingConfig(seed=-1), "seed must be at least 0"),
    ],
)
def test_bad_inputs_raise_actionable_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- permutations ----------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_sinkhorn_is_doubly_stochastic(tau):
    scores = torch.randn(32, 7, 7, generator=seeded(12))
    matrix = sinkhorn(scores, tau, 100)
    assert (matrix >= 0).all()
    torch.testing.assert_close(matrix.sum(dim=-2), torch.ones(32, 7), rtol=0, atol=1e-5)
    torch.testing.assert_close(matrix.sum(dim=-1), torch.ones(32, 7), rtol=0, atol=1e-3)
    assert doubly_stochastic_error(matrix) < 1e-3


def test_sinkhorn_error_shrinks_with_iterations_and_stays_finite_at_small_tau():
    scores = torch.randn(8, 6, 6, generator=seeded(13)) * 100
    errors = [doubly_stochastic_error(sinkhorn(scores, 1e-3, n)) for n in (1, 10, 100)]
    assert all(math.isfinite(e) for e in errors)
    assert torch.isfinite(sinkhorn(scores, 1e-3, 1)).all()
    moderate = [doubly_stochastic_error(sinkhorn(scores / 100, 1.0, n)) for n in (1, 5, 20)]
    assert moderate[0] > moderate[1] > moderate[2]


def test_matching_solves_the_assignment_problem_and_is_a_permutation():
    scores = torch.randn(5, 6, 6, generator=seeded(14))
    perms = matching(scores)
    assert perms.shape == (5, 6) and is_permutation(perms)
    for matrix, perm in zip(scores, perms):
        best = max(itertools.permutations(range(6)), key=lambda p: sum(matrix[i, p[i]].item() for i in range(6)))
        assert perm.tolist() == list(best)
    assert not is_permutation(torch.tensor([0, 0, 2]))


def test_sinkhorn_tends_to_the_best_permutation_as_tau_goes_to_zero():
    target = permutation_matrix(torch.randperm(6, generator=seeded(15)))
    scores = 3 * target + 0.5 * torch.randn(6, 6, generator=seeded(16))
    assert torch.equal(permutation_matrix(matching(scores)), target)
    gaps = [(sinkhorn(scores, tau, 200) - target).abs().max().item() for tau in (1.0, 0.3, 0.1, 0.05)]
    assert all(a > b for a, b in itertools.pairwise(gaps)), gaps
    assert gaps[-1] < 1e-3


def test_gumbel_sinkhorn_hard_is_a_permutation_with_the_relaxed_gradient():
    out = hard_output_with_the_relaxed_gradient(
        lambda x, hard: gumbel_sinkhorn(x, 0.5, 30, hard=hard, generator=seeded(19)),
        torch.randn(4, 5, 5, generator=seeded(17)),
        torch.randn(5, 5, generator=seeded(18)),
    )
    assert (out.sum(dim=-1) == 1).all() and (out.sum(dim=-2) == 1).all()


def test_gumbel_sinkhorn_is_reproducible_and_noise_free_at_scale_zero():
    scores = torch.randn(5, 5, generator=seeded(20))
    first, again, other = (gumbel_sinkhorn(scores, generator=seeded(s)) for s in (1, 1, 2))
    torch.testing.assert_close(first, again)
    assert not torch.allclose(first, other)
    torch.testing.assert_close(gumbel_sinkhorn(scores, 0.7, 20, noise_scale=0.0), sinkhorn(scores, 0.7, 20))


def test_sinkhorn_grid_shares_one_noise_draw():
    scores = random_scores(5, seeded(21))
    grid = sinkhorn_grid(scores, [0.1, 1.0], [1, 20], 1.0, seeded(22))
    assert grid.matrices.shape == (2, 2, 5, 5)
    torch.testing.assert_close(grid.matrices[1, 1], sinkhorn(grid.perturbed, 1.0, 20))
    assert torch.equal(grid.permutation, matching(grid.perturbed))
    assert (grid.errors[:, 1] < grid.errors[:, 0]).all()


def test_sinkhorn_view_draws_the_scores_and_their_noise_from_separate_streams():
    grid = sinkhorn_view(4, [1.0], [20], 1.0, seed=6)
    scores = random_scores(4, seeds.generator(6, SCORES_STREAM))
    noise = gumbel_noise((4, 4), generator=seeds.generator(6, NOISE_STREAM))
    assert torch.equal(grid.perturbed, scores + noise)
    assert torch.equal(sinkhorn_view(4, [1.0], [20], 0.0, seed=6).perturbed, scores)


# --- the sorting task ----------------------------------------------------------------------


@pytest.mark.slow
def test_sorting_task_learns_to_sort_five_numbers():
    """Stated accuracy: n = 5, seed 0, 200 steps -> element accuracy >= 0.95, whole lists >= 0.9."""
    task = SortingTask(SortingConfig(n=5, steps=200, seed=0))
    history = list(task.run(report_every=20))
    assert [p.step for p in history] == list(range(0, 201, 20))
    assert history[0].element_accuracy < 0.5
    assert history[-1].element_accuracy >= 0.95
    assert history[-1].list_accuracy >= 0.9
    example = task.example()
    assert torch.equal(example.sorted_values, example.values.sort().values)


def test_sorting_draws_test_lists_weights_and_training_lists_from_separate_streams():
    """A wider network draws more initial weights; on one shared generator that shifted every
    training list drawn after them. Here width changes neither the test nor the training lists."""
    narrow, wide = (SortingTask(SortingConfig(n=4, hidden=hidden, seed=3)) for hidden in (8, 32))
    assert torch.equal(narrow.test_values, torch.rand(500, 4, generator=seeds.generator(3, TEST_STREAM)))
    assert torch.equal(narrow.test_values, wide.test_values)
    first_layer = torch.empty(8, 1).uniform_(-1.0, 1.0, generator=seeds.generator(3, INIT_STREAM))
    assert torch.equal(narrow.net[0].weight.detach(), first_layer)
    narrow.train_step()
    wide.train_step()
    lists = seeds.generator(3, TRAINING_STREAM)
    second = [torch.rand(64, 4, generator=lists) for _ in range(2)][-1]
    assert torch.equal(narrow.training_lists(), second) and torch.equal(wide.training_lists(), second)


def test_sorting_task_is_reproducible_and_its_example_is_consistent():
    runs = [list(SortingTask(SortingConfig(n=4, steps=20, seed=3)).run(report_every=10)) for _ in range(2)]
    assert [(p.step, p.element_accuracy, p.list_accuracy) for p in runs[0]] == [
        (p.step, p.element_accuracy, p.list_accuracy) for p in runs[1]
    ]
    assert math.isnan(runs[0][0].loss) and [p.loss for p in runs[0][1:]] == [p.loss for p in runs[1][1:]]
    task = SortingTask(SortingConfig(n=4, steps=20, seed=3))
    values = torch.tensor([0.9, 0.1, 0.5, 0.3])
    example = task.example(values)
    assert is_permutation(example.permutation)
    assert torch.equal(example.sorted_values.sort().values, values.sort().values)
    assert doubly_stochastic_error(example.soft_permutation) < 1e-3
    with pytest.raises(ValueError, match="4 numbers"):
        task.example(torch.zeros(3))


# --- figures ---------------------------------------------------------------------------------


def test_figures_label_their_axes_and_share_one_colour_scale():
    grid = sinkhorn_grid(random_scores(4, seeded(23)), [0.1, 1.0], [1, 5, 20], 1.0, seeded(24))
    fig = figures.permutation_grid_figure(
        grid.matrices.numpy(), ["τ = 0.1", "τ = 1"], ["L = 1", "L = 5", "L = 20"], "t"
    )
    assert isinstance(fig, go.Figure)
    heatmaps = [t for t in fig.data if isinstance(t, go.Heatmap)]
    assert len(heatmaps) == 6 and {t.coloraxis for t in heatmaps} == {"coloraxis"}
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (0.0, 1.0)
    bars = figures.inclusion_figure({"exact": [0.5, 0.5], "sampled": [0.4, 0.6]}, "t")
    assert len(bars.data) == 2 and bars.layout.xaxis.title.text == "item"
    progress = figures.sorting_progress_figure([0, 10], [0.2, 0.9], [0.0, 0.5], [math.nan, 0.1], "t")
    assert list(progress.data[2].x) == [10]
    assert progress.layout.font.size >= 16
