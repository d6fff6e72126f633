"""Random permutations through the Gumbel trick: Gumbel-Sinkhorn (Mena et al. 2018)
normalises perturbed scores in log space into a doubly-stochastic matrix; the assignment
problem gives the hard permutation.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from core.guards import whole_number
from core.gumbel import check_tau, gumbel_noise, straight_through
from core.structures.subsets import k_hot


def check_score_matrix(scores: torch.Tensor) -> None:
    """Refuse anything but finite, non-empty, square (..., n, n) floating scores."""
    if not isinstance(scores, torch.Tensor) or not scores.is_floating_point():
        raise ValueError("scores must be a floating torch.Tensor of shape (..., n, n).")
    if scores.dim() < 2 or scores.shape[-1] != scores.shape[-2]:
        raise ValueError(f"scores must be square in their last two dims (n x n), got shape {tuple(scores.shape)}.")
    if scores.shape[-1] == 0:
        raise ValueError("scores are empty; give at least a 1 x 1 matrix.")
    if not torch.isfinite(scores).all():
        raise ValueError("scores must be finite (no NaN or inf).")


def check_iterations(n_iters: int) -> int:
    """A Sinkhorn iteration count: a whole number >= 1."""
    return whole_number(n_iters, "the number of Sinkhorn iterations", minimum=1)


def perturbed_scores(scores: torch.Tensor, noise_scale: float, generator: torch.Generator | None) -> torch.Tensor:
    """scores + noise_scale * Gumbel noise, one draw per entry."""
    if not math.isfinite(noise_scale) or noise_scale < 0:
        raise ValueError(f"noise_scale must be a finite number >= 0, got {noise_scale}.")
    noise = gumbel_noise(scores.shape, dtype=scores.dtype, device=scores.device, generator=generator)
    return scores + noise_scale * noise


def log_sinkhorn(log_alpha: torch.Tensor, n_iters: int) -> torch.Tensor:
    """Alternately normalise rows and columns of exp(log_alpha) n_iters times, in log space.

    The log of a matrix whose columns sum to 1 exactly and rows approximately (the
    error shrinks with n_iters); a logsumexp per step, so nothing overflows at small tau.
    """
    for _ in range(n_iters):
        log_alpha = log_alpha - log_alpha.logsumexp(dim=-1, keepdim=True)
        log_alpha = log_alpha - log_alpha.logsumexp(dim=-2, keepdim=True)
    return log_alpha


def sinkhorn(scores: torch.Tensor, tau: float = 1.0, n_iters: int = 20) -> torch.Tensor:
    """The doubly-stochastic matrix Sinkhorn(scores / tau) after n_iters iterations.

    As tau -> 0 (and n_iters -> inf) it tends to the permutation matrix that maximises
    the total score (Mena et al. 2018, Theorem 1).
    """
    check_score_matrix(scores)
    tau = check_tau(tau)
    return log_sinkhorn(scores / tau, check_iterations(n_iters)).exp()


def gumbel_sinkhorn(
    scores: torch.Tensor,
    tau: float = 1.0,
    n_iters: int = 20,
    noise_scale: float = 1.0,
    hard: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A relaxed random permutation matrix: Sinkhorn((scores + noise_scale * Gumbel) / tau).

    With `hard`, the forward value is the permutation matrix that solves the assignment
    problem for the perturbed scores, and the backward pass is the relaxed gradient.
    noise_scale 0 is plain Sinkhorn.
    """
    check_score_matrix(scores)
    perturbed = perturbed_scores(scores, noise_scale, generator)
    soft = sinkhorn(perturbed, tau, n_iters)
    if not hard:
        return soft
    return straight_through(permutation_matrix(matching(perturbed)).to(soft), soft)


def matching(scores: torch.Tensor) -> torch.Tensor:
    """The permutation maximising sum_i scores[i, perm[i]] (the assignment problem), per matrix.

    Returns indices of shape (..., n): row i goes to column perm[i].
    """
    check_score_matrix(scores)
    flat = scores.detach().to(torch.float64).cpu().reshape(-1, *scores.shape[-2:]).numpy()
    perms = np.stack([linear_sum_assignment(m, maximize=True)[1] for m in flat])
    return torch.from_numpy(perms).reshape(scores.shape[:-1]).to(scores.device)


def permutation_matrix(perm: torch.Tensor) -> torch.Tensor:
    """The 0/1 matrix P with P[i, perm[i]] = 1, shape (..., n, n), float32."""
    return k_hot(perm.unsqueeze(-1), perm.shape[-1])


def is_permutation(perm: torch.Tensor) -> bool:
    """Whether every row of `perm` (shape (..., n)) holds each of 0..n-1 exactly once."""
    n = perm.shape[-1]
    return bool((perm.sort(dim=-1).values == torch.arange(n, device=perm.device)).all())


def doubly_stochastic_error(matrix: torch.Tensor) -> float:
    """The largest distance of a row or column sum from 1: how far Sinkhorn is from done."""
    rows = (matrix.sum(dim=-1) - 1).abs().max()
    cols = (matrix.sum(dim=-2) - 1).abs().max()
    return float(torch.maximum(rows, cols))
