"""A training run in a worker thread that never touches the UI: pause, resume and stop as
flags checked between steps, a bounded and locked history a page polls, per-epoch previews,
a checkpoint when it ends, and a server-wide cap on concurrent runs."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from core.checkpoints import save_checkpoint
from core.data import MNISTSplit
from core.evaluation import exact_sample_objective
from core.guards import eval_mode, whole_number
from core.gumbel import one_hot_argmax
from core.training.config import TrainConfig
from core.training.loop import EpochMetrics, StepMetrics, Trainer
from core.vae import CategoricalVAE


@dataclass(frozen=True)
class Preview:
    """Images a page shows after an epoch: fixed test digits, their decodings, prior samples."""

    epoch: int
    originals: torch.Tensor
    reconstructions: torch.Tensor
    prior_samples: torch.Tensor


def make_preview(model: CategoricalVAE, x: torch.Tensor, epoch: int, n_prior: int = 64, seed: int = 0) -> Preview:
    """Decodings of `x` through the mode of q, and of n_prior codes from the uniform prior."""
    device = next(model.parameters()).device
    generator = torch.Generator(device).manual_seed(seed)
    with eval_mode(model):
        x = x.to(device)
        recon = model.decode(one_hot_argmax(model.encode(x)))
        prior = model.decode(model.random_codes(n_prior, generator))
    side = round(math.sqrt(x.shape[-1] if x.dim() == 2 else x[0].numel()))
    shape = (-1, side, side)
    return Preview(epoch, x.reshape(shape).cpu(), recon.reshape(shape).cpu(), prior.reshape(shape).cpu())


class TooManyRunsError(RuntimeError):
    """The server already carries as many training runs as it allows."""


class RunSlots:
    """A fixed number of concurrent runs for a whole server; a run holds one until it ends."""

    def __init__(self, limit: int) -> None:
        self.limit = whole_number(limit, "the run limit", 1)
        self._semaphore = threading.BoundedSemaphore(limit)

    def acquire(self) -> None:
        if not self._semaphore.acquire(blocking=False):
            raise TooManyRunsError(
                f"The server is already training {self.limit} model(s), its limit. "
                "Try again when a run has finished, or stop one of yours."
            )

    def release(self) -> None:
        self._semaphore.release()


@dataclass(frozen=True)
class RunSnapshot:
    """A consistent copy of a run's state, safe to read from any thread."""

    status: str
    step: int
    total_steps: int
    epoch: int
    steps: list[StepMetrics]
    epochs: list[EpochMetrics]
    preview: Preview | None
    checkpoint: Path | None
    error: str | None
    elapsed_seconds: float

    @property
    def progress(self) -> float:
        return self.step / self.total_steps if self.total_steps else 0.0

    @property
    def images_per_second(self) -> float:
        return self.steps[-1].images_per_second if self.steps else 0.0

    @property
    def seconds_left(self) -> float | None:
        if not self.steps or self.status not in ("running", "paused"):
            return None
        per_step = self.elapsed_seconds / max(self.step, 1)
        return per_step * (self.total_steps - self.step)


class TrainingRun:
    """A training run in a worker thread that never touches the UI.

    Pause, resume and stop are flags checked between steps. When the run ends (finished or
    stopped, after at least one step) the model is saved as a checkpoint in `checkpoint_dir`.
    """

    def __init__(
        self,
        config: TrainConfig,
        train: MNISTSplit,
        test: MNISTSplit,
        *,
        checkpoint_dir: str | Path | None = None,
        name: str | None = None,
        history: int = 5000,
        preview_digits: int = 8,
        slots: RunSlots | None = None,
        metadata: dict | None = None,
    ) -> None:
        self.config = config
        self.name = name or time.strftime("run-%Y%m%d-%H%M%S")
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.metadata = metadata or {}
        self._train, self._test = train, test
        self._preview_x = test.subset(config.test_subset).pixels()[:preview_digits]
        self._steps: deque[StepMetrics] = deque(maxlen=history)
        self._epochs: list[EpochMetrics] = []
        self._lock = threading.Lock()
        self._resume = threading.Event()
        self._resume.set()
        self._stop = threading.Event()
        self._status = "pending"
        self._preview: Preview | None = None
        self._checkpoint: Path | None = None
        self._error: str | None = None
        self._step = 0
        self._epoch = 0
        self._total = 0
        self._started: float | None = None
        self._paused_for = 0.0
        self._slots = slots
        self._thread = threading.Thread(target=self._work, name=f"training-{self.name}", daemon=True)

    def start(self) -> TrainingRun:
        if self._slots is not None:
            self._slots.acquire()
        self._status = "running"
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def pause(self) -> None:
        with self._lock:
            if self._status == "running":
                self._status = "paused"
                self._resume.clear()

    def resume(self) -> None:
        with self._lock:
            if self._status == "paused":
                self._status = "running"
                self._resume.set()

    def stop(self) -> None:
        self._stop.set()
        self._resume.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker; True when it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def done(self) -> bool:
        return self._status in ("finished", "stopped", "failed")

    def snapshot(self) -> RunSnapshot:
        with self._lock:
            elapsed = (time.perf_counter() - self._started - self._paused_for) if self._started else 0.0
            return RunSnapshot(
                self._status,
                self._step,
                self._total,
                self._epoch,
                list(self._steps),
                list(self._epochs),
                self._preview,
                self._checkpoint,
                self._error,
                elapsed,
            )

    def _wait_if_paused(self) -> None:
        if self._resume.is_set():
            return
        began = time.perf_counter()
        self._resume.wait()
        with self._lock:
            self._paused_for += time.perf_counter() - began

    def _work(self) -> None:
        try:
            trainer = Trainer(self.config, self._train, self._test)
            with self._lock:
                self._total = trainer.total_steps
            for event in trainer.events():
                with self._lock:
                    if isinstance(event, StepMetrics):
                        self._steps.append(event)
                        self._step, self._epoch = event.step, event.epoch
                    else:
                        self._epochs.append(event)
                if isinstance(event, EpochMetrics):
                    preview = make_preview(trainer.model, self._preview_x, event.epoch, seed=self.config.seed)
                    with self._lock:
                        self._preview = preview
                self._wait_if_paused()
                if self._stop.is_set():
                    break
            status = "stopped" if self._stop.is_set() else "finished"
            path = self._save(trainer, status)
            with self._lock:
                self._checkpoint, self._status = path, status
        except Exception as err:  # the page shows it; the thread must not die silently
            with self._lock:
                self._status, self._error = "failed", f"{type(err).__name__}: {err}"
        finally:
            if self._slots is not None:
                self._slots.release()

    def _save(self, trainer: Trainer, status: str) -> Path | None:
        if self.checkpoint_dir is None or trainer.step == 0:
            return None
        metadata = checkpoint_metadata(trainer, self._epochs, name=self.name, status=status, **self.metadata)
        return save_checkpoint(trainer.model, self.checkpoint_dir / f"{self.name}.pt", metadata)


def checkpoint_metadata(trainer: Trainer, epochs: list[EpochMetrics], **extra) -> dict:
    """What a checkpoint's side-file says of the run that made it."""
    last = epochs[-1] if epochs else None
    if last is None or last.step != trainer.step:  # stopped mid-epoch: measure where it is
        test = exact_sample_objective(trainer.model, trainer.x_test, seed=trainer.config.seed)
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
        "train_config": trainer.config.to_dict(),
        "data": {"dataset": "MNIST", "train_images": trainer.x_train.shape[0], "test_images": trainer.x_test.shape[0]},
        "epochs": trainer.epoch,
        "steps": trainer.step,
        "seed": trainer.config.seed,
        "final_metrics": final,
        "history": [asdict(e) for e in epochs],
    }
