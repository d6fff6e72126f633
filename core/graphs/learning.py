"""Learning a planted spanning tree from noisy observations, with three gradient estimators.

Every random draw of a run comes from its own stream of the run's seed (`core.seeds`): the
planted tree, the initial scores, the observations and the sampled trees. So every estimator
sees the same planted tree and the same observations, step for step, and the curves differ
only by how each estimator turns samples into a gradient.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import torch
from torch import nn

from core import seeds
from core.graphs.edges import check_nodes, edge_matrix, edge_vector
from core.graphs.trees import (
    max_spanning_tree,
    perturb_scores,
    random_tree,
    sample_gibbs_trees,
    tree_log_prob,
    tree_marginals,
)
from core.guards import whole_number
from core.gumbel import check_tau, straight_through
from core.progress import report_chunks

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
PLANTED_STREAM = "tree learning: planted tree"
INIT_STREAM = "tree learning: initial scores"
OBSERVATION_STREAM = "tree learning: observations"
SAMPLE_STREAM = "tree learning: sampled trees"


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
        check_nodes(self.n)
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {self.estimator!r}; choose one of {', '.join(ESTIMATORS)}.")
        whole_number(self.steps, "steps", minimum=1)
        whole_number(self.samples, "samples (trees per step; the baseline needs two)", minimum=2)
        check_tau(self.tau)
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise ValueError(f"the learning rate must be a finite number > 0, got {self.lr}.")
        if not math.isfinite(self.observation_noise) or self.observation_noise < 0:
            raise ValueError(f"observation_noise must be a finite number >= 0, got {self.observation_noise}.")
        whole_number(self.seed, "seed", minimum=0)


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
        self.planted = random_tree(config.n, seeds.generator(config.seed, PLANTED_STREAM))
        initial = torch.randn(self._edges, dtype=torch.float64, generator=seeds.generator(config.seed, INIT_STREAM))
        self.edge_scores = nn.Parameter(0.01 * initial)
        self._observations = seeds.generator(config.seed, OBSERVATION_STREAM)
        self._samples = seeds.generator(config.seed, SAMPLE_STREAM)
        self.optimizer = torch.optim.Adam([self.edge_scores], lr=config.lr)
        self.step = 0

    @property
    def _edges(self) -> int:
        return self.config.n * (self.config.n - 1) // 2

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

    def observe(self) -> torch.Tensor:
        """The next observation of the planted edges, Y = A* + observation_noise * N(0, 1), (m,),
        from the observations' own stream: the same sequence whatever the estimator draws."""
        noise = torch.randn(self._edges, dtype=torch.float64, generator=self._observations)
        return edge_vector(self.planted) + self.config.observation_noise * noise

    def train_step(self) -> tuple[float, float]:
        """One update; returns (loss, sample accuracy) of this step's sampled trees."""
        cfg = self.config
        observed = self.observe()
        if cfg.estimator == "score_function":
            trees = sample_gibbs_trees(self.scores.detach(), 1.0, cfg.samples, self._samples)
            errors = (edge_vector(trees) - observed).pow(2).mean(dim=-1)
            baseline = (errors.sum() - errors) / (cfg.samples - 1)  # leave-one-out: unbiased
            objective = ((errors - baseline) * tree_log_prob(trees, self.scores, 1.0)).mean()
        else:
            perturbed = perturb_scores(self.scores.expand(cfg.samples, -1, -1), self._samples)
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


def split_by_estimator(items: Iterable[tuple[str, TreeProgress]]) -> dict[str, list[TreeProgress]]:
    """`learn_estimators` output as one progress list per estimator, in the order they ran."""
    histories: dict[str, list[TreeProgress]] = {}
    for name, progress in items:
        histories.setdefault(name, []).append(progress)
    return histories
