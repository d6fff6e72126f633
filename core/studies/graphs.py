"""What the Graphs page shows for one setting: a preset's score matrix, its spanning-tree
study and its edge-independent-graph study.

One seed drives all three, through separate streams (`core.seeds`): the scores, the tree
study's draws and the graph study's draws. So the studies never reuse the uniforms the scores
were built from, and neither study's picture moves when the other draws more.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core import seeds
from core.graphs.edges import (
    check_nodes,
    check_single,
    checked_edges,
    edge_chi_square,
    edge_gumbel,
    edge_index,
    edge_matrix,
    edge_probabilities,
    edge_vector,
    sample_graph,
)
from core.graphs.trees import (
    gibbs_tree_distribution,
    max_spanning_tree,
    perturb_and_max_tree,
    random_tree,
    sample_gibbs_trees,
    tree_counts,
    tree_marginals,
)
from core.guards import whole_number
from core.gumbel import check_tau

EXACT_STUDY_NODES = 6  # tree_study enumerates all trees up to here (6^4 = 1,296)
PRESETS = ("uniform", "planted_tree", "two_clusters", "random")
SCORES_STREAM = "graphs: scores"
TREE_STREAM = "graphs: tree study"
EDGE_STREAM = "graphs: edge graph study"


def _check_taus(taus: list[float] | tuple[float, ...]) -> tuple[float, ...]:
    if len(taus) == 0:
        raise ValueError("choose at least one temperature.")
    return tuple(check_tau(t) for t in taus)


def graph_scores(preset: str, n: int, seed: int = 0) -> torch.Tensor:
    """Symmetric float64 edge scores (n, n), zero diagonal, for a page to start from.

    'uniform': all 0 (every tree equally likely); 'planted_tree': 2 on the edges of a random
    tree, -1 elsewhere; 'two_clusters': 1 within the halves {0..n//2-1} and {n//2..n-1}, -1
    between them; 'random': standard normal. The planted and cluster presets add normal
    jitter of scale 0.25, so their maximum spanning tree is unique. Every draw comes from
    `seed`'s scores stream.
    """
    n = check_nodes(n)
    generator = seeds.generator(seed, SCORES_STREAM)
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
    check_single(scores, what)
    tau_values = _check_taus(taus)
    draws = whole_number(draws, "the number of draws", minimum=1)
    edges, n = checked_edges(scores.detach(), spanning=spanning)
    return tau_values, draws, edges, n


def edge_graph_study(
    theta: torch.Tensor, taus: list[float], draws: int, generator: torch.Generator | None = None
) -> EdgeGraphStudy:
    """One logistic draw shared by every temperature, so the panels differ only in tau."""
    tau_values, draws, edges, n = _study_inputs(theta, taus, draws, "edge_graph_study", spanning=False)
    noise = edge_gumbel(edges, generator) - edge_gumbel(edges, generator)
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
    noise = edge_gumbel(edges, generator)
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


# --- everything the page shows for one setting --------------------------------------------------


@dataclass(frozen=True)
class GraphsView:
    """The score matrix a preset gives, its spanning-tree study and, with the same matrix as
    theta, its edge-independent-graph study."""

    scores: torch.Tensor
    trees: TreeStudy
    graphs: EdgeGraphStudy


def graphs_view(preset: str, n: int, seed: int, taus: list[float], draws: int) -> GraphsView:
    """One seeded call for the page: scores from the preset, then both studies, each drawing
    from its own stream of `seed`."""
    scores = graph_scores(preset, n, seed)
    trees = tree_study(scores, taus, draws, seeds.generator(seed, TREE_STREAM))
    graphs = edge_graph_study(scores, taus, draws, seeds.generator(seed, EDGE_STREAM))
    return GraphsView(scores=scores, trees=trees, graphs=graphs)
