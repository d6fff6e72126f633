"""k-subsets through the Gumbel trick, sampled exactly and relaxed.

Gumbel top-k draws k items without replacement exactly as the sequential (Plackett-Luce)
process does; successive softmax (Xie & Ermon 2019) relaxes the k-hot vector with a
temperature. Exact inclusion and sequence probabilities, by enumeration for small n, are the
references both are checked against.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from core.guards import whole_number
from core.gumbel import check_logits, check_tau, perturbed_logits, straight_through

MAX_EXACT_ITEMS = 16
MAX_SEQUENCES = 200_000


def check_subset(logits: torch.Tensor, k: int) -> int:
    """Valid logits, and k a whole number in 1..n with at least k possible items in every row."""
    check_logits(logits, -1)
    k = whole_number(k, "k (the number of items to draw)")
    n = logits.shape[-1]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of items ({n}), got k={k}.")
    possible = int(torch.isfinite(logits).sum(dim=-1).min())
    if possible < k:
        raise ValueError(
            f"only {possible} of the {n} items have a non-zero weight, so {k} cannot be drawn "
            f"without replacement; give more items a weight or lower k."
        )
    return k


def weights_to_logits(weights: list[float] | torch.Tensor) -> torch.Tensor:
    """Log-weights (float64) from non-negative weights; a zero weight makes an item impossible."""
    w = torch.as_tensor(weights, dtype=torch.float64)
    if w.dim() != 1 or w.numel() == 0:
        raise ValueError(f"weights must be a non-empty list of numbers, got shape {tuple(w.shape)}.")
    if not torch.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and >= 0.")
    if not (w > 0).any():
        raise ValueError("every weight is 0; give at least one item a positive weight.")
    return w.log()


def k_hot(indices: torch.Tensor, n: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The k-hot vector(s) of length n marking `indices` (shape (..., k))."""
    out = torch.zeros(*indices.shape[:-1], n, dtype=dtype, device=indices.device)
    return out.scatter_(-1, indices, 1.0)


def gumbel_topk(logits: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """k item indices (shape (..., k)), in draw order, sampled without replacement.

    The top-k of logits + Gumbel noise has exactly the law of drawing items one by one with
    probability proportional to exp(logit) among those left (Plackett-Luce).
    """
    k = check_subset(logits, k)
    return perturbed_logits(logits, generator).topk(k, dim=-1).indices


def _log1m_softmax(log_p: torch.Tensor) -> torch.Tensor:
    """log(1 - p) for p = exp(log_p) summing to 1 over the last dim, accurate when p -> 1.

    Every item but the largest has p <= 1/2, where log1p(-p) is accurate; for the largest,
    1 - p is the sum of the others, a logsumexp. No clamp, so no wrong answers for large
    scores at small temperature, and the gradients stay finite.
    """
    is_top = k_hot(log_p.argmax(dim=-1, keepdim=True), log_p.shape[-1], torch.bool)
    others = log_p.masked_fill(is_top, -math.inf)
    return torch.where(is_top, others.logsumexp(dim=-1, keepdim=True), torch.log1p(-others.exp()))


def successive_softmax(scores: torch.Tensor, k: int, tau: float) -> torch.Tensor:
    """Relaxed k-hot of fixed scores (Xie & Ermon 2019): k softmaxes, each damping the last pick.

    a_j = softmax(alpha_j / tau), alpha_{j+1} = alpha_j + log(1 - a_j). The result sums to k
    and tends to the k-hot of the top-k scores as tau -> 0; computed in log space, it stays
    finite for tau down to 1e-3 and scores holding -inf.
    """
    tau = check_tau(tau)
    k = check_subset(scores, k)
    alpha = scores
    khot = torch.zeros_like(scores)
    for step in range(k):
        log_a = torch.log_softmax(alpha / tau, dim=-1)
        khot = khot + log_a.exp()
        if step < k - 1:
            alpha = alpha + _log1m_softmax(log_a)
    return khot


def relaxed_topk(
    logits: torch.Tensor,
    k: int,
    tau: float = 1.0,
    hard: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A relaxed k-hot sample: successive softmax of logits + Gumbel noise at temperature tau.

    With `hard`, the forward value is the exact k-hot of the Gumbel top-k (an exact sample of
    the subset) and the backward pass is the relaxed gradient (straight-through).
    """
    k = check_subset(logits, k)
    scores = perturbed_logits(logits, generator)
    soft = successive_softmax(scores, k, tau)
    if hard:
        hard_khot = k_hot(scores.topk(k, dim=-1).indices, scores.shape[-1], scores.dtype)
        soft = straight_through(hard_khot, soft)
    return soft.to(logits.dtype)


def _item_probabilities(logits: torch.Tensor, k: int, what: str) -> np.ndarray:
    if logits.dim() != 1:
        raise ValueError(f"{what} takes one vector of logits, got shape {tuple(logits.shape)}.")
    check_subset(logits, k)
    return torch.softmax(logits.detach().to(torch.float64).cpu(), dim=-1).numpy()


def sequence_probabilities(logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every ordered sequence of k distinct items and its Plackett-Luce probability.

    Returns (sequences of shape (m, k), float64 probabilities of shape (m,)), m = n!/(n-k)!;
    the reference the Gumbel top-k sampler is tested against.
    """
    w = _item_probabilities(logits, k, "sequence_probabilities")
    n = len(w)
    count = math.perm(n, int(k))
    if count > MAX_SEQUENCES:
        raise ValueError(
            f"n={n}, k={k} has {count:,} ordered sequences, more than the {MAX_SEQUENCES:,} "
            f"enumerated; use fewer items or a smaller k."
        )
    seqs = np.array(list(itertools.permutations(range(n), int(k))), dtype=np.int64)
    picked = w[seqs]
    left = 1.0 - np.concatenate([np.zeros((count, 1)), np.cumsum(picked, axis=1)[:, :-1]], axis=1)
    left = np.maximum(left, np.finfo(np.float64).tiny)
    return torch.from_numpy(seqs), torch.from_numpy(np.prod(picked / left, axis=1))


def inclusion_probabilities(logits: torch.Tensor, k: int) -> torch.Tensor:
    """P(item i is among the k drawn without replacement), exactly, as float64 of shape (n,).

    Enumerates the 2^n subsets once (P(S) = sum over its last-drawn item), so n is capped at
    MAX_EXACT_ITEMS; beyond it use `monte_carlo_inclusion`.
    """
    w = _item_probabilities(logits, k, "inclusion_probabilities")
    n = len(w)
    if n > MAX_EXACT_ITEMS:
        raise ValueError(
            f"exact inclusion probabilities enumerate 2^n subsets and stop at n={MAX_EXACT_ITEMS}; "
            f"got n={n}. Estimate them with monte_carlo_inclusion instead."
        )
    masks = np.arange(1 << n)
    members = ((masks[:, None] >> np.arange(n)) & 1).astype(bool)
    size = members.sum(axis=1)
    mass_left = (~members) @ w
    prob = np.zeros(1 << n)
    prob[0] = 1.0
    for drawn in range(int(k)):
        level = masks[size == drawn]
        for i in range(n):
            free = level[~members[level, i]]
            left = mass_left[free]
            step = np.divide(w[i], left, out=np.zeros_like(left), where=left > 0)
            prob[free | (1 << i)] += prob[free] * step
    full = size == int(k)
    return torch.from_numpy(members[full].T.astype(np.float64) @ prob[full])


def monte_carlo_inclusion(
    logits: torch.Tensor, k: int, samples: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Inclusion frequencies of `samples` exact Gumbel top-k draws: the estimate for large n."""
    if logits.dim() != 1:
        raise ValueError(f"monte_carlo_inclusion takes one vector of logits, got shape {tuple(logits.shape)}.")
    samples = whole_number(samples, "the number of samples", minimum=1)
    draws = gumbel_topk(logits.expand(samples, -1), k, generator)
    return k_hot(draws, logits.shape[-1], torch.float64).mean(dim=0)
