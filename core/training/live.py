"""A training run as a page watches it, wherever it trains: `LiveRun` is the server's side of a
run, shared by a run in a local process (`core.training.run.TrainingRun`) and a run on a Ray
cluster (`core.training.remote.RayTrainingRun`). It waits for a slot in the server's line
(`core.runtime.slots`) when every slot is busy, applies the messages the training side sends
(`core.training.reporter`) to a bounded, locked history, and hands a page a `RunSnapshot`;
pause, resume, stop and τ / learning-rate changes go the other way, between steps. A watchdog
stops a run nobody has polled for `abandon_after` seconds (its visitor has gone), in line too."""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self, TypedDict

import torch

from core.guards import eval_mode, positive_number
from core.gumbel import one_hot_argmax
from core.runtime.jobs import JobThread, Status, StopFlag
from core.runtime.slots import Place, RunSlots, Ticket
from core.training.config import TrainConfig
from core.training.loop import CHANGEABLE, Change, EpochMetrics, StepMetrics
from core.vae import CategoricalVAE

# Steps travel to the server in batches: one message per FLUSH_SECONDS keeps the page's side
# (which needs the page process's interpreter lock) cheap at any step rate.
FLUSH_SECONDS = 0.1
# How often the server's side looks for messages, at the watchdog and at its turn in line.
POLL_SECONDS = 0.25


class ResumeFlag(Protocol):
    """Set while a run may step: a threading.Event, or a multiprocessing one a child also sees."""

    def set(self) -> None: ...

    def clear(self) -> None: ...

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


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


@dataclass(frozen=True)
class RunSnapshot:
    """A consistent copy of a run's state, safe to read from any thread."""

    status: Status
    step: int
    total_steps: int
    epoch: int
    steps: list[StepMetrics]
    epochs: list[EpochMetrics]
    preview: Preview | None
    checkpoint: Path | None
    error: str | None
    elapsed_seconds: float
    stalled_seconds: float = 0.0  # since the last step arrived, while running
    abandoned: bool = False  # stopped by the watchdog: nobody polled it for too long
    notices: tuple[str, ...] = ()  # what the run store's quota deleted when this run was saved
    changes: list[Change] = field(default_factory=list)  # τ or lr changed mid-run, at the step it took effect
    precision: str = ""  # the products' precision and why, e.g. "bf16 (auto: ...)"; "" until the run decides
    place: Place | None = None  # its place in the server's line while queued
    began: bool = True  # it got a slot and started (False: it ended while still in line)
    where: str = ""  # where it trains, once known: "Ray node 10.0.0.7 (host)"; empty for a local run

    @property
    def done(self) -> bool:
        """Ended, as of this snapshot: decide from it, not from the live run, which may end between."""
        return self.status.ended

    @property
    def progress(self) -> float:
        return self.step / self.total_steps if self.total_steps else 0.0

    @property
    def images_per_second(self) -> float:
        return self.steps[-1].images_per_second if self.steps else 0.0

    @property
    def seconds_left(self) -> float | None:
        if not self.steps or self.status not in (Status.RUNNING, Status.PAUSED):
            return None
        per_step = self.elapsed_seconds / max(self.step, 1)
        return per_step * (self.total_steps - self.step)


class RunOptions(TypedDict, total=False):
    """What a page says of any live run, wherever it trains: where its record goes
    (`checkpoint_dir`, `name`), the steps it keeps (`history`), the server's line (`slots`),
    the record's extra `metadata`, and how long it lives unwatched (`abandon_after`)."""

    checkpoint_dir: str | Path | None
    name: str | None
    history: int
    slots: RunSlots | None
    metadata: dict | None
    abandon_after: float | None


class LiveRun(JobThread):
    """The server's side of a training run: its line, its history, its controls, its watchdog.

    Subclasses say how the run trains (`_train`, called on this object's thread once the run has
    its slot, which applies the training side's messages with `_apply` and calls
    `_check_abandoned` while it waits) and how a τ / learning-rate change reaches it
    (`_send_change`); `_close` frees what they hold when the thread ends."""

    def __init__(
        self,
        config: TrainConfig,
        *,
        train_images: int,
        stop_flag: StopFlag,
        resume_flag: ResumeFlag,
        checkpoint_dir: str | Path | None = None,
        name: str | None = None,
        history: int = 5000,
        slots: RunSlots | None = None,
        metadata: dict | None = None,
        abandon_after: float | None = None,
    ) -> None:
        self.config = config
        self.name = name or time.strftime("run-%Y%m%d-%H%M%S")
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.metadata = metadata or {}
        self.abandon_after = abandon_after
        super().__init__(f"watching-{self.name}", stop_flag=stop_flag)
        self._resume = resume_flag
        self._resume.set()
        self._steps: deque[StepMetrics] = deque(maxlen=history)
        self._changes: list[Change] = []
        self._epochs: list[EpochMetrics] = []
        self._preview: Preview | None = None
        self._checkpoint: Path | None = None
        self._abandoned = False
        self._notices: list[str] = []
        self._where = ""
        self._step = 0
        self._epoch = 0
        self._total = 0
        self._precision = ""
        self._paused_at: float | None = None
        self._paused_for = 0.0
        self._last_step_at = 0.0
        self._polled = 0.0
        self._slots = slots
        self._ticket: Ticket | None = None
        self._work = config.images_to_train(train_images)

    @property
    def record_path(self) -> Path | None:
        """Where the run's record goes in the run store (its `.pt`; the `.json` beside it)."""
        return self.checkpoint_dir / f"{self.name}.pt" if self.checkpoint_dir else None

    # --- what a page calls ------------------------------------------------------------------

    def start(self) -> Self:
        """Take a run slot, or a place in the server's line when none is free (and then wait,
        queued, for its turn); the run starts training once it has its slot."""
        self._last_step_at = self._polled = time.perf_counter()
        if self._slots is not None:
            self._ticket = self._slots.request(self.name, self._work, self._images_done)
            if not self._ticket.granted:
                return self._start_thread(Status.QUEUED)
        return super().start()

    def pause(self) -> None:
        with self._lock:
            if self._status == Status.RUNNING:
                self._status = Status.PAUSED
                self._paused_at = time.perf_counter()
                self._resume.clear()

    def resume(self) -> None:
        with self._lock:
            if self._status == Status.PAUSED:
                self._status = Status.RUNNING
                self._unpause()
                self._last_step_at = time.perf_counter()  # the stall clock counts from Resume, not the pause
                self._resume.set()

    def stop(self) -> None:
        """Ask the run to stop after its current step (a paused run too); it saves where it is.
        A run still in line leaves it at once."""
        super().stop()
        self._resume.set()
        if self._ticket is not None and not self._ticket.granted:
            self._leave_line()

    def change(self, name: str, value: float) -> None:
        """Change τ or the learning rate while the run trains, without a restart: the training
        side picks the value up before its next step and reports the step, which the history records."""
        if name not in CHANGEABLE:
            raise ValueError(f"only {' and '.join(CHANGEABLE)} can change during a run, not {name!r}.")
        value = positive_number(value, "the temperature tau" if name == "tau" else "the learning rate")
        if not self.done:
            self._send_change(name, float(value))

    def set_tau(self, value: float) -> None:
        self.change("tau", value)

    def set_lr(self, value: float) -> None:
        self.change("lr", value)

    def snapshot(self) -> RunSnapshot:
        """The run's state now; every call also tells the watchdog someone is watching."""
        ticket = self._ticket
        place = self._slots.place(ticket) if self._slots is not None and ticket is not None else None
        now = time.perf_counter()
        with self._lock:
            self._polled = now
            paused = (now - self._paused_at) if self._paused_at is not None else 0.0
            elapsed = (now - self._started - self._paused_for - paused) if self._started else 0.0
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
                stalled_seconds=now - self._last_step_at if self._status == Status.RUNNING else 0.0,
                abandoned=self._abandoned,
                notices=tuple(self._notices),
                changes=list(self._changes),
                precision=self._precision,
                place=place if self._status == Status.QUEUED else None,
                began=self._started is not None,
                where=self._where,
            )

    # --- the server's side: this object's thread ------------------------------------------

    def _run(self) -> None:
        try:
            if self._wait_for_turn():
                self._train()
        finally:
            self._close()
            self._leave_line()

    def _train(self) -> None:
        raise NotImplementedError

    def _send_change(self, name: str, value: float) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        """Free what the subclass holds once the run has ended (or left the line)."""

    def _wait_for_turn(self) -> bool:
        """Wait in the server's line until a slot is this run's; False when it was stopped (or
        abandoned: nobody polls it) first, which ends it stopped with nothing trained."""
        ticket = self._ticket
        if ticket is None or ticket.granted:
            return True
        while not ticket.wait(POLL_SECONDS) and not self._stop_asked.is_set():
            self._check_abandoned()
        if self._stop_asked.is_set():
            self._end(Status.STOPPED)
            return False
        self._begin()
        with self._lock:
            self._last_step_at = time.perf_counter()
        return True

    def _apply(self, message: tuple[Any, ...]) -> None:
        """One message from the training side (`core.training.reporter`), or the run's end."""
        kind, *payload = message
        with self._lock:
            if kind == "total":
                self._total, self._precision = payload
            elif kind == "steps":
                self._steps.extend(payload[0])
                self._step, self._epoch = payload[0][-1].step, payload[0][-1].epoch
                self._last_step_at = time.perf_counter()
            elif kind == "epoch":
                metrics, images = payload
                self._epochs.append(metrics)
                self._preview = Preview(
                    metrics.epoch, *(torch.tensor(a) for a in images)
                )  # a copy: Ray's arrays are read-only
            elif kind == "notices":
                self._notices.extend(payload[0])
            elif kind == "change":
                self._changes.append(payload[0])
            elif kind == "where":
                (self._where,) = payload
            elif kind == "end":
                status, self._checkpoint = payload
                self._status = Status(status)
                self._unpause()
            else:  # "failed"
                self._status, self._error = Status.FAILED, payload[0]

    def _fail(self, error: str) -> None:
        """End the run failed, unless it has already ended."""
        with self._lock:
            if not self.done:
                self._status, self._error = Status.FAILED, error
            self._unpause()

    def _check_abandoned(self) -> None:
        if self.abandon_after is None or self._stop_asked.is_set():
            return
        with self._lock:
            if time.perf_counter() - self._polled > self.abandon_after:
                self._abandoned = True
                self.stop()

    def _unpause(self) -> None:
        if self._paused_at is not None:
            self._paused_for += time.perf_counter() - self._paused_at
            self._paused_at = None

    def _images_done(self) -> float:
        """For the line's estimate: read without the lock (it is asked while others hold theirs)."""
        return float(self._step * self.config.batch_size)

    def _leave_line(self) -> None:
        if self._slots is not None and self._ticket is not None:
            self._slots.leave(self._ticket)
