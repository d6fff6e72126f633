"""A training run in its own process: pause, resume and stop as flags checked between steps,
a bounded and locked history a page polls, per-epoch previews, a checkpoint when it ends, a
watchdog for runs nobody polls any more, and a place in the server's line of runs
(`core.runtime.slots`) when every slot is busy.

Why a process (issue 16): torch releases the interpreter lock around every op, so a training
thread re-queues for it ~100 times a step; while a page thread holds it (Streamlit's full
garbage collection after each rerun takes ~0.1 s on the server's heap, plotly figures are
pure Python) each step waits behind it: two runs beside six page threads fell from ~6,000
to 0-14 images/s (`python -m benchmarks.busy_server`). A child has its own interpreter lock."""

from __future__ import annotations

import gc
import math
import multiprocessing
import os
import queue
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import torch

from core.data import MNISTSplit
from core.guards import eval_mode, positive_number, whole_number
from core.gumbel import one_hot_argmax
from core.runtime.jobs import JobThread, Status
from core.runtime.slots import Place, RunSlots, Ticket
from core.runtime.threads import ThreadPolicy
from core.store.runs import RunStore
from core.training.config import TrainConfig
from core.training.loop import CHANGEABLE, Change, EpochMetrics, StepMetrics, Trainer
from core.training.record import RunRecorder
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
    place: Place | None = None  # its place in the server's line while queued
    began: bool = True  # it got a slot and started (False: it ended while still in line)

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


# Steps travel to the parent in batches: one message per FLUSH_SECONDS keeps the page's side
# of the pipe (which needs the page process's interpreter lock) cheap at any step rate.
FLUSH_SECONDS = 0.1
# How often the parent side looks at the child and the watchdog when no message comes.
POLL_SECONDS = 0.25


@dataclass(frozen=True)
class _Inputs:
    """What the child needs; the parent drops it once the child has its forked copy."""

    train: MNISTSplit
    test: MNISTSplit
    preview_x: torch.Tensor


class TrainingRun(JobThread):
    """A training run in its own process, so no page thread can slow it down: a
    `core.runtime.jobs.Job` whose thread forks the process and keeps what it reports.

    The child (forked, so it shares the server's MNIST tensors copy-on-write) runs
    `Trainer.events()` with `threads` torch threads (None: as many as the cores other
    processes leave free, at most `max_threads`, re-counted as it runs; `core.runtime.threads`) and
    sends metrics, previews and its end through a queue; a thread on the parent side keeps
    the bounded history a page polls.
    Pause, resume and stop are flags the child checks between steps. When the run ends
    (finished or stopped, after at least one step) the child saves the model as a checkpoint
    in `checkpoint_dir`, atomically. A child that dies leaves the run "failed" with a message.
    With `abandon_after` set, a run nobody has polled (`snapshot()`) for that many seconds is
    stopped and saved, and its slot freed: its visitor has gone.
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
        threads: int | None = None,
        max_threads: int | None = None,
        abandon_after: float | None = None,
    ) -> None:
        self.config = config
        self.name = name or time.strftime("run-%Y%m%d-%H%M%S")
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.metadata = metadata or {}
        self.threads = whole_number(threads, "threads", 1) if threads is not None else None
        self.max_threads = whole_number(max_threads, "max_threads", 1) if max_threads is not None else None
        self.abandon_after = abandon_after
        context = multiprocessing.get_context("fork")  # the page's data, shared, and no torch re-import
        super().__init__(f"watching-{self.name}", stop_flag=context.Event())
        self._inputs: _Inputs | None = _Inputs(train, test, test.subset(config.test_subset).pixels()[:preview_digits])
        self._steps: deque[StepMetrics] = deque(maxlen=history)
        self._changes: list[Change] = []
        self._epochs: list[EpochMetrics] = []
        self._resume = context.Event()
        self._resume.set()
        # child -> parent. A pipe, not a Queue: once the parent has closed its copy of the write
        # end, a child killed in the middle of a message (a preview is larger than the pipe's
        # buffer) reads as EOF, where a Queue's reader would wait for the rest of it forever.
        self._receiver, self._sender = context.Pipe(duplex=False)
        self._controls = context.Queue()  # parent -> child: ("tau" | "lr", value), applied between steps
        self._process = context.Process(target=self._child, name=f"training-{self.name}", daemon=True)
        self._preview: Preview | None = None
        self._checkpoint: Path | None = None
        self._abandoned = False
        self._notices: list[str] = []
        self._step = 0
        self._epoch = 0
        self._total = 0
        self._paused_at: float | None = None
        self._paused_for = 0.0
        self._last_step_at = 0.0
        self._polled = 0.0
        self._slots = slots
        self._ticket: Ticket | None = None
        self._work = config.images_to_train(len(train))

    def start(self) -> Self:
        """Take a run slot, or a place in the server's line when none is free (and then wait,
        queued, for its turn); the process is forked once the run has its slot."""
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
                self._resume.set()

    def stop(self) -> None:
        """Ask the run to stop after its current step (a paused run too); it saves where it is.
        A run still in line leaves it at once."""
        super().stop()
        self._resume.set()
        if self._ticket is not None and not self._ticket.granted:
            self._leave_line()

    def change(self, name: str, value: float) -> None:
        """Change τ or the learning rate while the run trains, without a restart: the child picks
        the value up before its next step and reports the step, which the history records."""
        if name not in CHANGEABLE:
            raise ValueError(f"only {' and '.join(CHANGEABLE)} can change during a run, not {name!r}.")
        value = positive_number(value, "the temperature tau" if name == "tau" else "the learning rate")
        if not self.done:
            self._controls.put((name, float(value)))

    def set_tau(self, value: float) -> None:
        self.change("tau", value)

    def set_lr(self, value: float) -> None:
        self.change("lr", value)

    @property
    def pid(self) -> int | None:
        """The training process's id (None before start)."""
        return self._process.pid

    @property
    def exitcode(self) -> int | None:
        """The training process's exit status; None while it runs or before it starts."""
        return self._process.exitcode

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
                place=place if self._status == Status.QUEUED else None,
                began=self._started is not None,
            )

    def _images_done(self) -> float:
        """For the line's estimate: read without the lock (it is asked while others hold theirs)."""
        return float(self._step * self.config.batch_size)

    def _leave_line(self) -> None:
        if self._slots is not None and self._ticket is not None:
            self._slots.leave(self._ticket)

    def _unpause(self) -> None:
        if self._paused_at is not None:
            self._paused_for += time.perf_counter() - self._paused_at
            self._paused_at = None

    # --- the parent side: a thread that reads the child's messages -----------------------

    def _run(self) -> None:
        """Fork the child from this fresh thread, then apply its messages until it exits.

        A child forked by a thread that has run an OpenMP region (any large torch op, as the
        page's script threads do) hangs in its own first one: libgomp's pool does not survive
        the fork. This thread never runs torch, so the child may use several threads.
        """
        try:
            if not self._wait_for_turn():
                return
            try:
                self._process.start()
            except OSError as err:  # out of memory or processes
                with self._lock:
                    self._status, self._error = Status.FAILED, f"could not start the training process ({err})"
                return
            self._inputs = None  # the child has its copy; this side holds no data
            self._sender.close()  # the child's is now the only write end
            while self._process.is_alive():
                self._receive(POLL_SECONDS)
                self._check_abandoned()
            self._process.join()
            while not self.done and self._receive(0.5):  # what the child sent just before it exited
                pass
            with self._lock:
                if not self.done:
                    self._status = Status.FAILED
                    self._error = f"the training process ended unexpectedly (exit code {self._process.exitcode})"
                    if self.record_path is not None and self.record_path.with_suffix(".json").exists():
                        RunStore().fail(self.record_path, self._error)
                self._unpause()
        finally:
            self._inputs = None  # a run stopped in line never forked: drop its share of the data too
            self._receiver.close()
            self._controls.close()
            self._leave_line()

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

    def _receive(self, timeout: float) -> bool:
        """Apply one message from the child; False when none came within `timeout`, or when
        the child has gone (then after waiting up to `timeout` for its process to exit)."""
        try:
            if not self._receiver.poll(timeout):
                return False
            kind, *payload = self._receiver.recv()
        except (EOFError, OSError):  # the child has exited, perhaps in the middle of a message
            self._process.join(timeout)
            return False
        with self._lock:
            if kind == "total":
                (self._total,) = payload
            elif kind == "steps":
                self._steps.extend(payload[0])
                self._step, self._epoch = payload[0][-1].step, payload[0][-1].epoch
                self._last_step_at = time.perf_counter()
            elif kind == "epoch":
                metrics, images = payload
                self._epochs.append(metrics)
                self._preview = Preview(metrics.epoch, *(torch.from_numpy(a) for a in images))
            elif kind == "notices":
                self._notices.extend(payload[0])
            elif kind == "change":
                self._changes.append(payload[0])
            elif kind == "end":
                status, self._checkpoint = payload
                self._status = Status(status)
                self._unpause()
            else:  # "failed"
                self._status, self._error = Status.FAILED, payload[0]
        return True

    def _check_abandoned(self) -> None:
        if self.abandon_after is None or self._stop_asked.is_set():
            return
        with self._lock:
            if time.perf_counter() - self._polled > self.abandon_after:
                self._abandoned = True
                self.stop()

    # --- the child ------------------------------------------------------------------------

    def _child(self) -> None:
        """Train, report and keep the run's record in the store; runs in the forked process."""
        gc.freeze()  # the server's heap came along: never walk it, never copy it
        threads = ThreadPolicy(self.threads, self.max_threads)
        threads.start()  # building the trainer is the first measuring interval
        send = self._sender.send
        server = os.getppid()
        path = self.record_path
        recorder = RunRecorder(path, {"name": self.name, **self.metadata}) if path else None
        try:
            assert self._inputs is not None
            trainer = Trainer(self.config, self._inputs.train, self._inputs.test)
            threads.choose()
            if recorder:
                recorder.metadata["threads"] = threads.describe()
                recorder.start(trainer)
            send(("total", trainer.total_steps))
            pending: list[StepMetrics] = []
            flushed = time.perf_counter()

            def flush() -> None:
                nonlocal pending, flushed
                if pending:
                    send(("steps", pending))
                pending, flushed = [], time.perf_counter()

            for event in threads.follow(trainer.events()):
                if isinstance(event, StepMetrics):
                    pending.append(event)
                    if time.perf_counter() - flushed >= FLUSH_SECONDS:
                        flush()
                else:
                    flush()
                    self._epochs.append(event)
                    if recorder:
                        recorder.epoch(trainer, self._epochs)
                    preview = make_preview(
                        trainer.model, self._inputs.preview_x, event.epoch, seed=self.config.stream_seed("preview")
                    )
                    images = (preview.originals, preview.reconstructions, preview.prior_samples)
                    send(("epoch", event, tuple(t.numpy() for t in images)))
                for change in self._take_changes(trainer):
                    flush()  # the steps before it first, so the page sees them in order
                    send(("change", change))
                if not self._resume.is_set():
                    flush()
                    while not self._resume.wait(POLL_SECONDS) and os.getppid() == server:
                        pass
                if self._stop_asked.is_set() or os.getppid() != server:  # stopped, or the server is gone
                    break
            flush()
            status = Status.STOPPED if self._stop_asked.is_set() else Status.FINISHED
            saved = recorder.end(trainer, self._epochs, status) if recorder else None
            if recorder and recorder.notices:
                send(("notices", recorder.notices))
            send(("end", status, saved))
        except Exception as err:  # the page shows it; the run must not end silently
            message = f"{type(err).__name__}: {err}"
            if recorder:
                recorder.fail(message)
            send(("failed", message))

    @property
    def record_path(self) -> Path | None:
        """Where the run's record goes in the run store (its `.pt`; the `.json` beside it)."""
        return self.checkpoint_dir / f"{self.name}.pt" if self.checkpoint_dir else None

    def _take_changes(self, trainer: Trainer) -> list[Change]:
        """Apply the settings the page changed since the last step (in the child)."""
        made: list[Change] = []
        while True:
            try:
                name, value = self._controls.get_nowait()
            except queue.Empty:
                return made
            made.append(trainer.change(name, value))
