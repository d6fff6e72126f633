"""One way every run is recorded in the run store (`core.store.runs`), whoever drives it: the Train
page's process, the CLI and a sweep's trials all wrap `Trainer.events()` in a `RunRecorder`,
so their records are identical — running at the start, history after every epoch, the
weights and final metrics (or the error) at the end."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from core.runtime.jobs import Status
from core.store.checkpoints import save_checkpoint
from core.store.runs import RunStore
from core.training.loop import EpochMetrics, Trainer


def checkpoint_metadata(trainer: Trainer, epochs: list[EpochMetrics], **extra) -> dict:
    """What a checkpoint's side-file says of the run that made it. A run that selected its
    weights on a validation split ends with them: its final metrics are those of the epoch
    whose end they had, measured on the same weights."""
    selection = trainer.selection
    chosen = selection.step if selection is not None and selection.restored else trainer.step
    last = next((e for e in reversed(epochs) if e.step == chosen), None)
    if last is None:  # stopped mid-epoch: measure where it is
        test = trainer.test_objective()
        final = {
            "epoch": trainer.epoch,
            "step": trainer.step,
            "test": test.total,
            "test_reconstruction": test.reconstruction,
            "test_kl": test.kl,
        }
    else:
        final = asdict(last)
    return {
        **extra,
        **_description(trainer),
        "epochs": trainer.epoch,
        "steps": trainer.step,
        "final_metrics": final,
        "history": [asdict(e) for e in epochs],
        "changes": [asdict(c) for c in trainer.changes],
    } | ({"selection": selection.summary()} if selection is not None else {})


def _description(trainer: Trainer) -> dict:
    return {
        "train_config": trainer.config.to_dict(),
        "data": {"dataset": "MNIST", "train_images": trainer.x_train.shape[0], "test_images": trainer.x_test.shape[0]},
        "precision": trainer.precision,
        "total_steps": trainer.total_steps,
    }


class RunRecorder:
    """A run's record in the store at `path` (its `.pt`; the `.json` beside it), kept current."""

    def __init__(self, path: str | Path, metadata: dict | None = None, store: RunStore | None = None) -> None:
        self.path = Path(path).with_suffix(".pt")
        self.metadata = metadata or {}
        self.store = store or RunStore()
        self.notices: list[str] = []

    def start(self, trainer: Trainer) -> None:
        self.store.begin(self.path, {**self.metadata, **_description(trainer), "epochs": 0, "steps": 0})

    def epoch(self, trainer: Trainer, epochs: list[EpochMetrics]) -> None:
        self.store.beat(self.path, history=[asdict(e) for e in epochs], epochs=trainer.epoch, steps=trainer.step)

    def end(self, trainer: Trainer, epochs: list[EpochMetrics], status: Status) -> Path | None:
        """Save the weights and the record atomically (None when no step was taken), then
        apply the store's quota; what it deleted is in `notices`."""
        if trainer.step == 0:
            self.store.close(self.path, status, error="stopped before its first step; nothing to save")
            return None
        metadata = checkpoint_metadata(trainer, epochs, **self.metadata) | self.store.ended_metadata(self.path, status)
        saved = save_checkpoint(trainer.model, self.path, metadata | {"name": self.path.stem})
        self.notices = self.store.enforce_quota(keep=self.path)
        return saved

    def fail(self, error: str) -> None:
        """The run failed (at any point, before its start's record too): say so, with its error."""
        self.store.fail(self.path, error, **self.metadata)
