"""Learning to sort lists of numbers with Gumbel-Sinkhorn, in a few seconds on a CPU.

Every random draw of a run comes from its own stream of the run's seed (`core.seeds`): the
test lists, the initial weights, the training lists and the Gumbel noise. So a wider or
narrower network trains and is tested on the same lists, and no draw shifts another.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from core import seeds
from core.guards import whole_number
from core.gumbel import check_tau
from core.progress import report_chunks
from core.structures.permutations import gumbel_sinkhorn, matching, sinkhorn

TEST_STREAM = "sorting: test lists"
INIT_STREAM = "sorting: initial weights"
TRAINING_STREAM = "sorting: training lists"
NOISE_STREAM = "sorting: noise"


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
            ("seed", 0),
        ):
            whole_number(getattr(self, name), name, minimum=least)
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
        self.test_values = torch.rand(config.test_lists, config.n, generator=seeds.generator(config.seed, TEST_STREAM))
        self.net = nn.Sequential(nn.Linear(1, config.hidden), nn.ReLU(), nn.Linear(config.hidden, config.n))
        self._init_parameters(seeds.generator(config.seed, INIT_STREAM))
        self._training_lists = seeds.generator(config.seed, TRAINING_STREAM)
        self._noise = seeds.generator(config.seed, NOISE_STREAM)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.step = 0

    def _init_parameters(self, generator: torch.Generator) -> None:
        """PyTorch's default uniform(+-1/sqrt(fan_in)) init, drawn from the run's init stream."""
        with torch.no_grad():
            for layer in self.net:
                if isinstance(layer, nn.Linear):
                    bound = 1 / math.sqrt(layer.in_features)
                    layer.weight.uniform_(-bound, bound, generator=generator)
                    layer.bias.uniform_(-bound, bound, generator=generator)

    def scores(self, values: torch.Tensor) -> torch.Tensor:
        """Scores (..., n, n): entry [i, j] says how well number i fits position j."""
        return self.net(values.unsqueeze(-1))

    def training_lists(self) -> torch.Tensor:
        """The next batch of training lists (batch_size, n), uniform on [0, 1), from their own
        stream: the same lists whatever the network's width or the noise draws."""
        return torch.rand(self.config.batch_size, self.config.n, generator=self._training_lists)

    def train_step(self) -> float:
        """One update on a fresh batch; returns its loss."""
        cfg = self.config
        values = self.training_lists()
        soft = gumbel_sinkhorn(self.scores(values), cfg.tau, cfg.sinkhorn_iters, cfg.noise_scale, generator=self._noise)
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
