"""A training step's batch means: what both the hand-written and the autograd step return."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StepLosses:
    """One step's batch means: the relaxed objective the gradient sees, the objective of an
    exact one-hot sample from q, and the relaxed objective's two terms."""

    relaxed: float
    unrelaxed: float
    kl: float
    reconstruction: float

    def __add__(self, other: StepLosses) -> StepLosses:
        return StepLosses(
            self.relaxed + other.relaxed,
            self.unrelaxed + other.unrelaxed,
            self.kl + other.kl,
            self.reconstruction + other.reconstruction,
        )

    def __truediv__(self, count: float) -> StepLosses:
        return StepLosses(self.relaxed / count, self.unrelaxed / count, self.kl / count, self.reconstruction / count)
