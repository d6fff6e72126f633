"""Per-step metrics made ready to draw: smoothed, then thinned to a bounded number of points."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from core.training.loop import StepMetrics


def smooth(values: Sequence[float], weight: float = 0.9) -> list[float]:
    """Exponential moving average, debiased as in TensorBoard so the curve starts at the
    data rather than at 0; per-batch objectives are too noisy to read on a projector."""
    if not 0 <= weight < 1:
        raise ValueError(f"the smoothing weight must be in [0, 1), got {weight}.")
    out: list[float] = []
    average, decay = 0.0, 1.0
    for value in values:
        average = weight * average + (1 - weight) * value
        decay *= weight
        out.append(average / (1 - decay))
    return out


@dataclass(frozen=True)
class TrainingCurves:
    """Per-step metrics ready to draw: smoothed at full resolution, then thinned."""

    step: list[int]
    relaxed: list[float]
    unrelaxed: list[float]
    kl: list[float]
    reconstruction: list[float]
    tau: list[float]


def training_curves(steps: Sequence[StepMetrics], weight: float = 0.9, max_points: int = 500) -> TrainingCurves:
    """Smooth every step, then keep at most about max_points evenly spaced ones (always the
    first and the newest), so a page polling a long run draws a bounded number of points."""
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}.")
    n = len(steps)
    keep = list(range(0, n, math.ceil(n / max_points) or 1))
    if n and keep[-1] != n - 1:
        keep.append(n - 1)

    def series(name: str) -> list[float]:
        full = smooth([getattr(s, name) for s in steps], weight)
        return [full[i] for i in keep]

    return TrainingCurves(
        [steps[i].step for i in keep],
        series("relaxed"),
        series("unrelaxed"),
        series("kl"),
        series("reconstruction"),
        [steps[i].tau for i in keep],
    )
