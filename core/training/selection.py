"""Model selection on a validation split: the m-sample bound measured on held-out training
images now and then, the weights with the best one kept, and early stopping when it stops
improving. A run's final figures are then those of the weights the validation chose, not of
the weights that happened to come last (a Gumbel-Softmax VAE trained long enough overfits)."""

from __future__ import annotations

import math

import torch


class Selection:
    """The lowest validation bound seen so far, the weights that had it, and when.

    `patience`: how many validations in a row may fail to improve on the best before the run
    should stop (None: never). The weights are one flat tensor (`FlatAdam.flat`), copied."""

    def __init__(self, patience: int | None = None) -> None:
        self.patience = patience
        self.bound = math.inf
        self.step = 0
        self.epoch = 0
        self.weights: torch.Tensor | None = None
        self.validations = 0
        self.since_best = 0
        self.last_step = 0  # the step of the latest validation
        self.restored = False

    def offer(self, bound: float, step: int, epoch: int, weights: torch.Tensor) -> bool:
        """Record a validation; keep a copy of `weights` when `bound` is the lowest yet (True)."""
        self.validations += 1
        self.last_step = step
        if not bound < self.bound:  # NaN never improves
            self.since_best += 1
            return False
        self.bound, self.step, self.epoch, self.since_best = bound, step, epoch, 0
        if self.weights is None:
            self.weights = weights.detach().clone()
        else:
            self.weights.copy_(weights)
        return True

    @property
    def exhausted(self) -> bool:
        """True once `patience` validations in a row have not improved on the best."""
        return self.patience is not None and self.since_best >= self.patience

    def restore(self, weights: torch.Tensor) -> None:
        """Write the best weights back into `weights` (nothing to do before any validation)."""
        if self.weights is not None:
            weights.copy_(self.weights)
            self.restored = True

    def summary(self) -> dict:
        """What a run's record says of its selection."""
        return {
            "best_step": self.step,
            "best_epoch": self.epoch,
            "validation_bound": self.bound,
            "validations": self.validations,
            "stopped_early": self.exhausted,
        }

    def state_dict(self) -> dict:
        return {
            "bound": self.bound,
            "step": self.step,
            "epoch": self.epoch,
            "weights": self.weights,
            "validations": self.validations,
            "since_best": self.since_best,
            "last_step": self.last_step,
        }

    def load_state_dict(self, state: dict) -> None:
        self.bound, self.step, self.epoch = state["bound"], state["step"], state["epoch"]
        self.weights = state["weights"]
        self.validations, self.since_best = state["validations"], state["since_best"]
        self.last_step = state["last_step"]
