"""Random spanning trees through the Gumbel trick, sampled exactly and relaxed.

The maximum spanning tree of scores + Gumbel noise (perturb-and-maximise) is a random tree,
but *not* one from the Gibbs law P(T) ~ exp(sum_{e in T} s_e / tau); that law is sampled
exactly by Wilson's algorithm, and its edge marginals, the gradient of
log Z = log det(reduced Laplacian) (the matrix-tree theorem), relax the hard tree: they sum to
n - 1 and tend to the maximum spanning tree as tau -> 0. Enumerating all n^(n-2) trees of K_n
(Pruefer sequences) is the exact reference for small n. Scores follow `core.graphs.edges`'s
conventions.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from core.graphs.edges import (
    check_nodes,
    check_scores,
    check_single,
    checked_edges,
    connected,
    edge_gumbel,
    edge_matrix,
    edge_vector,
)
from core.guards import whole_number
from core.gumbel import check_tau, straight_through

MAX_ENUMERATION_NODES = 7  # 7^5 = 16,807 trees; 8 nodes would be 262,144


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
    edges, n = checked_edges(scores, spanning=True)
    tree = _prim(edges.reshape(-1, edges.shape[-1]), n)
    return tree.reshape(scores.shape).to(scores.dtype)


def perturb_scores(scores: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """scores + Gumbel noise, one independent draw per edge (mirrored); -inf stays -inf."""
    edges, n = checked_edges(scores, spanning=False)
    return edge_matrix(edges + edge_gumbel(edges, generator), n)


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
    check_single(scores, "perturb_and_max_frequencies")
    draws = whole_number(draws, "the number of draws", minimum=1)
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
    edges, n = checked_edges(scores, spanning=True)
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
    edges, n = checked_edges(scores, spanning=True)
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
    check_single(scores, "sample_gibbs_trees")
    tau = check_tau(tau)
    samples = whole_number(samples, "the number of samples", minimum=1)
    edges, n = checked_edges(scores, spanning=True)
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
    return binary & symmetric & no_loops & edges & connected(adjacency != 0).all(dim=-1)


def tree_score(trees: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """sum_{e in T} s_e for spanning trees (..., n, n); -inf for a tree using an absent edge."""
    edges, _ = checked_edges(scores, spanning=False)
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
    n = check_nodes(n)
    if n > MAX_ENUMERATION_NODES:
        raise ValueError(
            f"K_{n} has {n ** (n - 2):,} spanning trees; enumeration stops at n={MAX_ENUMERATION_NODES}. "
            f"Use sample_gibbs_trees (exact samples) or tree_marginals (exact marginals) instead."
        )
    sequences = torch.tensor(list(itertools.product(range(n), repeat=n - 2)), dtype=torch.long)
    return _prufer_trees(sequences.reshape(n ** (n - 2), n - 2), n)


def random_tree(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A uniformly random spanning tree of K_n (a uniform Pruefer sequence), (n, n) float64."""
    n = check_nodes(n)
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
    check_single(scores, "gibbs_tree_distribution")
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
