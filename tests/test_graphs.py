"""Random graphs and spanning trees: exact samplers against enumeration and their stated laws,
the matrix-tree relaxation against enumeration and its limit, and the planted-tree task
against a stated accuracy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.stats import chi2, chisquare

from core import seeds
from core.graphs.edges import (
    check_scores,
    edge_chi_square,
    edge_index,
    edge_matrix,
    edge_probabilities,
    edge_vector,
    relaxed_graph,
    sample_graph,
)
from core.graphs.learning import (
    ESTIMATORS,
    INIT_STREAM,
    OBSERVATION_STREAM,
    PLANTED_STREAM,
    TreeLearningConfig,
    TreeLearningTask,
)
from core.graphs.trees import (
    gibbs_frequencies,
    gibbs_tree_distribution,
    is_spanning_tree,
    log_partition,
    max_spanning_tree,
    perturb_and_max_frequencies,
    perturb_and_max_tree,
    perturb_scores,
    random_tree,
    relaxed_tree,
    sample_gibbs_trees,
    spanning_trees,
    tree_counts,
    tree_log_prob,
    tree_marginals,
    tree_score,
)
from core.gumbel import gumbel_noise
from core.studies.graphs import (
    EDGE_STREAM,
    EXACT_STUDY_NODES,
    PRESETS,
    SCORES_STREAM,
    TREE_STREAM,
    edge_graph_study,
    graph_scores,
    graphs_view,
    tree_study,
)
from tests.gradients import hard_output_with_the_relaxed_gradient

TAUS = [10.0, 3.0, 1.0, 0.3, 0.1, 0.01, 1e-3]


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def with_absent_edges(scores: torch.Tensor, edges: list[tuple[int, int]]) -> torch.Tensor:
    scores = scores.clone()
    for i, j in edges:
        scores[..., i, j] = scores[..., j, i] = -math.inf
    return scores


def pooled_chisquare_pvalue(counts: torch.Tensor, probabilities: torch.Tensor) -> float:
    """Pearson's chi-square of counts against probabilities, outcomes expected fewer than 5 times
    pooled into one bin (the chi-square approximation needs expected counts of 5 or more)."""
    expected = probabilities.double().numpy() * int(counts.sum())
    observed = counts.double().numpy()
    small = expected < 5
    expected = np.append(expected[~small], expected[small].sum())
    observed = np.append(observed[~small], observed[small].sum())
    if not small.any():
        expected, observed = expected[:-1], observed[:-1]
    return float(chisquare(observed, expected).pvalue)


# --- enumeration and the maximum spanning tree ------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7])
def test_spanning_trees_of_k_n_are_all_distinct_trees_cayley_many(n):
    trees = spanning_trees(n)
    assert trees.shape == (n ** (n - 2), n, n)
    assert is_spanning_tree(trees).all()
    assert len(torch.unique(trees, dim=0)) == len(trees)


def test_random_tree_is_uniform_over_the_16_trees_of_k4():
    trees = spanning_trees(4)
    generator = seeded(1)
    drawn = torch.stack([random_tree(4, generator) for _ in range(3200)])
    assert is_spanning_tree(drawn).all()
    assert pooled_chisquare_pvalue(tree_counts(drawn, trees), torch.full((16,), 1 / 16)) > 0.01


@pytest.mark.parametrize("n", [4, 5, 6])
def test_max_spanning_tree_is_the_best_of_all_enumerated_trees(n):
    trees = spanning_trees(n)
    scores = torch.stack([graph_scores("random", n, seed) for seed in range(20)])
    scores[:5] = with_absent_edges(scores[:5], [(0, 1), (1, 2), (0, 2)])
    best = trees[torch.stack([tree_score(trees, s) for s in scores]).argmax(dim=-1)]
    assert torch.equal(max_spanning_tree(scores), best)


def test_is_spanning_tree_rejects_what_is_not_a_tree():
    triangle_and_isolated = edge_matrix(torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 0.0]), 4)  # n - 1 edges
    path = edge_matrix(torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 1.0]), 4)
    half = path * 0.5
    one_way = path.triu()
    assert is_spanning_tree(path)
    assert not is_spanning_tree(torch.stack([triangle_and_isolated, half, one_way])).any()


# --- the matrix-tree relaxation ----------------------------------------------------------------


@pytest.mark.parametrize("n", [5, 6])
@pytest.mark.parametrize("tau", [1.0, 0.4])
def test_tree_marginals_equal_enumeration_over_all_spanning_trees(n, tau):
    for seed in range(3):
        scores = 1.5 * graph_scores("random", n, seed)
        if seed == 2:
            scores = with_absent_edges(scores, [(0, 1), (2, 3), (0, n - 1)])
        exact = gibbs_tree_distribution(scores, tau)
        torch.testing.assert_close(tree_marginals(scores, tau), exact.marginals, rtol=0, atol=1e-9)
        assert exact.probabilities.sum().item() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("tau", [1.0, 0.1, 1e-3])
def test_log_partition_equals_the_enumerated_sum_over_trees(tau):
    scores = graph_scores("random", 6, 3)
    enumerated = torch.logsumexp(tree_score(spanning_trees(6), scores) / tau, dim=0)
    assert log_partition(scores, tau).item() == pytest.approx(enumerated.item(), rel=1e-12)
    trees = spanning_trees(6)
    torch.testing.assert_close(
        tree_log_prob(trees, scores, tau).exp(), gibbs_tree_distribution(scores, tau).probabilities, rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("tau", TAUS)
def test_tree_marginals_sum_to_n_minus_1_and_stay_finite(tau):
    """Scores of a few units divided by tau = 1e-3 are log-weights in the thousands: exp()
    overflows float64 there, and shifting by the maximum underflows the Laplacian to a
    singular one. The log-space elimination must not care, and neither must its gradient."""
    scores = torch.stack([3 * graph_scores("random", 8, seed) for seed in range(4)])
    scores[1] = with_absent_edges(scores[1], [(0, 1), (2, 5), (3, 4), (6, 7)])
    scores.requires_grad_(True)
    marginals = tree_marginals(scores, tau)
    assert torch.isfinite(marginals).all()
    assert ((marginals >= 0) & (marginals <= 1 + 1e-12)).all()
    torch.testing.assert_close(edge_vector(marginals).sum(dim=-1), torch.full((4,), 7.0, dtype=torch.float64))
    assert (marginals[1, 0, 1] == 0).all()
    (marginals * torch.randn(8, 8, dtype=torch.float64, generator=seeded(1))).sum().backward()
    assert torch.isfinite(scores.grad).all()


def test_tree_marginals_tend_to_the_max_spanning_tree_as_tau_goes_to_zero():
    """With a score gap of g between the best and the second-best tree, every other tree has
    at most exp(-g / tau) of the best tree's weight."""
    scores = graph_scores("random", 6, 5)
    tree_scores = tree_score(spanning_trees(6), scores).sort(descending=True).values
    gap = (tree_scores[0] - tree_scores[1]).item()
    assert gap > 0.05  # a unique maximum, clear enough for 1296 * exp(-gap / 1e-3) to vanish
    hard = max_spanning_tree(scores)
    distances = [(tree_marginals(scores, tau) - hard).abs().max().item() for tau in TAUS]
    assert all(a > b for a, b in itertools.pairwise(distances)), distances
    assert distances[-1] < 1e-12
    assert distances[0] > 0.3


def test_tree_marginals_are_right_for_huge_scores_at_small_tau():
    scores = 1e3 * graph_scores("random", 9, 6)
    torch.testing.assert_close(tree_marginals(scores, 1e-3), max_spanning_tree(scores), rtol=0, atol=0)


def test_uniform_scores_give_every_edge_the_same_marginal():
    for n in (3, 7, 12):
        marginals = edge_vector(tree_marginals(torch.zeros(n, n), 0.01))
        torch.testing.assert_close(marginals, torch.full_like(marginals, 2 / n))


def test_tree_marginals_keep_float32_and_give_the_gradient_to_both_triangles():
    scores = graph_scores("random", 5, 7).float().requires_grad_(True)
    marginals = tree_marginals(scores, 0.5)
    assert marginals.dtype == torch.float32
    marginals[0, 1].backward()
    torch.testing.assert_close(scores.grad, scores.grad.T)


# --- Wilson's algorithm and perturb-and-maximise --------------------------------------------------


@pytest.mark.parametrize(("tau", "absent"), [(1.0, []), (0.5, [(0, 1), (2, 4)])])
def test_wilson_samples_follow_the_exact_gibbs_law(tau, absent):
    scores = with_absent_edges(graph_scores("random", 5, 8), absent)
    exact = gibbs_tree_distribution(scores, tau)
    samples = sample_gibbs_trees(scores, tau, 30_000, seeded(9))
    assert is_spanning_tree(samples).all()
    counts = tree_counts(samples, exact.trees)  # raises if a sample used an absent edge
    assert pooled_chisquare_pvalue(counts, exact.probabilities) > 0.01
    frequency, marginals = samples.mean(dim=0), exact.marginals
    sigma = (marginals * (1 - marginals) / 30_000).sqrt()
    assert ((frequency - marginals).abs() <= 4 * sigma + 1e-12).all()


def test_wilson_samples_are_reproducible():
    scores = graph_scores("two_clusters", 7, 1)
    assert torch.equal(sample_gibbs_trees(scores, 1.0, 50, seeded(3)), sample_gibbs_trees(scores, 1.0, 50, seeded(3)))


def test_perturb_and_max_is_not_a_gibbs_sample():
    """K4 with one heavy edge (score 3, the rest 0): Gibbs puts it in a tree with probability
    0.953, perturb-and-max with about 0.990 (200,000 draws). The same number of exact Wilson
    draws stays within 4 standard errors of Gibbs, so the gap is the sampler's, not noise's."""
    scores = edge_matrix(torch.tensor([3.0, 0.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64), 4)
    draws = 20_000
    gibbs = tree_marginals(scores)
    assert gibbs[0, 1].item() == pytest.approx(0.953, abs=1e-3)
    perturbed = perturb_and_max_frequencies(scores, draws, seeded(10))
    standard_error = math.sqrt(perturbed[0, 1] * (1 - perturbed[0, 1]) / draws)
    assert perturbed[0, 1] - gibbs[0, 1] > 5 * standard_error
    wilson = gibbs_frequencies(scores, 1.0, draws, seeded(11))
    assert ((wilson - gibbs).abs() <= 4 * (gibbs * (1 - gibbs) / draws).sqrt() + 1e-12).all()


def test_perturb_and_max_is_uniform_when_every_edge_scores_the_same():
    """By symmetry every tree of K4 is then equally likely, as under Gibbs: the gap above
    needs uneven scores."""
    trees = spanning_trees(4)
    drawn = perturb_and_max_tree(torch.zeros(16_000, 4, 4), seeded(12))
    assert pooled_chisquare_pvalue(tree_counts(drawn, trees), torch.full((16,), 1 / 16)) > 0.01


def hard_graph_with_the_relaxed_gradient(sample, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """`hard_output_with_the_relaxed_gradient`, and the hard output is a graph: symmetric, with a
    zero diagonal."""
    hard_out = hard_output_with_the_relaxed_gradient(sample, inputs, weights)
    assert torch.equal(hard_out, hard_out.transpose(-1, -2))
    assert (hard_out.diagonal(dim1=-2, dim2=-1) == 0).all()
    return hard_out


def test_straight_through_tree_forwards_the_perturb_and_max_tree_with_the_relaxed_gradient():
    scores = torch.stack([graph_scores("random", 6, seed) for seed in range(5)])
    out = hard_graph_with_the_relaxed_gradient(
        lambda x, hard: relaxed_tree(x, 0.5, hard=hard, generator=seeded(13)),
        scores,
        torch.randn(6, 6, dtype=torch.float64, generator=seeded(14)),
    )
    assert (edge_vector(out).sum(dim=-1) == 5).all()
    assert is_spanning_tree(out).all()  # and connected
    assert torch.equal(out, perturb_and_max_tree(scores, seeded(13)))


def test_relaxed_tree_at_small_tau_is_the_perturb_and_max_tree_of_the_same_noise():
    scores = graph_scores("planted_tree", 8, 2)
    soft = relaxed_tree(scores, 1e-3, generator=seeded(15))
    torch.testing.assert_close(soft, perturb_and_max_tree(scores, seeded(15)), rtol=0, atol=1e-9)
    perturbed = perturb_scores(scores, seeded(15))
    torch.testing.assert_close(perturbed, perturbed.T)
    assert not torch.equal(
        relaxed_tree(scores, 1.0, generator=seeded(16)), relaxed_tree(scores, 1.0, generator=seeded(17))
    )


# --- edge-independent graphs ------------------------------------------------------------------


def test_edge_independent_graphs_pass_a_chi_square_and_reject_a_wrong_rate():
    theta = with_absent_edges(1.5 * graph_scores("random", 7, 18), [(0, 1)])
    draws = 20_000
    graphs = sample_graph(theta.expand(draws, -1, -1), seeded(19))
    assert set(graphs.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(graphs, graphs.transpose(-1, -2)) and (graphs.diagonal(dim1=-2, dim2=-1) == 0).all()
    frequency = graphs.mean(dim=0)
    assert frequency[0, 1] == 0
    stat, p_value = edge_chi_square(frequency, edge_probabilities(theta), draws)
    assert p_value > 0.01
    # scipy, edge by edge on (present, absent) counts, with one degree of freedom per free edge
    counts = edge_vector(frequency * draws).round()
    p = edge_vector(edge_probabilities(theta))
    free = p > 0
    per_edge = [
        chisquare([c, draws - c], [draws * q, draws * (1 - q)]).statistic for c, q in zip(counts[free], p[free])
    ]
    assert stat == pytest.approx(sum(per_edge), rel=1e-9)
    assert p_value == pytest.approx(chi2.sf(sum(per_edge), int(free.sum())), rel=1e-6)
    assert edge_chi_square(frequency, edge_probabilities(theta + 0.3), draws)[1] < 1e-6


def test_edge_chi_square_fails_an_edge_that_should_never_appear():
    probabilities = edge_matrix(torch.tensor([0.0, 0.5, 0.5]), 3)
    frequency = edge_matrix(torch.tensor([0.01, 0.5, 0.5]), 3)
    assert edge_chi_square(frequency, probabilities, 100) == (math.inf, 0.0)


def test_gumbel_sigmoid_is_a_symmetric_relaxed_adjacency():
    theta = torch.stack([graph_scores("random", 6, seed) for seed in range(10)])
    soft = relaxed_graph(theta, 0.5, generator=seeded(20))
    assert torch.equal(soft, soft.transpose(-1, -2))
    assert (soft.diagonal(dim1=-2, dim2=-1) == 0).all()
    off_diagonal = edge_vector(soft)
    assert ((off_diagonal > 0) & (off_diagonal < 1)).all()


def test_gumbel_sigmoid_is_finite_at_small_tau_and_huge_scores():
    theta = with_absent_edges(edge_matrix(torch.tensor([1e4, -1e4, 0.5, -0.5, 3.0, -3.0]), 4), [(1, 2)])
    theta.requires_grad_(True)
    soft = relaxed_graph(theta.expand(100, -1, -1), 1e-3, generator=seeded(21))
    assert torch.isfinite(soft).all() and ((soft >= 0) & (soft <= 1)).all()
    assert (soft[:, 0, 1] == 1).all() and (soft[:, 0, 2] == 0).all() and (soft[:, 1, 2] == 0).all()
    (soft * torch.randn(4, 4, generator=seeded(22))).sum().backward()
    assert torch.isfinite(theta.grad).all()


def test_gumbel_sigmoid_straight_through_forwards_the_exact_sample_with_the_relaxed_gradient():
    theta = torch.stack([graph_scores("random", 5, seed) for seed in range(20)])
    out = hard_graph_with_the_relaxed_gradient(
        lambda x, hard: relaxed_graph(x, 0.7, hard=hard, generator=seeded(23)),
        theta,
        torch.randn(5, 5, dtype=torch.float64, generator=seeded(24)),
    )
    assert torch.equal(out, sample_graph(theta, seeded(23)))


# --- input checks ---------------------------------------------------------------------------------

DISCONNECTED = with_absent_edges(torch.zeros(4, 4), [(0, 3), (1, 3), (2, 3)])
TWO_PARTS = with_absent_edges(torch.zeros(4, 4), [(0, 2), (0, 3), (1, 2), (1, 3)])
NAN_EDGE = edge_matrix(torch.tensor([math.nan, 0.0, 0.0]), 3)
ASYMMETRIC = torch.zeros(4, 4).index_put_((torch.tensor([1]), torch.tensor([2])), torch.tensor(0.5))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: max_spanning_tree(torch.zeros(1, 1)), "between 2 and 12, got n=1"),
        (lambda: tree_marginals(torch.zeros(13, 13)), "between 2 and 12, got n=13"),
        (lambda: max_spanning_tree(torch.zeros(3, 4)), "square"),
        (lambda: max_spanning_tree(torch.zeros(4, 4, dtype=torch.long)), "floating"),
        (lambda: tree_marginals(NAN_EDGE), "NaN"),
        (lambda: sample_graph(edge_matrix(torch.tensor([math.inf, 0.0, 0.0]), 3)), r"\+inf"),
        (lambda: tree_marginals(torch.zeros(4, 4), tau=0.0), "tau"),
        (lambda: tree_marginals(torch.zeros(4, 4), tau=-1.0), "tau"),
        (lambda: tree_marginals(torch.zeros(4, 4), tau=math.nan), "tau"),
        (lambda: relaxed_graph(torch.zeros(4, 4), tau=math.inf), "tau"),
        (lambda: relaxed_tree(torch.zeros(4, 4), tau=0.0), "tau"),
        (lambda: tree_marginals(DISCONNECTED), r"no spanning tree exists: node\(s\) \[3\]"),
        (lambda: sample_gibbs_trees(TWO_PARTS), r"node\(s\) \[2, 3\] cannot be reached"),
        (lambda: perturb_and_max_tree(DISCONNECTED), "no spanning tree"),
        (lambda: max_spanning_tree(ASYMMETRIC), r"symmetric: score\[1, 2\] differs"),
        (lambda: edge_probabilities(ASYMMETRIC), "symmetric"),
        (lambda: spanning_trees(8), "enumeration stops at n=7"),
        (lambda: sample_gibbs_trees(torch.zeros(2, 4, 4)), "one n x n score matrix"),
        (lambda: sample_gibbs_trees(torch.zeros(4, 4), samples=0), "at least 1"),
        (lambda: tree_counts(spanning_trees(4)[:3], spanning_trees(4)[3:]), "not among the given trees"),
        (lambda: tree_log_prob(torch.ones(4, 4), torch.zeros(4, 4)), "spanning tree"),
        (lambda: graph_scores("star", 5), "unknown preset 'star'"),
        (lambda: graph_scores("random", 2.5), "whole number"),
        (lambda: tree_study(torch.zeros(4, 4), [], 10), "at least one temperature"),
        (lambda: tree_study(torch.zeros(4, 4), [1.0], 0), "at least 1"),
        (lambda: TreeLearningConfig(estimator="gumbel_rao"), "unknown estimator"),
        (lambda: TreeLearningConfig(samples=1), "at least 2"),
        (lambda: TreeLearningConfig(n=13), "between 2 and 12"),
        (lambda: TreeLearningConfig(tau=0.0), "tau"),
        (lambda: TreeLearningConfig(lr=0.0), "learning rate"),
        (lambda: TreeLearningConfig(observation_noise=-1.0), "observation_noise"),
        (lambda: TreeLearningConfig(seed=-1), "seed must be at least 0"),
    ],
)
def test_bad_inputs_raise_actionable_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_diagonal_is_ignored_and_graphs_need_no_connected_support():
    scores = graph_scores("random", 5, 25)
    noisy_diagonal = scores.clone().fill_diagonal_(math.nan)
    assert torch.equal(tree_marginals(noisy_diagonal), tree_marginals(scores))
    nothing = torch.full((5, 5), -math.inf)
    assert check_scores(nothing) == 5
    assert (sample_graph(nothing, seeded(26)) == 0).all()


# --- presets and the page's studies ----------------------------------------------------------------


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("n", [3, 6, 10])
def test_graph_scores_presets_are_symmetric_and_seeded(preset, n):
    scores = graph_scores(preset, n, seed=4)
    assert scores.dtype == torch.float64 and scores.shape == (n, n)
    assert torch.equal(scores, scores.T) and (scores.diagonal() == 0).all() and torch.isfinite(scores).all()
    assert torch.equal(scores, graph_scores(preset, n, seed=4))
    tree = max_spanning_tree(scores)
    in_tree = edge_vector(scores)[edge_vector(tree) > 0]
    if preset == "uniform":
        assert (scores == 0).all()
    if preset == "planted_tree":
        assert (in_tree > 0.5).all()  # the maximum tree is the planted one
    if preset == "two_clusters":
        rows, cols = edge_index(n)
        between = ((rows < n // 2) != (cols < n // 2))[edge_vector(tree) > 0]
        assert int(between.sum()) == 1


def test_tree_study_compares_perturb_and_max_with_the_exact_gibbs_law():
    scores = graph_scores("random", 5, 27)
    study = tree_study(scores, [1.0, 0.1, 1e-3], 4000, seeded(28))
    assert study.exact and study.trees.shape == (125, 5, 5)
    assert (study.gibbs_tree_probability.diff() <= 0).all()
    assert study.gibbs_tree_probability.sum().item() == pytest.approx(1.0)
    assert study.perturb_max_tree_frequency.sum().item() == pytest.approx(1.0)
    by_tree = torch.einsum("t,tij->ij", study.gibbs_tree_probability, study.trees)
    torch.testing.assert_close(by_tree, study.gibbs_marginals, rtol=0, atol=1e-12)
    by_tree = torch.einsum("t,tij->ij", study.perturb_max_tree_frequency, study.trees)
    torch.testing.assert_close(by_tree, study.perturb_max_frequency, rtol=0, atol=1e-12)
    assert torch.equal(study.noise, study.noise.T) and (study.noise.diagonal() == 0).all()
    assert torch.equal(study.hard_tree, max_spanning_tree(scores + study.noise))
    torch.testing.assert_close(study.relaxed[1], tree_marginals(scores + study.noise, 0.1))
    assert study.relaxed_gaps[-1] < 1e-9 < study.relaxed_gaps[0]
    torch.testing.assert_close(edge_vector(study.relaxed).sum(dim=-1), torch.full((3,), 4.0, dtype=torch.float64))
    assert (study.frequency_standard_error > 0).any()


def test_tree_study_falls_back_to_wilson_frequencies_beyond_the_exact_limit():
    n = EXACT_STUDY_NODES + 1
    study = tree_study(graph_scores("planted_tree", n, 29), [1.0], 2000, seeded(30))
    assert not study.exact
    assert len(study.trees) == len(study.gibbs_tree_probability) == len(study.perturb_max_tree_frequency)
    assert is_spanning_tree(study.trees).all()
    assert study.gibbs_tree_probability.sum().item() == pytest.approx(1.0)
    assert study.perturb_max_tree_frequency.sum().item() == pytest.approx(1.0)
    assert (study.gibbs_tree_probability.diff() <= 0).all()


def test_edge_graph_study_shares_one_noise_draw_and_passes_its_chi_square():
    theta = graph_scores("two_clusters", 6, 31)
    study = edge_graph_study(theta, [1.0, 1e-3], 5000, seeded(32))
    torch.testing.assert_close(study.relaxed[0], torch.sigmoid(theta + study.noise).fill_diagonal_(0))
    torch.testing.assert_close(study.relaxed[1], study.hard_graph, rtol=0, atol=1e-9)
    torch.testing.assert_close(study.probabilities, edge_probabilities(theta))
    assert study.p_value > 0.01 and study.chi2 >= 0


def edge_gumbels(m: int, stream: torch.Generator, count: int = 1) -> list[torch.Tensor]:
    return [gumbel_noise((m,), dtype=torch.float64, generator=stream) for _ in range(count)]


def test_graphs_view_draws_the_scores_and_each_study_from_its_own_stream():
    """One seed, three streams. With one generator seeded twice (as before), the tree study's
    shown draw came from the very uniforms the scores were built from."""
    seed, n, m = 5, 5, 10
    view = graphs_view("random", n, seed, [1.0], 200)
    scores = torch.randn(m, dtype=torch.float64, generator=seeds.generator(seed, SCORES_STREAM))
    assert torch.equal(edge_vector(view.scores), scores)
    tree_noise = edge_vector(view.trees.noise)
    assert torch.equal(tree_noise, edge_gumbels(m, seeds.generator(seed, TREE_STREAM))[0])
    for other in (SCORES_STREAM, EDGE_STREAM):
        assert not torch.equal(tree_noise, edge_gumbels(m, seeds.generator(seed, other))[0])
    first, second = edge_gumbels(m, seeds.generator(seed, EDGE_STREAM), count=2)
    assert torch.equal(edge_vector(view.graphs.noise), first - second)


def test_each_graph_study_keeps_its_draws_when_the_other_draws_more():
    """On one shared generator the graph study's draw followed the tree study's 100 or 400
    sampled trees, so the number of draws moved the picture of a different study."""
    few, many = (graphs_view("planted_tree", 5, 2, [0.5], draws) for draws in (100, 400))
    assert torch.equal(few.scores, many.scores)
    assert torch.equal(few.trees.noise, many.trees.noise)
    assert torch.equal(few.graphs.noise, many.graphs.noise)
    assert torch.equal(few.graphs.hard_graph, many.graphs.hard_graph)


# --- learning a planted tree --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("estimator", ["gumbel_softmax", "straight_through", "score_function"])
def test_planted_tree_task_recovers_the_tree(estimator):
    """Stated accuracy: n = 8, observation noise 2, seed 0, 200 steps -> the learned maximum
    tree is the planted one (accuracy 1.0) for all three estimators, and at least 3/4 of the
    edges of the trees sampled in the last 25 steps are planted ones."""
    task = TreeLearningTask(TreeLearningConfig(estimator=estimator, seed=0))
    history = list(task.run(report_every=25))
    assert [p.step for p in history] == list(range(0, 201, 25))
    assert history[0].accuracy < 0.5
    assert history[-1].accuracy == 1.0
    assert history[-1].sample_accuracy >= 0.75
    assert torch.equal(task.learned_tree(), task.planted)


def test_tree_learning_draws_the_planted_tree_and_the_initial_scores_from_their_own_streams():
    task = TreeLearningTask(TreeLearningConfig(n=5, seed=4))
    assert torch.equal(task.planted, random_tree(5, seeds.generator(4, PLANTED_STREAM)))
    initial = torch.randn(10, dtype=torch.float64, generator=seeds.generator(4, INIT_STREAM))
    assert torch.equal(task.edge_scores.detach(), 0.01 * initial)


def test_every_estimator_sees_the_same_observations_step_for_step():
    """The observations have their own stream, so the sampled trees (one Gumbel per edge, or
    Wilson's walks with a random number of uniforms) never shift them: after three steps,
    every estimator's next observation is the stream's fourth draw."""
    observed = []
    for estimator in ESTIMATORS:
        task = TreeLearningTask(TreeLearningConfig(n=5, estimator=estimator, steps=3, seed=4))
        for _ in range(3):
            task.train_step()
        observed.append(task.observe())
    noise = seeds.generator(4, OBSERVATION_STREAM)
    fourth = [torch.randn(10, dtype=torch.float64, generator=noise) for _ in range(4)][-1]
    expected = edge_vector(task.planted) + 2.0 * fourth
    assert all(torch.equal(o, expected) for o in observed)


def test_planted_tree_task_is_reproducible():
    config = TreeLearningConfig(n=5, estimator="score_function", steps=10, seed=3)
    runs = [list(TreeLearningTask(config).run(report_every=5)) for _ in range(2)]
    assert [(p.step, p.sample_accuracy, p.accuracy) for p in runs[0][1:]] == [
        (p.step, p.sample_accuracy, p.accuracy) for p in runs[1][1:]
    ]
    assert math.isnan(runs[0][0].loss) and [p.loss for p in runs[0][1:]] == [p.loss for p in runs[1][1:]]
