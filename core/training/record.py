"""One way every run is recorded in the run store (`core.store.runs`), whoever drives it: the Train
page's process, the CLI and a sweep's trials all wrap `Trainer.events()` in a `RunRecorder`,
so their records are identical — running at the start, history after every epoch, the
weights and final metrics (or the error) at the end — and each has the same TensorBoard log
beside its record (`core.training.tensorboard_log`).

A run that trains on another machine (a Ray worker: `core.training.remote`, a sweep's trial)
writes nothing there: it sends `describe(trainer)` when it starts, its epochs as they end, and
`checkpoint_metadata` with `pack_weights` at the end, and the server's recorder writes them
(`begin`, `progress`, `save`) into the server's own store and TensorBoard log."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from core.runtime.jobs import Status
from core.store.checkpoints import PackedWeights, checkpoint_path, pack_weights, write_checkpoint
from core.store.runs import RunStore
from core.training.loop import EpochMetrics, Trainer
from core.training.tensorboard_log import TensorBoardLog


def checkpoint_metadata(trainer: Trainer, epochs: list[EpochMetrics], **extra) -> dict:
    """What a checkpoint's side-file says of the run that made it: what it was asked to do
    (its config) and what it did (epochs and steps run, the τ and learning rate it ended with,
    the changes made while it trained). A run that selected its weights on a validation split
    ends with them: its final metrics are those of the epoch whose end they had."""
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
        **describe(trainer),
        "epochs": trainer.epoch,
        "steps": trainer.step,
        "final_tau": trainer.tau_at(max(trainer.step - 1, 0)),  # what the last step used, changes included
        "final_lr": trainer.lr,
        "final_metrics": final,
        "history": [asdict(e) for e in epochs],
        "changes": [asdict(c) for c in trainer.changes],
    } | ({"selection": selection.summary()} if selection is not None else {})


def describe(trainer: Trainer) -> dict:
    """What a record says of a run from its start: its settings, data, precision and length."""
    return {
        "train_config": trainer.config.to_dict(),
        "data": {"dataset": "MNIST", "train_images": trainer.x_train.shape[0], "test_images": trainer.x_test.shape[0]},
        "precision": trainer.precision,
        "precision_reason": trainer.precision_choice.reason,
        "total_steps": trainer.total_steps,
    }


def run_hparams(description: dict, metadata: dict) -> dict[str, bool | int | float | str]:
    """A run's settings as TensorBoard hyperparameters, from its `describe(trainer)`: its training
    config (the model's sizes as model.<name>), the precision it ran in, its data's size and its
    preset; unset ones left out."""
    config = dict(description["train_config"])
    model = config.pop("model")
    settings = (
        config
        | {f"model.{name}": value for name, value in model.items()}
        | {
            "precision": description["precision"],
            "train_images": description["data"]["train_images"],
            "test_images": description["data"]["test_images"],
            "preset": metadata.get("preset"),
        }
    )
    return {
        name: str(value) if isinstance(value, list) else value for name, value in settings.items() if value is not None
    }


class RunRecorder:
    """A run's record in the store at `path` (its `.pt`; the `.json` beside it), kept current."""

    def __init__(self, path: str | Path, metadata: dict | None = None, store: RunStore | None = None) -> None:
        self.path = checkpoint_path(path)
        self.metadata = metadata or {}
        self.store = store or RunStore()
        self.notices: list[str] = []
        self.tensorboard = TensorBoardLog(self.path)

    def start(self, trainer: Trainer) -> None:
        self.begin(describe(trainer))

    def begin(self, description: dict) -> None:
        """The running record of a run that starts now, described by `describe(trainer)`."""
        self.store.begin(self.path, {**self.metadata, **description, "epochs": 0, "steps": 0})
        self.tensorboard.start(run_hparams(description, self.metadata))

    def epoch(self, trainer: Trainer, epochs: list[EpochMetrics]) -> None:
        self.progress([asdict(e) for e in epochs])

    def progress(self, history: list[dict]) -> None:
        """The history so far (each epoch's metrics as a dict), after an epoch."""
        self.store.beat(self.path, history=history, epochs=history[-1]["epoch"], steps=history[-1]["step"])
        self.tensorboard.epochs(history)

    def end(self, trainer: Trainer, epochs: list[EpochMetrics], status: Status) -> Path | None:
        """Save the weights and the record atomically (None when no step was taken), then
        apply the store's quota; what it deleted is in `notices`."""
        if trainer.step == 0:
            return self.save(None, {}, status)
        return self.save(pack_weights(trainer.model), checkpoint_metadata(trainer, epochs), status)

    def save(self, weights: PackedWeights | None, metadata: dict, status: Status) -> Path | None:
        """The end of a run trained here or elsewhere: its weights and `checkpoint_metadata`
        (None and {} when it took no step), saved as `end` says."""
        if weights is None:
            self.store.close(self.path, status, error="stopped before its first step; nothing to save")
            self.tensorboard.end(status)
            return None
        metadata = {**self.metadata, **metadata} | self.store.ended_metadata(self.path, status)
        saved = write_checkpoint(weights, self.path, metadata | {"name": self.path.stem})
        self.tensorboard.epochs(metadata["history"])
        self.tensorboard.end(status, metadata["final_metrics"], metadata["epochs"])
        self.notices = self.store.enforce_quota(keep=self.path)
        return saved

    def fail(self, error: str) -> None:
        """The run failed (at any point, before its start's record too): say so, with its error."""
        self.store.fail(self.path, error, **self.metadata)
        self.tensorboard.end(Status.FAILED)
