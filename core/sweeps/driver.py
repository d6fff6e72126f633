"""A sweep's driver: a `core.runtime.jobs.Job` whose thread launches the trials on Ray and
gathers their progress, so a page or the CLI reads a `SweepSnapshot` the way the Train page
reads a run.

Each trial is a Ray task with one CPU (and one GPU where the cluster has them) running
`core.sweeps.trial.run_trial` on MNIST put into Ray's object store once. The driver records
each trial in the server's run store under runs/sweeps/<sweep>/<trial> exactly as any other
run, from what the trial reports and, at the end, the weights it hands back: a worker's disk
is never used, so a cluster needs no shared storage. At most `parallel` trials run at once
(the CLI defaults to the machine's cores). The app's local sweeps also share the server's run
slots (`slots`): the sweep waits in the server's line for its first slot like any run, takes
more only while nobody waits, and gives back a slot whenever one of its trials ends and a
visitor is waiting (`core.runtime.slots.SlotShare`). Stop asks every trial to stop between
steps (each saves its model as stopped), never launches the rest, and force-stops any trial
still running after a grace period.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Self

from core.data import load_mnist, resolve_data_root
from core.runtime.jobs import JobThread, Status
from core.runtime.slots import Place, RunSlots, SlotShare
from core.store.runs import RunStore
from core.sweeps.grid import Trial
from core.sweeps.ray_backend import board_class, cluster_gpus, ensure_ray, put_once, ray_address, ray_error
from core.sweeps.trial import REPORT_SECONDS, run_trial
from core.training.record import RunRecorder

STOP_GRACE_SECONDS = 5.0  # then trials still running are force-stopped
POINTS_PER_TRIAL = 400  # the live curve keeps at most this many points per trial
PROGRESS_KEYS = ("step", "total_steps", "epoch", "relaxed", "unrelaxed", "test", "elapsed", "epochs")


@dataclass
class TrialState:
    """What the driver knows of one trial now."""

    trial: Trial
    status: Status = Status.QUEUED
    step: int = 0
    total_steps: int = 0
    epoch: int = 0
    relaxed: float | None = None
    unrelaxed: float | None = None
    test: float | None = None
    elapsed: float = 0.0
    error: str | None = None
    points: list[tuple[int, float]] = field(default_factory=list)  # (step, smoothed relaxed objective)
    epochs: list[dict] = field(default_factory=list)
    path: Path | None = None
    launched: bool = False  # sent to Ray; a trial a stopped sweep never sent is stopped with no record
    resumed: bool = False  # found finished by a resumed sweep, so not run again

    @property
    def progress(self) -> float:
        if self.status == Status.FINISHED:
            return 1.0
        return self.step / self.total_steps if self.total_steps else 0.0

    @property
    def seconds_left(self) -> float | None:
        if self.status != Status.RUNNING or not self.step:
            return None
        return self.elapsed / self.step * (self.total_steps - self.step)

    @property
    def saved(self) -> bool:
        """Its run is in the store as a finished or stopped run (Compare can open it)."""
        return self.status == Status.FINISHED or (self.status == Status.STOPPED and self.launched)


@dataclass(frozen=True)
class SweepSnapshot:
    sweep_id: str
    status: Status
    trials: list[TrialState]
    elapsed: float
    error: str | None
    where: str  # "local Ray, 2 CPUs" or the cluster's address; empty while Ray starts
    notices: tuple[str, ...] = ()  # what the run store's quota deleted to make room for trials
    place: Place | None = None  # its place in the server's line while queued

    @property
    def done(self) -> bool:
        return self.status.ended

    def count(self, *statuses: Status) -> int:
        return sum(t.status in statuses for t in self.trials)


class SweepRun(JobThread):
    """A sweep's driver: a thread that launches trials on Ray and gathers their progress."""

    def __init__(
        self,
        trials: Sequence[Trial],
        sweep_id: str,
        *,
        store: RunStore | None = None,
        parallel: int | None = None,
        address: str | None = None,
        data_root: str | os.PathLike | None = None,
        resume: bool = False,
        command: str | None = None,
        slots: RunSlots | None = None,
    ) -> None:
        if not trials:
            raise ValueError("the sweep has no trials.")
        super().__init__(f"sweep-{sweep_id}")
        self.sweep_id = sweep_id
        self.store = store or RunStore()
        self.store.path_for("sweeps", "x", sweep_id)  # a usable folder name, or a ValueError now
        self.parallel = max(1, parallel or (os.cpu_count() or 1))
        self.address = ray_address(address)
        self.data_root = str(Path(data_root).resolve()) if data_root else None
        self.command = command
        self._slots = slots
        self._share: SlotShare | None = None
        self._states = [TrialState(t, path=self.store.path_for("sweeps", t.name, sweep_id)) for t in trials]
        if resume:
            for state in self._states:
                record = self.store.get(f"sweeps/{sweep_id}/{state.trial.name}")
                if record is not None and record.status == Status.FINISHED:
                    state.status, state.resumed = Status.FINISHED, True
                    state.test = record.metadata.get("final_metrics", {}).get("test")
                    state.epochs = record.metadata.get("history", [])
        self._notices: list[str] = []
        self._where = ""
        self._recorders: dict[str, RunRecorder] = {}

    def start(self) -> Self:
        """Start the sweep; with the server's slots, it may first wait, queued, for its turn."""
        if self._slots is None:
            return super().start()
        work = sum(s.trial.config.images_to_train() for s in self._states if s.status == Status.QUEUED)
        self._share = SlotShare(self._slots, f"sweep {self.sweep_id}", work, self._images_done)
        return self._start_thread(Status.RUNNING if self._share.ticket.granted else Status.QUEUED)

    def stop(self) -> None:
        super().stop()
        if self._share is not None and not self._share.ticket.granted:
            self._share.leave()  # out of the line at once

    def snapshot(self) -> SweepSnapshot:
        place = self._share.place() if self._share is not None else None
        with self._lock:
            trials = [replace(s, points=list(s.points), epochs=list(s.epochs)) for s in self._states]
            return SweepSnapshot(
                self.sweep_id,
                self._status,
                trials,
                self._elapsed(),
                self._error,
                self._where,
                tuple(self._notices),
                place if self._status == Status.QUEUED else None,
            )

    def _images_done(self) -> float:
        """For the line's estimate: read without the lock."""
        return float(sum(s.step * s.trial.config.batch_size for s in self._states))

    # --- the driver thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            if not self._wait_for_turn():
                return
            where = ensure_ray(self.address)
            with self._lock:
                self._where = where
            self._launch_all()
            self._end(Status.STOPPED if self._stop_asked.is_set() else Status.FINISHED)
        except Exception as err:  # Ray would not start, say: the page and CLI show it
            self._end(Status.FAILED, f"{type(err).__name__}: {err}")
        finally:
            if self._share is not None:
                self._share.leave()

    def _wait_for_turn(self) -> bool:
        """Wait in the server's line for a first slot; False (every trial stopped) when stopped first."""
        share = self._share
        if share is None or share.ticket.granted:
            return True
        while not share.ticket.wait(REPORT_SECONDS) and not self._stop_asked.is_set():
            pass
        if self._stop_asked.is_set():
            with self._lock:
                for state in self._states:
                    if state.status == Status.QUEUED:
                        state.status = Status.STOPPED
            self._end(Status.STOPPED)
            return False
        self._begin()
        return True

    def _room(self, running: int, waiting: int) -> int:
        """How many trials may run at once now."""
        if self._share is None:
            return self.parallel
        return min(self.parallel, self._share.fit(running, min(self.parallel, running + waiting)))

    def _launch_all(self) -> None:
        import ray

        board = board_class().remote()
        gpus = 1 if self.address and cluster_gpus() > 0 else 0  # the trial trains on CUDA where it got one
        task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(run_trial)
        root = str(resolve_data_root(self.data_root).resolve())
        data = [put_once(("mnist", split, root), partial(load_mnist, split, root)) for split in ("train", "test")]
        waiting = [s for s in self._states if s.status == Status.QUEUED]
        running: dict[Any, TrialState] = {}
        stop_sent: float | None = None
        while waiting or running:
            if self._stop_asked.is_set() and stop_sent is None:
                board.stop.remote()
                stop_sent = time.perf_counter()
                with self._lock:
                    for state in waiting:
                        state.status = Status.STOPPED
                waiting = []
            room = self._room(len(running), len(waiting))  # also gives back the slots it no longer needs
            while waiting and len(running) < room:
                state = waiting.pop(0)
                running[self._launch(state, task, board, data)] = state
            ready, _ = ray.wait(list(running), num_returns=len(running), timeout=REPORT_SECONDS)
            self._apply(ray.get(board.take.remote()))
            for ref in ready:
                self._finish(running.pop(ref), ref)
            if stop_sent is not None and time.perf_counter() - stop_sent > STOP_GRACE_SECONDS:
                for ref, state in running.items():
                    self._force_stop(state, ref)
                running.clear()
        ray.kill(board)

    def _launch(self, state: TrialState, task: Any, board: Any, data: list[Any]) -> Any:
        """Send one trial to Ray; returns its task's reference."""
        trial = state.trial
        metadata = {
            "name": trial.name,
            "source": "sweep",
            "sweep": self.sweep_id,
            "preset": trial.settings["preset"],
            "trial_settings": trial.settings,
            "command": self.command,
        }
        assert state.path is not None
        self._recorders[trial.name] = RunRecorder(state.path, metadata, self.store)
        ref = task.remote(trial, *data, board)
        with self._lock:
            state.status, state.launched = Status.RUNNING, True
        return ref

    def _force_stop(self, state: TrialState, ref: Any) -> None:
        import ray

        ray.cancel(ref, force=True)
        with self._lock:
            state.status, state.error = Status.STOPPED, "force-stopped after the grace period"
        if state.path:
            self.store.close(state.path, Status.STOPPED, error="force-stopped with the sweep")

    def _apply(self, progress: dict[str, dict]) -> None:
        begun: list[tuple[RunRecorder, dict]] = []
        histories: list[tuple[RunRecorder, list[dict]]] = []
        with self._lock:
            for state in self._states:
                entry = progress.get(state.trial.name)
                if not entry or state.status != Status.RUNNING:
                    continue
                recorder = self._recorders[state.trial.name]
                if "begin" in entry:
                    begun.append((recorder, entry["begin"]))
                if len(entry.get("epochs", [])) > len(state.epochs):
                    histories.append((recorder, entry["epochs"]))
                state.points.extend(entry.get("points", []))
                del state.points[:-POINTS_PER_TRIAL]
                for key in PROGRESS_KEYS:
                    if key in entry:
                        setattr(state, key, entry[key])
        for recorder, begin in begun:  # the store is written outside the lock
            recorder.metadata |= {"node": begin["node"], "device": begin["node"]["device"]}
            recorder.begin(begin["description"])
        for recorder, history in histories:
            recorder.progress(history)

    def _finish(self, state: TrialState, ref: Any) -> None:
        """Write an ended trial's record (and weights) into the store from what it handed back."""
        import ray

        recorder = self._recorders[state.trial.name]
        try:
            result = ray.get(ref)
        except Exception as err:
            error = ray_error(err)
            recorder.fail(error)
            with self._lock:
                state.status, state.error = Status.FAILED, error
            return
        status = Status(result["status"])
        recorder.metadata |= {"node": result["node"], "device": result["node"]["device"]}
        recorder.save(result["weights"], result["metadata"], status)
        with self._lock:
            state.status = status
            state.step, state.elapsed, state.test = result["step"], result["elapsed"], result["test"]
            state.total_steps = state.total_steps or result["step"]
            self._notices.extend(recorder.notices)
