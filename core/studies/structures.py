"""What the Subsets & permutations page shows for one setting: a subset summary (references,
estimates and one draw) and a Gumbel-Sinkhorn grid.

Where one seed feeds several purposes, each has its own stream (`core.seeds`): the Monte
Carlo reference and the shown draws; the random score matrix and its Gumbel noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core import seeds
from core.guards import whole_number
from core.gumbel import check_tau, perturbed_logits
from core.structures.permutations import (
    check_iterations,
    check_score_matrix,
    doubly_stochastic_error,
    matching,
    perturbed_scores,
    sinkhorn,
)
from core.structures.subsets import (
    MAX_EXACT_ITEMS,
    check_subset,
    inclusion_probabilities,
    k_hot,
    monte_carlo_inclusion,
    successive_softmax,
)

REFERENCE_SAMPLES = 200_000
REFERENCE_STREAM = "subsets: reference"
DRAW_STREAM = "subsets: draws"
SCORES_STREAM = "permutations: scores"
NOISE_STREAM = "permutations: noise"


@dataclass(frozen=True)
class SubsetSummary:
    """What the subsets page shows for one setting: references, estimates and one draw."""

    reference: torch.Tensor
    reference_is_exact: bool
    topk_frequency: torch.Tensor
    relaxed_mean: torch.Tensor
    draw_relaxed: torch.Tensor
    draw_hard: torch.Tensor

    @property
    def draw_sum(self) -> float:
        """The relaxed draw's total: k at every temperature."""
        return float(self.draw_relaxed.sum())

    @property
    def draw_gap(self) -> float:
        """Largest |relaxed - hard| in the shown draw: how far the relaxation is from exact."""
        return float((self.draw_relaxed - self.draw_hard).abs().max())


def subset_summary(logits: torch.Tensor, k: int, tau: float, samples: int, seed: int = 0) -> SubsetSummary:
    """Inclusion probabilities (exact up to MAX_EXACT_ITEMS items, else a Monte Carlo estimate
    from REFERENCE_SAMPLES exact draws), the Gumbel top-k frequencies and the mean relaxed
    k-hot over `samples` draws, and one relaxed draw next to its hard top-k. The reference and
    the draws come from separate streams of `seed`."""
    if logits.dim() != 1:
        raise ValueError(f"subset_summary takes one vector of logits, got shape {tuple(logits.shape)}.")
    k = check_subset(logits, k)
    tau = check_tau(tau)
    samples = whole_number(samples, "the number of samples", minimum=1)
    draws = seeds.generator(seed, DRAW_STREAM)
    exact = logits.shape[-1] <= MAX_EXACT_ITEMS
    if exact:
        reference = inclusion_probabilities(logits, k)
    else:
        reference = monte_carlo_inclusion(logits, k, REFERENCE_SAMPLES, seeds.generator(seed, REFERENCE_STREAM))
    scores = perturbed_logits(logits.expand(samples, -1), draws)
    hard = k_hot(scores.topk(k, dim=-1).indices, scores.shape[-1], scores.dtype)
    relaxed = successive_softmax(scores, k, tau)
    return SubsetSummary(
        reference=reference,
        reference_is_exact=exact,
        topk_frequency=hard.mean(dim=0),
        relaxed_mean=relaxed.mean(dim=0),
        draw_relaxed=relaxed[0],
        draw_hard=hard[0],
    )


def random_scores(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """An n x n matrix of standard normal scores: a generic assignment problem to look at."""
    n = whole_number(n, "the matrix size n", minimum=1)
    return torch.randn(n, n, generator=generator)


@dataclass(frozen=True)
class SinkhornGrid:
    """Gumbel-Sinkhorn of one perturbed score matrix at every (tau, iterations) pair."""

    perturbed: torch.Tensor
    taus: tuple[float, ...]
    iterations: tuple[int, ...]
    matrices: torch.Tensor
    errors: torch.Tensor
    permutation: torch.Tensor


def sinkhorn_grid(
    scores: torch.Tensor,
    taus: list[float],
    iterations: list[int],
    noise_scale: float = 1.0,
    generator: torch.Generator | None = None,
) -> SinkhornGrid:
    """One Gumbel draw shared by every cell, so the cells differ only in tau and iterations;
    `matrices[a, b]` is the result at taus[a] and iterations[b], `permutation` the limit."""
    check_score_matrix(scores)
    if scores.dim() != 2:
        raise ValueError(f"sinkhorn_grid takes one n x n matrix, got shape {tuple(scores.shape)}.")
    if not taus or not iterations:
        raise ValueError("choose at least one temperature and one iteration count.")
    checked_taus = tuple(check_tau(t) for t in taus)
    checked_iterations = tuple(check_iterations(i) for i in iterations)
    perturbed = perturbed_scores(scores, noise_scale, generator)
    matrices = torch.stack([torch.stack([sinkhorn(perturbed, t, i) for i in checked_iterations]) for t in checked_taus])
    errors = torch.tensor([[doubly_stochastic_error(m) for m in row] for row in matrices])
    return SinkhornGrid(perturbed, checked_taus, checked_iterations, matrices, errors, matching(perturbed))


def sinkhorn_view(
    n: int, taus: list[float], iterations: list[int], noise_scale: float = 1.0, seed: int = 0
) -> SinkhornGrid:
    """One seeded call for the page: a random n x n score matrix and its `sinkhorn_grid`, the
    scores and their Gumbel noise each from its own stream of `seed`."""
    scores = random_scores(n, seeds.generator(seed, SCORES_STREAM))
    return sinkhorn_grid(scores, taus, iterations, noise_scale, seeds.generator(seed, NOISE_STREAM))
