"""A run's state at the end of an epoch, saved beside its record so that a run that was
stopped or killed continues where it was: `python -m core.training --resume` and
`python -m scripts.reproduce_jang --converged` call it. The state holds everything the next
steps depend on (weights, Adam's moments, the step, every random stream's position, the
learning rate and τ changes, the validation's best weights, the history), so a resumed run
takes the very steps the uninterrupted one would have taken."""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from core.training.loop import Change, EpochMetrics, Trainer

STATE_FORMAT = "gumbel-lab/train-state/1"


def state_path(record: str | os.PathLike) -> Path:
    """Where the state of the run recorded at `record` (its `.pt`) is kept: `<name>.state.pt`."""
    record = Path(record)
    return record.with_name(f"{record.name.removesuffix('.pt')}.state.pt")


def save_state(trainer: Trainer, epochs: list[EpochMetrics], path: Path, wall_seconds: float) -> None:
    """Write the trainer's state at an epoch's end atomically (a temporary file, then a rename)."""
    state = {
        "format": STATE_FORMAT,
        "config": trainer.config.to_dict(),
        "step": trainer.step,
        "epoch": trainer.epoch,
        "optimizer": trainer.optimizer.state_dict(),
        "streams": {name: getattr(trainer, name).get_state() for name in ("noise", "shuffle", "binarizer")},
        "tau_override": trainer.tau_override,
        "lr_override": trainer.lr_override,
        "changes": [asdict(c) for c in trainer.changes],
        "selection": trainer.selection.state_dict() if trainer.selection is not None else None,
        "epochs": [asdict(e) for e in epochs],
        "wall_seconds": wall_seconds,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as f:
            torch.save(state, f)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def load_state(trainer: Trainer, path: Path) -> tuple[list[EpochMetrics], float]:
    """Put a freshly built trainer where the saved run was; return its epochs and its wall time
    so far. A state saved under other settings is refused: it belongs to another run."""
    try:
        state = torch.load(path, weights_only=True)
    except Exception as err:  # unreadable or foreign: resuming from it would be a guess
        why = type(err).__name__
        raise ValueError(f"{path} is not a readable training state ({why}); delete it to start afresh.") from err
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError(f"{path} is not a training state of this version; delete it to start afresh.")
    if state["config"] != trainer.config.to_dict():
        raise ValueError(f"{path} was saved by a run with other settings; delete it or train under another name.")
    trainer.optimizer.load_state_dict(state["optimizer"])
    for name, stream in state["streams"].items():
        getattr(trainer, name).set_state(stream)
    trainer.step, trainer.epoch = state["step"], state["epoch"]
    trainer.tau_override, trainer.lr_override = state["tau_override"], state["lr_override"]
    trainer.changes = [Change(**c) for c in state["changes"]]
    if trainer.selection is not None:
        trainer.selection.load_state_dict(state["selection"])
    return [EpochMetrics(**e) for e in state["epochs"]], float(state["wall_seconds"])
