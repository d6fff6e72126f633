"""Edge-independent random graphs through the Gumbel trick, and the edge layout and score
checks every graph module shares.

Edge {i, j} is present with probability sigmoid(theta_ij). The difference of two Gumbels is
logistic noise, so theta + G1 - G2 > 0 is an exact sample, and sigmoid((theta + G1 - G2) / tau)
is its binary Concrete (Gumbel-sigmoid) relaxation.

Score matrices are symmetric n x n tensors whose diagonal is ignored; -inf marks an absent
edge. Edges are numbered as `edge_index(n)`, the upper triangle row by row. A function that
reads an edge from both triangles gives each half of its gradient, so a gradient step keeps
the scores symmetric.
"""

from __future__ import annotations

import math

import torch
from scipy.stats import chi2

from core.guards import whole_number
from core.gumbel import check_tau, gumbel_noise, straight_through

MIN_NODES = 2
MAX_NODES = 12
SYMMETRY_RTOL = 1e-5
SYMMETRY_ATOL = 1e-8


def check_nodes(n: int) -> int:
    """n as an int, refused unless it is a whole number of nodes from MIN_NODES to MAX_NODES."""
    n = whole_number(n, "the number of nodes n")
    if not MIN_NODES <= n <= MAX_NODES:
        raise ValueError(f"the number of nodes n must be between {MIN_NODES} and {MAX_NODES}, got n={n}.")
    return n


def check_single(scores: torch.Tensor, what: str) -> None:
    """Refuse a batch where `what` takes one n x n matrix."""
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


def connected(support: torch.Tensor) -> torch.Tensor:
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
    n = check_nodes(scores.shape[-1])
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
        reached = connected(edge_matrix(torch.isfinite(upper), n))
        if not reached.all():
            cut = sorted(set(torch.nonzero(~reached.reshape(-1, n))[:, 1].tolist()))
            raise ValueError(
                f"no spanning tree exists: node(s) {cut} cannot be reached from node 0 through edges "
                f"with a finite score. Give them a finite score to the rest of the graph."
            )
    return n


def checked_edges(scores: torch.Tensor, spanning: bool) -> tuple[torch.Tensor, int]:
    """Validated scores as edge values (..., m): the mean of the two triangles (exact when
    they are equal), so each triangle gets half of an edge's gradient."""
    n = check_scores(scores, spanning)
    return (edge_vector(scores) + edge_vector(scores.transpose(-1, -2))) / 2, n


def edge_gumbel(edges: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One standard Gumbel per edge, in the edges' dtype and device."""
    return gumbel_noise(edges.shape, dtype=edges.dtype, device=edges.device, generator=generator)


# --- edge-independent random graphs -------------------------------------------------------------


def edge_probabilities(theta: torch.Tensor) -> torch.Tensor:
    """sigmoid(theta) on every edge, zero diagonal: the law `sample_graph` draws from."""
    edges, n = checked_edges(theta, spanning=False)
    return edge_matrix(torch.sigmoid(edges), n)


def _perturbed_edges(theta: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, int]:
    """theta + G1 - G2 per edge: the difference of two standard Gumbels is standard logistic."""
    edges, n = checked_edges(theta, spanning=False)
    return edges + edge_gumbel(edges, generator) - edge_gumbel(edges, generator), n


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
    draws = whole_number(draws, "the number of draws", minimum=1)
    counts = edge_vector(frequency.detach().to(torch.float64)) * draws
    p = edge_vector(probabilities.detach().to(torch.float64))
    free = (p > 0) & (p < 1)
    if not torch.equal(counts[~free], p[~free] * draws):
        return math.inf, 0.0
    expected = p[free] * draws
    stat = float(((counts[free] - expected) ** 2 / (expected * (1 - p[free]))).sum())
    dof = int(free.sum())
    return stat, float(chi2.sf(stat, dof)) if dof else 1.0
