"""Beyond categoricals: k-subsets and permutations, sampled exactly and relaxed.

Subsets: Gumbel top-k draws k items without replacement exactly as the sequential
(Plackett-Luce) process does; successive softmax (Xie & Ermon 2019) relaxes the k-hot
vector with a temperature. Exact inclusion and sequence probabilities, by enumeration for
small n, are the references both are checked against.

Permutations: Gumbel-Sinkhorn (Mena et al. 2018) normalises perturbed scores in log space
into a doubly-stochastic matrix; the assignment problem gives the hard permutation.
`SortingTask` learns to sort lists of numbers with it, in a few seconds on a CPU.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from core.guards import whole_number
from core.gumbel import check_logits, check_tau, gumbel_noise, perturbed_logits, straight_through
from core.runtime.background import report_chunks

MAX_EXACT_ITEMS = 16
MAX_SEQUENCES = 200_000
REFERENCE_SAMPLES = 200_000


def _check_k(logits: torch.Tensor, k: int) -> int:
    """k must be a whole number in 1..n, and at least k items must be possible in every row."""
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


def _check_subset_logits(logits: torch.Tensor, k: int) -> int:
    check_logits(logits, -1)
    return _check_k(logits, k)


def _check_samples(samples: int) -> int:
    samples = whole_number(samples, "the number of samples")
    if samples < 1:
        raise ValueError(f"the number of samples must be at least 1, got {samples}.")
    return samples


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
    k = _check_subset_logits(logits, k)
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
    k = _check_subset_logits(scores, k)
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
    k = _check_subset_logits(logits, k)
    scores = perturbed_logits(logits, generator)
    soft = successive_softmax(scores, k, tau)
    if hard:
        hard_khot = k_hot(scores.topk(k, dim=-1).indices, scores.shape[-1], scores.dtype)
        soft = straight_through(hard_khot, soft)
    return soft.to(logits.dtype)


def _item_probabilities(logits: torch.Tensor, k: int, what: str) -> np.ndarray:
    if logits.dim() != 1:
        raise ValueError(f"{what} takes one vector of logits, got shape {tuple(logits.shape)}.")
    _check_subset_logits(logits, k)
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
    draws = gumbel_topk(logits.expand(_check_samples(samples), -1), k, generator)
    return k_hot(draws, logits.shape[-1], torch.float64).mean(dim=0)


def _check_scores(scores: torch.Tensor) -> None:
    if not isinstance(scores, torch.Tensor) or not scores.is_floating_point():
        raise ValueError("scores must be a floating torch.Tensor of shape (..., n, n).")
    if scores.dim() < 2 or scores.shape[-1] != scores.shape[-2]:
        raise ValueError(f"scores must be square in their last two dims (n x n), got shape {tuple(scores.shape)}.")
    if scores.shape[-1] == 0:
        raise ValueError("scores are empty; give at least a 1 x 1 matrix.")
    if not torch.isfinite(scores).all():
        raise ValueError("scores must be finite (no NaN or inf).")


def _check_iterations(n_iters: int) -> int:
    n_iters = whole_number(n_iters, "the number of Sinkhorn iterations")
    if n_iters < 1:
        raise ValueError(f"the number of Sinkhorn iterations must be at least 1, got {n_iters}.")
    return n_iters


def _perturbed_scores(scores: torch.Tensor, noise_scale: float, generator: torch.Generator | None) -> torch.Tensor:
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
    _check_scores(scores)
    tau = check_tau(tau)
    return log_sinkhorn(scores / tau, _check_iterations(n_iters)).exp()


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
    _check_scores(scores)
    perturbed = _perturbed_scores(scores, noise_scale, generator)
    soft = sinkhorn(perturbed, tau, n_iters)
    if not hard:
        return soft
    return straight_through(permutation_matrix(matching(perturbed)).to(soft), soft)


def matching(scores: torch.Tensor) -> torch.Tensor:
    """The permutation maximising sum_i scores[i, perm[i]] (the assignment problem), per matrix.

    Returns indices of shape (..., n): row i goes to column perm[i].
    """
    _check_scores(scores)
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


def subset_summary(
    logits: torch.Tensor, k: int, tau: float, samples: int, generator: torch.Generator | None = None
) -> SubsetSummary:
    """Inclusion probabilities (exact up to MAX_EXACT_ITEMS items, else a Monte Carlo estimate
    from REFERENCE_SAMPLES exact draws), the Gumbel top-k frequencies and the mean relaxed
    k-hot over `samples` draws, and one relaxed draw next to its hard top-k."""
    if logits.dim() != 1:
        raise ValueError(f"subset_summary takes one vector of logits, got shape {tuple(logits.shape)}.")
    check_logits(logits, -1)
    k = _check_k(logits, k)
    tau = check_tau(tau)
    samples = _check_samples(samples)
    exact = logits.shape[-1] <= MAX_EXACT_ITEMS
    reference = (
        inclusion_probabilities(logits, k) if exact else monte_carlo_inclusion(logits, k, REFERENCE_SAMPLES, generator)
    )
    scores = perturbed_logits(logits.expand(samples, -1), generator)
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
    n = whole_number(n, "the matrix size n")
    if n < 1:
        raise ValueError(f"the matrix size n must be at least 1, got {n}.")
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
    _check_scores(scores)
    if scores.dim() != 2:
        raise ValueError(f"sinkhorn_grid takes one n x n matrix, got shape {tuple(scores.shape)}.")
    if not taus or not iterations:
        raise ValueError("choose at least one temperature and one iteration count.")
    checked_taus = tuple(check_tau(t) for t in taus)
    checked_iterations = tuple(_check_iterations(i) for i in iterations)
    perturbed = _perturbed_scores(scores, noise_scale, generator)
    matrices = torch.stack([torch.stack([sinkhorn(perturbed, t, i) for i in checked_iterations]) for t in checked_taus])
    errors = torch.tensor([[doubly_stochastic_error(m) for m in row] for row in matrices])
    return SinkhornGrid(perturbed, checked_taus, checked_iterations, matrices, errors, matching(perturbed))


@dataclass(frozen=True)
class SortingConfig:
    """Learning to sort with Gumbel-Sinkhorn (Mena et al. 2018, section 6.1), sized for a CPU.

    A small network maps each number on its own to a row of scores (where it should go);
    the loss compares the relaxed permutation applied to the list with the sorted list.
    """

    n: int = 8
    steps: int = 200
    batch_size: int = 64
    lr: float = 0.003
    hidden: int = 32
    tau: float = 1.0
    sinkhorn_iters: int = 20
    noise_scale: float = 1.0
    test_lists: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        for name, least in (
            ("n", 2),
            ("steps", 1),
            ("batch_size", 1),
            ("hidden", 1),
            ("sinkhorn_iters", 1),
            ("test_lists", 1),
        ):
            value = getattr(self, name)
            if whole_number(value, name) < least:
                raise ValueError(f"{name} must be at least {least}, got {value}.")
        check_tau(self.tau)
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise ValueError(f"the learning rate must be a finite number > 0, got {self.lr}.")
        if not math.isfinite(self.noise_scale) or self.noise_scale < 0:
            raise ValueError(f"noise_scale must be a finite number >= 0, got {self.noise_scale}.")


@dataclass(frozen=True)
class SortProgress:
    """Where a sorting run stands: mean training loss since the last report, and the share
    of test positions (element) and of whole test lists (list) the hard permutation gets right."""

    step: int
    loss: float
    element_accuracy: float
    list_accuracy: float


@dataclass(frozen=True)
class SortExample:
    """One list, the model's relaxed permutation for it and the list its hard permutation gives."""

    values: torch.Tensor
    soft_permutation: torch.Tensor
    permutation: torch.Tensor
    sorted_values: torch.Tensor


class SortingTask:
    """A seeded sorting run that trains in chunks and reports progress after each one.

    `run()` is a generator, so a page can draw the accuracy as it rises and a test can run
    it to the end; the same config and seed give the same numbers.
    """

    def __init__(self, config: SortingConfig = SortingConfig()) -> None:
        self.config = config
        self.generator = torch.Generator().manual_seed(config.seed)
        self.test_values = torch.rand(config.test_lists, config.n, generator=self.generator)
        self.net = nn.Sequential(nn.Linear(1, config.hidden), nn.ReLU(), nn.Linear(config.hidden, config.n))
        self._init_parameters()
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.step = 0

    def _init_parameters(self) -> None:
        """PyTorch's default uniform(+-1/sqrt(fan_in)) init, drawn from the run's generator."""
        with torch.no_grad():
            for layer in self.net:
                if isinstance(layer, nn.Linear):
                    bound = 1 / math.sqrt(layer.in_features)
                    layer.weight.uniform_(-bound, bound, generator=self.generator)
                    layer.bias.uniform_(-bound, bound, generator=self.generator)

    def scores(self, values: torch.Tensor) -> torch.Tensor:
        """Scores (..., n, n): entry [i, j] says how well number i fits position j."""
        return self.net(values.unsqueeze(-1))

    def train_step(self) -> float:
        cfg = self.config
        values = torch.rand(cfg.batch_size, cfg.n, generator=self.generator)
        soft = gumbel_sinkhorn(
            self.scores(values), cfg.tau, cfg.sinkhorn_iters, cfg.noise_scale, generator=self.generator
        )
        arranged = torch.einsum("bij,bi->bj", soft, values)
        loss = (arranged - values.sort(dim=-1).values).pow(2).sum(dim=-1).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.step += 1
        return loss.item()

    def evaluate(self) -> tuple[float, float]:
        """(element accuracy, list accuracy) of the hard permutations on the fixed test lists."""
        with torch.no_grad():
            predicted = matching(self.scores(self.test_values))
        correct = predicted == self.test_values.argsort(dim=-1).argsort(dim=-1)
        return float(correct.float().mean()), float(correct.all(dim=-1).float().mean())

    def run(self, report_every: int = 10) -> Iterator[SortProgress]:
        """Train to config.steps, yielding progress first at the current step, then every
        `report_every` steps and at the end."""
        chunks = report_chunks(self.step, self.config.steps, report_every)
        yield SortProgress(self.step, math.nan, *self.evaluate())
        for chunk in chunks:
            loss = sum(self.train_step() for _ in range(chunk)) / chunk
            yield SortProgress(self.step, loss, *self.evaluate())

    def example(self, values: torch.Tensor | None = None) -> SortExample:
        """The model on one list (the first test list by default), without noise."""
        values = self.test_values[0] if values is None else torch.as_tensor(values, dtype=torch.float32)
        if values.shape != (self.config.n,):
            raise ValueError(f"the list must hold {self.config.n} numbers, got shape {tuple(values.shape)}.")
        with torch.no_grad():
            scores = self.scores(values)
            soft = sinkhorn(scores, self.config.tau, self.config.sinkhorn_iters)
            perm = matching(scores)
        arranged = torch.empty_like(values).scatter_(0, perm, values)
        return SortExample(values, soft, perm, arranged)
