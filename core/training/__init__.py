"""The training engine, one module a job: `config` (what a run is asked to do), `loop` (the
step loop as events), `losses` (a step's batch means), `backprop` (the relaxed step's backward
pass by hand), `adam` (Adam over one flat buffer), `run` (a run in a worker thread, its slots
and snapshots) and `curves` (metrics made ready to draw)."""

from core.training.config import ANNEAL_EVERY, ANNEAL_RATE, ESTIMATORS, TemperatureSchedule, TrainConfig
from core.training.curves import TrainingCurves, smooth, training_curves
from core.training.loop import CHANGEABLE, Change, EpochMetrics, StepMetrics, Trainer
from core.training.losses import StepLosses
from core.training.record import RunRecorder, checkpoint_metadata
from core.training.run import (
    Preview,
    RunSlots,
    RunSnapshot,
    TooManyRunsError,
    TrainingRun,
    make_preview,
)

__all__ = [
    "ANNEAL_EVERY",
    "ANNEAL_RATE",
    "CHANGEABLE",
    "ESTIMATORS",
    "Change",
    "EpochMetrics",
    "Preview",
    "RunRecorder",
    "RunSlots",
    "RunSnapshot",
    "StepLosses",
    "StepMetrics",
    "TemperatureSchedule",
    "TooManyRunsError",
    "TrainConfig",
    "Trainer",
    "TrainingCurves",
    "TrainingRun",
    "checkpoint_metadata",
    "make_preview",
    "smooth",
    "training_curves",
]
