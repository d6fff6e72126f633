"""Random graphs and spanning trees through the Gumbel trick, sampled exactly and relaxed.

Edge-independent graphs: edge {i, j} is present with probability sigmoid(theta_ij). The
difference of two Gumbels is logistic noise, so theta + G1 - G2 > 0 is an exact sample, and
sigmoid((theta + G1 - G2) / tau) is its binary Concrete (Gumbel-sigmoid) relaxation.

Spanning trees: the maximum spanning tree of scores + Gumbel noise (perturb-and-maximise) is
a random tree, but *not* one from the Gibbs law P(T) ~ exp(sum_{e in T} s_e / tau); that law
is sampled exactly by Wilson's algorithm, and its edge marginals, the gradient of
log Z = log det(reduced Laplacian) (the matrix-tree theorem), relax the hard tree: they sum
to n - 1 and tend to the maximum spanning tree as tau -> 0. Enumerating all n^(n-2) trees of
K_n (Pruefer sequences) is the exact reference for small n.

Score matrices are symmetric n x n tensors whose diagonal is ignored; -inf marks an absent
edge. Edges are numbered as `edge_index(n)`, the upper triangle row by row. A function that
reads an edge from both triangles gives each half of its gradient, so a gradient step keeps
the scores symmetric.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import torch
from scipy.stats import chi2
from torch import nn

from core.guards import whole_number
from core.gumbel import check_tau, gumbel_noise, straight_through
from core.runtime.background import report_chunks

MIN_NODES = 2
MAX_NODES = 12
MAX_ENUMERATION_NODES = 7  # 7^5 = 16,807 trees; 8 nodes would be 262,144
EXACT_STUDY_NODES = 6  # tree_study enumerates all trees up to here (6^4 = 1,296)
PRESETS = ("uniform", "planted_tree", "two_clusters", "random")
ESTIMATORS: dict[str, str] = {
    "gumbel_softmax": "Matrix-tree relaxation (Gumbel-Softmax)",
    "straight_through": "Straight-through",
    "score_function": "Score function (REINFORCE, Wilson samples)",
}
SHORT_LABELS: dict[str, str] = {
    "gumbel_softmax": "Matrix-tree relaxation",
    "straight_through": "Straight-through",
    "score_function": "Score function (Wilson)",
}
SYMMETRY_RTOL = 1e-5
SYMMETRY_ATOL = 1e-8


def _whole_number(value: object, what: str) -> int:
    return whole_number(value, what)


def _check_count(value: int, what: str, least: int = 1) -> int:
    return whole_number(value, what, minimum=least)


def _check_n(n: int) -> int:
    n = _whole_number(n, "the number of nodes n")
    if not MIN_NODES <= n <= MAX_NODES:
        raise ValueError(f"the number of nodes n must be between {MIN_NODES} and {MAX_NODES}, got n={n}.")
    return n


def _check_taus(taus: list[float] | tuple[float, ...]) -> tuple[float, ...]:
    if len(taus) == 0:
        raise ValueError("choose at least one temperature.")
    return tuple(check_tau(t) for t in taus)


def _check_single(scores: torch.Tensor, what: str) -> None:
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2:
        shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"{what} takes one n x n score matrix, got {shape}.")


# --- edges and matrices ------------------------------------------------------------------------


def edge_index(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The m = n(n-1)/2 edges {i, j}, i < j, as a (2, m) index tensor, row by row."""
    return torch.triu_indices(n, n, 1, device=device)


def edge_vector(matrix: torch.Tensor) -> torch.Tensor:
    """The upper-triangle entries (..., m) of (..., n, n) matrices, in `edge_index` order."""
    rows, cols = edge_index(matrix.shape[-1], matrix.device)
    return matrix[..., rows, cols]


def edge_matrix(values: torch.Tensor, n: int, diagonal: float = 0.0) -> torch.Tensor:
    """The symmetric (..., n, n) matrices with edge values (..., m) and a constant diagonal."""
    rows, cols = edge_index(n, values.device)
    out = values.new_full((*values.shape[:-1], n, n), diagonal)
    out[..., rows, cols] = values
    out[..., cols, rows] = values
    return out


def _connected(support: torch.Tensor) -> torch.Tensor:
    """Which nodes node 0 reaches, (..., n), through the edges of a (..., n, n) boolean support."""
    n = support.shape[-1]
    reach = (support | torch.eye(n, dtype=torch.bool, device=support.device)).to(torch.float64)
    for _ in range(max(1, math.ceil(math.log2(n)))):
        reach = (reach @ reach > 0).to(torch.float64)
    return reach[..., 0, :] > 0


def check_scores(scores: torch.Tensor, spanning: bool = False) -> int:
    """Validate a (..., n, n) score matrix and return n.

    Off-diagonal entries must be finite or -inf (an absent edge), and symmetric up to float
    rounding. With `spanning`, the finite edges of every matrix must connect all n nodes,
    or no spanning tree exists.
    """
    if not isinstance(scores, torch.Tensor) or not scores.is_floating_point():
        raise ValueError("scores must be a floating torch.Tensor of shape (..., n, n); convert with .double().")
    if scores.dim() < 2 or scores.shape[-1] != scores.shape[-2]:
        raise ValueError(f"scores must be square in their last two dims (n x n), got shape {tuple(scores.shape)}.")
    n = _check_n(scores.shape[-1])
    upper = edge_vector(scores.detach())
    lower = edge_vector(scores.detach().transpose(-1, -2))
    both = torch.cat([upper, lower], dim=-1)
    if torch.isnan(both).any() or torch.isposinf(both).any():
        raise ValueError("scores contain NaN or +inf off the diagonal; use finite scores, and -inf for an absent edge.")
    close = torch.isclose(upper, lower, rtol=SYMMETRY_RTOL, atol=SYMMETRY_ATOL)
    if not close.all():
        first = int(torch.nonzero(~close.reshape(-1, upper.shape[-1]))[0, 1])
        i, j = edge_index(n)[:, first].tolist()
        raise ValueError(
            f"scores must be symmetric: score[{i}, {j}] differs from score[{j}, {i}]. "
            f"Symmetrise them, e.g. with (s + s.transpose(-1, -2)) / 2."
        )
    if spanning:
        reached = _connected(edge_matrix(torch.isfinite(upper), n))
        if not reached.all():
            cut = sorted(set(torch.nonzero(~reached.reshape(-1, n))[:, 1].tolist()))
            raise ValueError(
                f"no spanning tree exists: node(s) {cut} cannot be reached from node 0 through edges "
                f"with a finite score. Give them a finite score to the rest of the graph."
            )
    return n


def _edge_scores(scores: torch.Tensor, spanning: bool) -> tuple[torch.Tensor, int]:
    """Validated scores as edge values (..., m): the mean of the two triangles (exact when
    they are equal), so each triangle gets half of an edge's gradient."""
    n = check_scores(scores, spanning)
    return (edge_vector(scores) + edge_vector(scores.transpose(-1, -2))) / 2, n


def _edge_gumbel(edges: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return gumbel_noise(edges.shape, dtype=edges.dtype, device=edges.device, generator=generator)


# --- edge-independent random graphs -------------------------------------------------------------


def edge_probabilities(theta: torch.Tensor) -> torch.Tensor:
    """sigmoid(theta) on every edge, zero diagonal: the law `sample_graph` draws from."""
    edges, n = _edge_scores(theta, spanning=False)
    return edge_matrix(torch.sigmoid(edges), n)


def _perturbed_edges(theta: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, int]:
    """theta + G1 - G2 per edge: the difference of two standard Gumbels is standard logistic."""
    edges, n = _edge_scores(theta, spanning=False)
    return edges + _edge_gumbel(edges, generator) - _edge_gumbel(edges, generator), n


def sample_graph(theta: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """An exact sample (..., n, n) of the graph with independent edges, P(edge) = sigmoid(theta):
    0/1, symmetric, zero diagonal. P(theta + logistic > 0) = sigmoid(theta)."""
    edges, n = _perturbed_edges(theta, generator)
    return edge_matrix((edges > 0).to(theta.dtype), n)


def relaxed_graph(
    theta: torch.Tensor, tau: float = 1.0, hard: bool = False, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A Gumbel-sigmoid (binary Concrete) adjacency: sigmoid((theta + G1 - G2) / tau) per edge.

    torch.sigmoid saturates to exactly 0 or 1 without overflow, so it stays finite for tau down
    to 1e-3, |theta| in the thousands and theta = -inf (an edge that is never there). With
    `hard`, the forward value is the exact sample `sample_graph` draws from the same noise and
    the backward pass is the relaxed gradient (straight-through).
    """
    tau = check_tau(tau)
    edges, n = _perturbed_edges(theta, generator)
    soft = torch.sigmoid(edges / tau)
    if hard:
        soft = straight_through((edges > 0).to(soft.dtype), soft)
    return edge_matrix(soft, n)


def edge_chi_square(frequency: torch.Tensor, probabilities: torch.Tensor, draws: int) -> tuple[float, float]:
    """Pearson's chi-square of edge frequencies (n, n) over `draws` graphs against independent
    Bernoulli(probabilities): the sum of squared binomial z-scores over the m edges.

    Returns (statistic, p-value). Edges of probability 0 or 1 are fixed: they add no degree
    of freedom, and any count off 0 or `draws` there gives p = 0.
    """
    draws = _check_count(draws, "the number of draws")
    counts = edge_vector(frequency.detach().to(torch.float64)) * draws
    p = edge_vector(probabilities.detach().to(torch.float64))
    free = (p > 0) & (p < 1)
    if not torch.equal(counts[~free], p[~free] * draws):
        return math.inf, 0.0
    expected = p[free] * draws
    stat = float(((counts[free] - expected) ** 2 / (expected * (1 - p[free]))).sum())
    dof = int(free.sum())
    return stat, float(chi2.sf(stat, dof)) if dof else 1.0


# --- spanning trees: perturb-and-maximise --------------------------------------------------------


def _prim(edges: torch.Tensor, n: int) -> torch.Tensor:
    """Prim's algorithm on every matrix of a batch at once; edges (B, m) -> adjacency (B, n, n)."""
    weight = edge_matrix(edges.detach(), n, diagonal=-math.inf)
    batch = torch.arange(weight.shape[0], device=weight.device)
    in_tree = torch.zeros(weight.shape[:2], dtype=torch.bool, device=weight.device)
    in_tree[:, 0] = True
    best = weight[:, 0].clone()  # the best edge from the tree to each node so far
    parent = torch.zeros(weight.shape[:2], dtype=torch.long, device=weight.device)
    tree = torch.zeros_like(weight)
    for _ in range(n - 1):
        node = best.masked_fill(in_tree, -math.inf).argmax(dim=-1)
        tree[batch, node, parent[batch, node]] = 1.0
        tree[batch, parent[batch, node], node] = 1.0
        in_tree[batch, node] = True
        row = weight[batch, node]
        better = row > best
        best = torch.where(better, row, best)
        parent = torch.where(better, node.unsqueeze(-1), parent)
    return tree


def max_spanning_tree(scores: torch.Tensor) -> torch.Tensor:
    """The spanning tree(s) of largest total score as 0/1 symmetric adjacency (..., n, n).

    Prim's algorithm, vectorised over the batch. Ties (probability 0 for perturbed scores) go
    to the node and the edge found first.
    """
    edges, n = _edge_scores(scores, spanning=True)
    tree = _prim(edges.reshape(-1, edges.shape[-1]), n)
    return tree.reshape(scores.shape).to(scores.dtype)


def perturb_scores(scores: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """scores + Gumbel noise, one independent draw per edge (mirrored); -inf stays -inf."""
    edges, n = _edge_scores(scores, spanning=False)
    return edge_matrix(edges + _edge_gumbel(edges, generator), n)


def perturb_and_max_tree(scores: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random spanning tree: the maximum spanning tree of perturbed scores.

    Unlike Gumbel-max for one categorical, this is not a sample of the Gibbs law
    exp(sum s_e) / Z: one Gumbel per edge is not one per tree (see `sample_gibbs_trees`).
    """
    check_scores(scores, spanning=True)
    return max_spanning_tree(perturb_scores(scores, generator))


def perturb_and_max_frequencies(
    scores: torch.Tensor, draws: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Edge frequencies (n, n) of `draws` perturb-and-maximise trees of one score matrix."""
    _check_single(scores, "perturb_and_max_frequencies")
    draws = _check_count(draws, "the number of draws")
    return perturb_and_max_tree(scores.expand(draws, -1, -1), generator).mean(dim=0)


# --- spanning trees: the matrix-tree relaxation --------------------------------------------------


def _logsumexp(x: torch.Tensor, dim: int) -> torch.Tensor:
    """logsumexp whose gradients (first and second) are 0, not NaN, where every term is -inf.

    Subtracting the detached maximum is exact for the value and for every derivative, since
    logsumexp(x) = c + log sum exp(x - c) for any constant c.
    """
    top = x.detach().amax(dim=dim, keepdim=True)
    top = top.masked_fill(~torch.isfinite(top), 0.0)
    total = (x - top).exp().sum(dim=dim)
    empty = total == 0
    return torch.where(empty, -math.inf, total.masked_fill(empty, 1.0).log() + top.squeeze(dim))


def _log_partition(log_weights: torch.Tensor, n: int) -> torch.Tensor:
    """log of sum_T prod_{e in T} w_e for edge log-weights (B, m): log det of the Laplacian with
    node 0's row and column removed, by Gaussian elimination entirely in log space.

    Eliminating node k (the Schur complement) turns the graph into one on the other nodes with
    conductances w_ij + w_ik w_kj / d_k, where d_k, k's total conductance, is the pivot; the
    determinant is the product of the pivots. Only sums of positive terms occur (each degree
    is the sum of its edges, never diagonal minus off-diagonal), so nothing cancels or
    overflows: log-weights in the thousands are fine, where exp() overflows and weights shifted
    by their maximum underflow to a singular Laplacian for slogdet.
    """
    weight = edge_matrix(log_weights, n, diagonal=-math.inf)
    log_z = log_weights.new_zeros(log_weights.shape[:-1])
    for k in range(n - 1, 0, -1):
        row = weight[:, k, :k]
        log_degree = _logsumexp(row, dim=-1)
        log_z = log_z + log_degree
        if k > 1:
            through_k = row.unsqueeze(-1) + row.unsqueeze(-2) - log_degree[:, None, None]
            merged = _logsumexp(torch.stack([weight[:, :k, :k], through_k]), dim=0)
            weight = merged.masked_fill(torch.eye(k, dtype=torch.bool, device=merged.device), -math.inf)
    return log_z


def log_partition(scores: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """log Z = log sum_T exp(sum_{e in T} s_e / tau) over the spanning trees, shape (...),
    differentiable; computed in float64 and returned in the scores' dtype."""
    tau = check_tau(tau)
    edges, n = _edge_scores(scores, spanning=True)
    flat = edges.to(torch.float64).reshape(-1, edges.shape[-1])
    return _log_partition(flat / tau, n).reshape(edges.shape[:-1]).to(scores.dtype)


def tree_marginals(scores: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """P(edge in T) under P(T) ~ exp(sum_{e in T} s_e / tau), as a (..., n, n) matrix.

    The gradient of log Z with respect to the edge log-weights s_e / tau (matrix-tree
    theorem), by autograd through `_log_partition`. Each matrix sums to 2(n - 1) (every edge
    counted twice), and as tau -> 0 the marginals tend to the maximum spanning tree. Finite, and
    with finite gradients, at any tau (tested from 10 down to 1e-3) and for absent edges.
    Differentiable when the scores require a gradient.
    """
    tau = check_tau(tau)
    edges, n = _edge_scores(scores, spanning=True)
    keep_graph = edges.requires_grad and torch.is_grad_enabled()
    with torch.enable_grad():
        log_weights = edges.to(torch.float64).reshape(-1, edges.shape[-1]) / tau
        if not keep_graph:
            log_weights = log_weights.detach().requires_grad_(True)
        log_z = _log_partition(log_weights, n)
        (marginals,) = torch.autograd.grad(log_z.sum(), log_weights, create_graph=keep_graph)
    return edge_matrix(marginals.reshape(edges.shape).to(scores.dtype), n)


def relaxed_tree(
    scores: torch.Tensor, tau: float = 1.0, hard: bool = False, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A relaxed random spanning tree: the tree marginals of perturbed scores at temperature tau.

    With `hard`, the forward value is the perturb-and-maximise tree of the same noise and the
    backward pass is the relaxed gradient (straight-through).
    """
    tau = check_tau(tau)
    check_scores(scores, spanning=True)
    perturbed = perturb_scores(scores, generator)
    soft = tree_marginals(perturbed, tau)
    if not hard:
        return soft
    return straight_through(max_spanning_tree(perturbed), soft)


# --- spanning trees: the Gibbs law, exactly -----------------------------------------------------


def sample_gibbs_trees(
    scores: torch.Tensor, tau: float = 1.0, samples: int = 1, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Exact samples (samples, n, n) from P(T) ~ exp(sum_{e in T} s_e / tau), by Wilson's algorithm.

    From each node not yet in the tree, a random walk (step to j with probability ~ w_ij)
    runs until it hits the tree; recording only the last exit from every node erases the
    loops, and the loop-erased path joins the tree. All samples walk at once, on the CPU
    (the walks are a Python loop), so the generator must be a CPU one.
    """
    _check_single(scores, "sample_gibbs_trees")
    tau = check_tau(tau)
    samples = _check_count(samples, "the number of samples")
    edges, n = _edge_scores(scores, spanning=True)
    log_weights = edge_matrix(edges.detach().cpu().to(torch.float64) / tau, n, diagonal=-math.inf)
    cumulative = torch.softmax(log_weights, dim=-1).cumsum(dim=-1)
    cumulative = cumulative / cumulative[:, -1:]  # the last entry exactly 1, above every uniform draw
    in_tree = torch.zeros(samples, n, dtype=torch.bool)
    in_tree[:, 0] = True
    exit_to = torch.zeros(samples, n, dtype=torch.long)
    for start in range(1, n):
        node = torch.full((samples,), start)
        walking = torch.nonzero(~in_tree[:, start]).squeeze(-1)
        while walking.numel():
            here = node[walking]
            u = torch.rand(walking.numel(), dtype=torch.float64, generator=generator)
            step = torch.searchsorted(cumulative[here], u.unsqueeze(-1), right=True).squeeze(-1)
            exit_to[walking, here] = step
            node[walking] = step
            walking = walking[~in_tree[walking, step]]
        node.fill_(start)
        joining = torch.nonzero(~in_tree[:, start]).squeeze(-1)
        while joining.numel():
            in_tree[joining, node[joining]] = True
            node[joining] = exit_to[joining, node[joining]]
            joining = joining[~in_tree[joining, node[joining]]]
    trees = torch.zeros(samples, n, n, dtype=scores.dtype)
    child = torch.arange(1, n).expand(samples, -1)
    batch = torch.arange(samples).unsqueeze(-1)
    trees[batch, child, exit_to[:, 1:]] = 1.0
    trees[batch, exit_to[:, 1:], child] = 1.0
    return trees.to(scores.device)


def gibbs_frequencies(
    scores: torch.Tensor, tau: float, draws: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Edge frequencies (n, n) of `draws` exact Gibbs trees (Wilson): the sampled counterpart
    of `tree_marginals`, with Monte Carlo error only."""
    return sample_gibbs_trees(scores, tau, draws, generator).mean(dim=0)


def is_spanning_tree(adjacency: torch.Tensor) -> torch.Tensor:
    """Whether each (..., n, n) matrix is a spanning tree: 0/1, symmetric, zero diagonal,
    n - 1 edges and connected. Returns a boolean tensor of shape (...)."""
    n = adjacency.shape[-1]
    binary = ((adjacency == 0) | (adjacency == 1)).flatten(-2).all(dim=-1)
    symmetric = (adjacency == adjacency.transpose(-1, -2)).flatten(-2).all(dim=-1)
    no_loops = (adjacency.diagonal(dim1=-2, dim2=-1) == 0).all(dim=-1)
    edges = edge_vector(adjacency).sum(dim=-1) == n - 1
    return binary & symmetric & no_loops & edges & _connected(adjacency != 0).all(dim=-1)


def tree_score(trees: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """sum_{e in T} s_e for spanning trees (..., n, n); -inf for a tree using an absent edge."""
    edges, _ = _edge_scores(scores, spanning=False)
    return torch.where(edge_vector(trees) > 0, edges, torch.zeros_like(edges)).sum(dim=-1)


def tree_log_prob(trees: torch.Tensor, scores: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """log P(T) = sum_{e in T} s_e / tau - log Z under the Gibbs law, differentiable in the
    scores: what the score-function estimator needs."""
    tau = check_tau(tau)
    if trees.shape[-2:] != scores.shape[-2:]:
        raise ValueError(f"trees of shape {tuple(trees.shape)} do not match scores of shape {tuple(scores.shape)}.")
    if not is_spanning_tree(trees).all():
        raise ValueError("every adjacency matrix in trees must be a spanning tree (0/1, symmetric, n - 1 edges).")
    return tree_score(trees, scores) / tau - log_partition(scores, tau)


# --- spanning trees: enumeration ---------------------------------------------------------------


def _prufer_trees(sequences: torch.Tensor, n: int) -> torch.Tensor:
    """Decode Pruefer sequences (M, n - 2) into trees (M, n, n): repeatedly join the smallest
    leaf to the next entry (all sequences at once)."""
    count = sequences.shape[0]
    batch = torch.arange(count)
    degree = torch.ones(count, n, dtype=torch.long).scatter_add_(1, sequences, torch.ones_like(sequences))
    trees = torch.zeros(count, n, n, dtype=torch.float64)
    for position in range(n - 2):
        leaf = (degree == 1).to(torch.int8).argmax(dim=-1)  # argmax returns the first maximum
        parent = sequences[:, position]
        trees[batch, leaf, parent] = trees[batch, parent, leaf] = 1.0
        degree[batch, leaf] -= 1
        degree[batch, parent] -= 1
    last = torch.nonzero(degree == 1)[:, 1].reshape(count, 2)
    trees[batch, last[:, 0], last[:, 1]] = trees[batch, last[:, 1], last[:, 0]] = 1.0
    return trees


def spanning_trees(n: int) -> torch.Tensor:
    """Every spanning tree of the complete graph K_n, (n^(n-2), n, n) float64 (Cayley's formula):
    one per Pruefer sequence. K5 has 125, K6 1,296, K7 16,807."""
    n = _check_n(n)
    if n > MAX_ENUMERATION_NODES:
        raise ValueError(
            f"K_{n} has {n ** (n - 2):,} spanning trees; enumeration stops at n={MAX_ENUMERATION_NODES}. "
            f"Use sample_gibbs_trees (exact samples) or tree_marginals (exact marginals) instead."
        )
    sequences = torch.tensor(list(itertools.product(range(n), repeat=n - 2)), dtype=torch.long)
    return _prufer_trees(sequences.reshape(n ** (n - 2), n - 2), n)


def random_tree(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A uniformly random spanning tree of K_n (a uniform Pruefer sequence), (n, n) float64."""
    n = _check_n(n)
    return _prufer_trees(torch.randint(n, (1, n - 2), generator=generator), n)[0]


@dataclass(frozen=True)
class TreeDistribution:
    """The exact Gibbs law over spanning trees: every possible tree and its probability."""

    trees: torch.Tensor
    probabilities: torch.Tensor

    @property
    def marginals(self) -> torch.Tensor:
        """P(edge in T), (n, n): the reference `tree_marginals` is checked against."""
        return torch.einsum("t,tij->ij", self.probabilities, self.trees)


def gibbs_tree_distribution(scores: torch.Tensor, tau: float = 1.0) -> TreeDistribution:
    """P(T) ~ exp(sum_{e in T} s_e / tau) for every spanning tree, float64, by enumeration.

    Trees through an absent (-inf) edge are left out. Up to MAX_ENUMERATION_NODES nodes.
    """
    _check_single(scores, "gibbs_tree_distribution")
    tau = check_tau(tau)
    n = check_scores(scores, spanning=True)
    trees = spanning_trees(n).to(scores.device)
    weights = tree_score(trees, scores.detach().to(torch.float64)) / tau
    possible = torch.isfinite(weights)
    return TreeDistribution(trees[possible], torch.softmax(weights[possible], dim=0))


def tree_counts(samples: torch.Tensor, trees: torch.Tensor) -> torch.Tensor:
    """How often each of `trees` (t, n, n), distinct, occurs among `samples` (s, n, n)."""
    if samples.shape[-2:] != trees.shape[-2:] or samples.dim() != 3 or trees.dim() != 3:
        raise ValueError(
            f"samples and trees must be stacks of n x n matrices of one size, got shapes "
            f"{tuple(samples.shape)} and {tuple(trees.shape)}."
        )
    keys = torch.cat([edge_vector(trees), edge_vector(samples)]) != 0
    _, inverse = torch.unique(keys, dim=0, return_inverse=True)
    position = torch.full((int(inverse.max()) + 1,), -1, dtype=torch.long, device=inverse.device)
    position[inverse[: len(trees)]] = torch.arange(len(trees), device=inverse.device)
    found = position[inverse[len(trees) :]]
    if (found < 0).any():
        raise ValueError("a sample is not among the given trees.")
    return torch.bincount(found, minlength=len(trees))


# --- score presets ------------------------------------------------------------------------------


def graph_scores(preset: str, n: int, seed: int = 0) -> torch.Tensor:
    """Symmetric float64 edge scores (n, n), zero diagonal, for a page to start from.

    'uniform': all 0 (every tree equally likely); 'planted_tree': 2 on the edges of a random
    tree, -1 elsewhere; 'two_clusters': 1 within the halves {0..n//2-1} and {n//2..n-1}, -1
    between them; 'random': standard normal. The planted and cluster presets add normal
    jitter of scale 0.25, so their maximum spanning tree is unique.
    """
    n = _check_n(n)
    generator = torch.Generator().manual_seed(_whole_number(seed, "seed"))
    m = n * (n - 1) // 2
    if preset == "uniform":
        return torch.zeros(n, n, dtype=torch.float64)
    if preset == "random":
        return edge_matrix(torch.randn(m, dtype=torch.float64, generator=generator), n)
    if preset == "planted_tree":
        base = 3 * edge_vector(random_tree(n, generator)) - 1
    elif preset == "two_clusters":
        rows, cols = edge_index(n)
        base = torch.where((rows < n // 2) == (cols < n // 2), 1.0, -1.0).to(torch.float64)
    else:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
    return edge_matrix(base + 0.25 * torch.randn(m, dtype=torch.float64, generator=generator), n)


# --- studies for the page -------------------------------------------------------------------------


@dataclass(frozen=True)
class EdgeGraphStudy:
    """Edge-independent graphs for one theta: one noise draw relaxed at several temperatures
    next to its exact sample, and edge frequencies of many exact samples against sigmoid(theta)."""

    theta: torch.Tensor
    probabilities: torch.Tensor
    taus: tuple[float, ...]
    noise: torch.Tensor  # the logistic noise G1 - G2 of the shown draw, symmetric, zero diagonal
    hard_graph: torch.Tensor
    relaxed: torch.Tensor  # (len(taus), n, n)
    draws: int
    frequency: torch.Tensor
    chi2: float
    p_value: float


def _study_inputs(
    scores: torch.Tensor, taus: list[float], draws: int, what: str, spanning: bool
) -> tuple[tuple[float, ...], int, torch.Tensor, int]:
    """A study's checked temperatures and draw count, and the scores as an edge vector with n."""
    _check_single(scores, what)
    tau_values = _check_taus(taus)
    draws = _check_count(draws, "the number of draws")
    edges, n = _edge_scores(scores.detach(), spanning=spanning)
    return tau_values, draws, edges, n


def edge_graph_study(
    theta: torch.Tensor, taus: list[float], draws: int, generator: torch.Generator | None = None
) -> EdgeGraphStudy:
    """One logistic draw shared by every temperature, so the panels differ only in tau."""
    tau_values, draws, edges, n = _study_inputs(theta, taus, draws, "edge_graph_study", spanning=False)
    noise = _edge_gumbel(edges, generator) - _edge_gumbel(edges, generator)
    relaxed = torch.stack([edge_matrix(torch.sigmoid((edges + noise) / tau), n) for tau in tau_values])
    probabilities = edge_probabilities(theta.detach())
    frequency = sample_graph(theta.detach().expand(draws, -1, -1), generator).mean(dim=0)
    stat, p_value = edge_chi_square(frequency, probabilities, draws)
    return EdgeGraphStudy(
        theta=theta.detach(),
        probabilities=probabilities,
        taus=tau_values,
        noise=edge_matrix(noise, n),
        hard_graph=edge_matrix((edges + noise > 0).to(theta.dtype), n),
        relaxed=relaxed,
        draws=draws,
        frequency=frequency,
        chi2=stat,
        p_value=p_value,
    )


@dataclass(frozen=True)
class TreeStudy:
    """Spanning trees for one score matrix.

    One Gumbel draw: its perturb-and-max tree and its matrix-tree relaxation at every tau.
    Many draws: perturb-and-max edge frequencies against the exact Gibbs marginals at tau = 1
    (the law a per-tree Gumbel would sample), and, per tree, perturb-and-max frequencies
    against Gibbs probabilities: exact over all trees up to EXACT_STUDY_NODES nodes
    (`exact`), above it Wilson frequencies over the trees either sampler produced.
    `trees` are sorted by Gibbs probability, most likely first.
    """

    scores: torch.Tensor
    taus: tuple[float, ...]
    noise: torch.Tensor
    hard_tree: torch.Tensor
    relaxed: torch.Tensor  # (len(taus), n, n)
    draws: int
    perturb_max_frequency: torch.Tensor
    gibbs_marginals: torch.Tensor
    trees: torch.Tensor  # (t, n, n)
    gibbs_tree_probability: torch.Tensor  # (t,)
    perturb_max_tree_frequency: torch.Tensor  # (t,)
    exact: bool

    @property
    def relaxed_gaps(self) -> list[float]:
        """Largest |relaxed - hard tree| per tau: how far each relaxation is from the sample."""
        return [float((r - self.hard_tree).abs().max()) for r in self.relaxed]

    @property
    def frequency_standard_error(self) -> torch.Tensor:
        """The Monte Carlo standard error of each perturb-and-max edge frequency."""
        p = self.perturb_max_frequency
        return (p * (1 - p) / self.draws).sqrt()


def tree_study(
    scores: torch.Tensor, taus: list[float], draws: int, generator: torch.Generator | None = None
) -> TreeStudy:
    """The spanning-tree picture for one score matrix; see `TreeStudy`."""
    tau_values, draws, edges, n = _study_inputs(scores, taus, draws, "tree_study", spanning=True)
    scores = scores.detach()
    noise = _edge_gumbel(edges, generator)
    perturbed = edge_matrix(edges + noise, n)
    sampled = perturb_and_max_tree(scores.expand(draws, -1, -1), generator)
    exact = n <= EXACT_STUDY_NODES
    if exact:
        reference = gibbs_tree_distribution(scores)
        trees, gibbs_probability = reference.trees, reference.probabilities
    else:
        wilson = sample_gibbs_trees(scores, 1.0, draws, generator)
        trees = torch.unique(torch.cat([wilson, sampled]), dim=0)
        gibbs_probability = tree_counts(wilson, trees).to(torch.float64) / draws
    order = torch.argsort(gibbs_probability, descending=True, stable=True)
    trees = trees[order].to(scores.dtype)
    return TreeStudy(
        scores=scores,
        taus=tau_values,
        noise=edge_matrix(noise, n),
        hard_tree=max_spanning_tree(perturbed),
        relaxed=torch.stack([tree_marginals(perturbed, tau) for tau in tau_values]),
        draws=draws,
        perturb_max_frequency=sampled.mean(dim=0),
        gibbs_marginals=tree_marginals(scores),
        trees=trees,
        gibbs_tree_probability=gibbs_probability[order],
        perturb_max_tree_frequency=tree_counts(sampled, trees).to(torch.float64) / draws,
        exact=exact,
    )


# --- learning a planted tree --------------------------------------------------------------------


@dataclass(frozen=True)
class TreeLearningConfig:
    """Recover a planted spanning tree from noisy observations of its adjacency matrix.

    Each step observes Y = A* + noise * N(0, 1) on every edge, draws `samples` trees from the
    learnable edge scores and descends the mean squared error between their adjacency and Y,
    with one of three gradient estimators:
    'gumbel_softmax' - the matrix-tree marginals of perturbed scores at `tau`;
    'straight_through' - the perturb-and-max tree forward, those marginals' gradient backward;
    'score_function' - exact Gibbs trees (Wilson) and grad log P(T) (tau-free), with a
    leave-one-out baseline.
    """

    n: int = 8
    estimator: str = "gumbel_softmax"
    steps: int = 200
    samples: int = 8
    observation_noise: float = 2.0
    tau: float = 0.5
    lr: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        _check_n(self.n)
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {self.estimator!r}; choose one of {', '.join(ESTIMATORS)}.")
        _check_count(self.steps, "steps")
        _check_count(self.samples, "samples (trees per step; the baseline needs two)", least=2)
        check_tau(self.tau)
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise ValueError(f"the learning rate must be a finite number > 0, got {self.lr}.")
        if not math.isfinite(self.observation_noise) or self.observation_noise < 0:
            raise ValueError(f"observation_noise must be a finite number >= 0, got {self.observation_noise}.")
        _whole_number(self.seed, "seed")


@dataclass(frozen=True)
class TreeProgress:
    """Where a run stands. Since the last report: `loss`, the mean squared error of the
    sampled (hard) trees against the observations (the same for every estimator; it cannot
    fall below observation_noise^2 on average), and `sample_accuracy`, the share of planted
    edges in those trees. Now: `accuracy`, the share of planted edges in the maximum spanning
    tree of the learned scores, the model's answer."""

    step: int
    loss: float
    sample_accuracy: float
    accuracy: float


class TreeLearningTask:
    """A seeded run that learns edge scores in chunks and reports progress after each one.

    `run()` is a generator, so a page can draw the accuracy as it rises; the same config gives
    the same numbers.
    """

    def __init__(self, config: TreeLearningConfig = TreeLearningConfig()) -> None:
        self.config = config
        self.generator = torch.Generator().manual_seed(config.seed)
        self.planted = random_tree(config.n, self.generator)
        m = config.n * (config.n - 1) // 2
        self.edge_scores = nn.Parameter(0.01 * torch.randn(m, dtype=torch.float64, generator=self.generator))
        self.optimizer = torch.optim.Adam([self.edge_scores], lr=config.lr)
        self.step = 0

    @property
    def scores(self) -> torch.Tensor:
        """The learned scores as a symmetric (n, n) matrix (zero diagonal), differentiable."""
        return edge_matrix(self.edge_scores, self.config.n)

    def learned_tree(self) -> torch.Tensor:
        """The maximum spanning tree of the learned scores: the model's answer."""
        return max_spanning_tree(self.scores.detach())

    def evaluate(self) -> float:
        """The share of planted edges that the learned tree recovers."""
        hits = edge_vector(self.learned_tree() * self.planted).sum()
        return float(hits) / (self.config.n - 1)

    def train_step(self) -> tuple[float, float]:
        """One update; returns (loss, sample accuracy) of this step's sampled trees."""
        cfg = self.config
        observed = edge_vector(self.planted) + cfg.observation_noise * torch.randn(
            cfg.n * (cfg.n - 1) // 2, dtype=torch.float64, generator=self.generator
        )
        if cfg.estimator == "score_function":
            trees = sample_gibbs_trees(self.scores.detach(), 1.0, cfg.samples, self.generator)
            errors = (edge_vector(trees) - observed).pow(2).mean(dim=-1)
            baseline = (errors.sum() - errors) / (cfg.samples - 1)  # leave-one-out: unbiased
            objective = ((errors - baseline) * tree_log_prob(trees, self.scores, 1.0)).mean()
        else:
            perturbed = perturb_scores(self.scores.expand(cfg.samples, -1, -1), self.generator)
            trees = max_spanning_tree(perturbed)
            soft = tree_marginals(perturbed, cfg.tau)
            relaxed = soft if cfg.estimator == "gumbel_softmax" else straight_through(trees, soft)
            objective = (edge_vector(relaxed) - observed).pow(2).mean(dim=-1).mean()
            errors = (edge_vector(trees) - observed).pow(2).mean(dim=-1)
        self.optimizer.zero_grad()
        objective.backward()
        self.optimizer.step()
        self.step += 1
        found = edge_vector(trees.detach() * self.planted).sum(dim=-1) / (cfg.n - 1)
        return float(errors.mean()), float(found.mean())

    def run(self, report_every: int = 10) -> Iterator[TreeProgress]:
        """Train to config.steps, yielding progress first at the current step, then every
        `report_every` steps and at the end."""
        chunks = report_chunks(self.step, self.config.steps, report_every)
        yield TreeProgress(self.step, math.nan, math.nan, self.evaluate())
        for chunk in chunks:
            losses, found = zip(*(self.train_step() for _ in range(chunk)))
            yield TreeProgress(self.step, sum(losses) / chunk, sum(found) / chunk, self.evaluate())


def learn_estimators(
    config: TreeLearningConfig, estimators: tuple[str, ...] = tuple(ESTIMATORS), report_every: int = 10
) -> Iterator[tuple[str, TreeProgress]]:
    """The same run (config, seed, planted tree) with each estimator in turn, one after
    another: (estimator, progress) pairs, for a page to draw a learning curve per estimator."""
    configs = [replace(config, estimator=name) for name in estimators]  # every name checked up front
    for cfg in configs:
        for progress in TreeLearningTask(cfg).run(report_every):
            yield cfg.estimator, progress


# --- everything the page shows for one setting --------------------------------------------------


@dataclass(frozen=True)
class GraphsView:
    """The score matrix a preset gives, its spanning-tree study and, with the same matrix as
    theta, its edge-independent-graph study."""

    scores: torch.Tensor
    trees: TreeStudy
    graphs: EdgeGraphStudy


def graphs_view(preset: str, n: int, seed: int, taus: list[float], draws: int) -> GraphsView:
    """One seeded call for the page: scores from the preset, then both studies."""
    scores = graph_scores(preset, n, seed)
    generator = torch.Generator().manual_seed(_whole_number(seed, "seed"))
    trees = tree_study(scores, taus, draws, generator)
    return GraphsView(scores=scores, trees=trees, graphs=edge_graph_study(scores, taus, draws, generator))


def split_by_estimator(items: Iterable[tuple[str, TreeProgress]]) -> dict[str, list[TreeProgress]]:
    """`learn_estimators` output as one progress list per estimator, in the order they ran."""
    histories: dict[str, list[TreeProgress]] = {}
    for name, progress in items:
        histories.setdefault(name, []).append(progress)
    return histories
