"""A training run in its own process: the local `LiveRun` (`core.training.live`), whose thread
forks a child that trains and reports through a pipe (`core.training.reporter`), with pause,
resume and stop as flags the child checks between steps, and the child writing the run's
record into the store.

Why a process (issue 16): torch releases the interpreter lock around every op, so a training
thread re-queues for it ~100 times a step; while a page thread holds it (Streamlit's full
garbage collection after each rerun takes ~0.1 s on the server's heap, plotly figures are
pure Python) each step waits behind it: two runs beside six page threads fell from ~6,000
to 0-14 images/s (`python -m benchmarks.busy_server`). A child has its own interpreter lock."""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
from dataclasses import dataclass
from multiprocessing.queues import Queue
from typing import Unpack

import torch

from core.data import MNISTSplit
from core.guards import whole_number
from core.runtime.jobs import StopFlag
from core.runtime.threads import ThreadPolicy
from core.store.runs import RunStore
from core.training.config import TrainConfig
from core.training.live import POLL_SECONDS, LiveRun, ResumeFlag, RunOptions
from core.training.loop import Trainer
from core.training.record import RunRecorder
from core.training.reporter import report_training


@dataclass(frozen=True)
class _Inputs:
    """What the child needs; the parent drops it once the child has its forked copy."""

    train: MNISTSplit
    test: MNISTSplit
    preview_x: torch.Tensor


class TrainingRun(LiveRun):
    """A training run in its own process, so no page thread can slow it down: a
    `core.runtime.jobs.Job` whose thread forks the process and keeps what it reports.

    The child (forked, so it shares the server's MNIST tensors copy-on-write) runs
    `Trainer.events()` with `threads` torch threads (None: as many as the cores other
    processes leave free, at most `max_threads`, re-counted as it runs; `core.runtime.threads`) and
    sends metrics, previews and its end through a pipe; a thread on the parent side keeps
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
        preview_digits: int = 8,
        threads: int | None = None,
        max_threads: int | None = None,
        **options: Unpack[RunOptions],
    ) -> None:
        context = multiprocessing.get_context("fork")  # the page's data, shared, and no torch re-import
        super().__init__(
            config, train_images=len(train), stop_flag=context.Event(), resume_flag=context.Event(), **options
        )
        self.threads = whole_number(threads, "threads", 1) if threads is not None else None
        self.max_threads = whole_number(max_threads, "max_threads", 1) if max_threads is not None else None
        self._inputs: _Inputs | None = _Inputs(train, test, test.subset(config.test_subset).pixels()[:preview_digits])
        # child -> parent. A pipe, not a Queue: once the parent has closed its copy of the write
        # end, a child killed in the middle of a message (a preview is larger than the pipe's
        # buffer) reads as EOF, where a Queue's reader would wait for the rest of it forever.
        self._receiver, self._sender = context.Pipe(duplex=False)
        self._controls = context.Queue()  # parent -> child: ("tau" | "lr", value), applied between steps
        self._process = context.Process(target=self._child, name=f"training-{self.name}", daemon=True)

    @property
    def pid(self) -> int | None:
        """The training process's id (None before start)."""
        return self._process.pid

    @property
    def exitcode(self) -> int | None:
        """The training process's exit status; None while it runs or before it starts."""
        return self._process.exitcode

    def _send_change(self, name: str, value: float) -> None:
        self._controls.put((name, value))

    # --- the parent side: a thread that reads the child's messages -----------------------

    def _train(self) -> None:
        """Fork the child from this fresh thread, then apply its messages until it exits.

        A child forked by a thread that has run an OpenMP region (any large torch op, as the
        page's script threads do) hangs in its own first one: libgomp's pool does not survive
        the fork. This thread never runs torch, so the child may use several threads.
        """
        try:
            self._process.start()
        except OSError as err:  # out of memory or processes
            self._fail(f"could not start the training process ({err})")
            return
        self._inputs = None  # the child has its copy; this side holds no data
        self._sender.close()  # the child's is now the only write end
        while self._process.is_alive():
            self._receive(POLL_SECONDS)
            self._check_abandoned()
        self._process.join()
        while not self.done and self._receive(0.5):  # what the child sent just before it exited
            pass
        if not self.done:
            error = f"the training process ended unexpectedly (exit code {self._process.exitcode})"
            if self.record_path is not None and self.record_path.with_suffix(".json").exists():
                RunStore().fail(self.record_path, error)
            self._fail(error)

    def _close(self) -> None:
        self._inputs = None  # a run stopped in line never forked: drop its share of the data too
        self._receiver.close()
        self._controls.close()

    def _receive(self, timeout: float) -> bool:
        """Apply one message from the child; False when none came within `timeout`, or when
        the child has gone (then after waiting up to `timeout` for its process to exit)."""
        try:
            if not self._receiver.poll(timeout):
                return False
            message = self._receiver.recv()
        except (EOFError, OSError):  # the child has exited, perhaps in the middle of a message
            self._process.join(timeout)
            return False
        self._apply(message)
        return True

    # --- the child ------------------------------------------------------------------------

    def _child(self) -> None:
        """Train, report and keep the run's record in the store; runs in the forked process."""
        gc.freeze()  # the server's heap came along: never walk it, never copy it
        threads = ThreadPolicy(self.threads, self.max_threads)
        threads.start()  # building the trainer is the first measuring interval
        send = self._sender.send
        path = self.record_path
        recorder = RunRecorder(path, {"name": self.name, **self.metadata}) if path else None
        try:
            assert self._inputs is not None
            trainer = Trainer(self.config, self._inputs.train, self._inputs.test)
            threads.choose()
            if recorder:
                recorder.metadata["threads"] = threads.describe()
                recorder.start(trainer)
            controls = _ChildControls(self._stop_asked, self._resume, self._controls)
            status, epochs = report_training(
                trainer,
                threads.follow(trainer.events()),
                self._inputs.preview_x,
                send,
                controls,
                on_epoch=(lambda done: recorder.epoch(trainer, done)) if recorder else None,
            )
            saved = recorder.end(trainer, epochs, status) if recorder else None
            if recorder and recorder.notices:
                send(("notices", recorder.notices))
            send(("end", status, saved))
        except Exception as err:  # the page shows it; the run must not end silently
            message = f"{type(err).__name__}: {err}"
            if recorder:
                recorder.fail(message)
            send(("failed", message))


class _ChildControls:
    """The page's controls as the forked child reads them (`core.training.reporter.Controls`):
    the parent's flags and queue, and whether the server that forked it is still there."""

    def __init__(self, stop: StopFlag, resume: ResumeFlag, changes: Queue) -> None:
        self._stop, self._resume, self._changes = stop, resume, changes
        self._server = os.getppid()

    def stopped(self) -> bool:
        return self._stop.is_set() or os.getppid() != self._server

    def paused(self) -> bool:
        return not self._resume.is_set()

    def wait_while_paused(self) -> None:
        while not self._resume.wait(POLL_SECONDS) and os.getppid() == self._server:
            pass

    def changes(self) -> list[tuple[str, float]]:
        made = []
        while True:
            try:
                made.append(self._changes.get_nowait())
            except queue.Empty:
                return made
