"""One job lifecycle for all work that runs beside a page: a training run (a process,
`core.training.run`), a page's background task (a thread, `core.runtime.background`) and a
sweep (Ray, `core.sweeps.driver`).

Every job is started, asked to stop, joined and polled the same way (`Job`), and says where it
stands in one vocabulary (`Status`), which the run store, the pages and the sweep CLI use too.
`JobThread` is the part of that lifecycle the three share: a thread that does the job's work
(or watches the process or Ray tasks that do), the stop flag it checks, the status under a lock.
"""

from __future__ import annotations

import threading
import time
from enum import StrEnum
from typing import Protocol, Self, runtime_checkable


class Status(StrEnum):
    """Where a job stands. The words are what records, pages and the CLI show."""

    QUEUED = "queued"  # made, or waiting for capacity; not working yet
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"  # asked to stop, or never started because its sweep was stopped
    FINISHED = "finished"
    FAILED = "failed"  # with an error message

    @property
    def ended(self) -> bool:
        return self in (Status.STOPPED, Status.FINISHED, Status.FAILED)

    @classmethod
    def read(cls, word: object) -> Status:
        """The status a stored word names, old words included, so records written before this
        vocabulary still read; ValueError for a word that is no status at all."""
        text = str(word).strip().lower()
        try:
            return cls(OLD_WORDS.get(text, text))
        except ValueError:
            raise ValueError(f"{word!r} is not a job status; a status is one of {', '.join(cls)}.") from None


# Words earlier versions used: a sweep said "cancelled" for stopped and never-started trials,
# "pending" or "starting" before work began, "skipped" for a trial a resumed sweep found finished.
OLD_WORDS: dict[str, Status] = {
    "cancelled": Status.STOPPED,
    "canceled": Status.STOPPED,
    "pending": Status.QUEUED,
    "starting": Status.QUEUED,
    "skipped": Status.FINISHED,
}


class JobSnapshot(Protocol):
    """What every job's snapshot tells, whatever else it carries."""

    @property
    def status(self) -> Status: ...

    @property
    def error(self) -> str | None: ...

    @property
    def done(self) -> bool: ...


@runtime_checkable
class Job(Protocol):
    """Work that runs beside the caller: started once, stopped on request between its steps,
    joined, and polled for a consistent snapshot from any thread."""

    def start(self) -> Self: ...

    def stop(self) -> None: ...

    def join(self, timeout: float | None = None) -> bool: ...

    @property
    def done(self) -> bool: ...

    def snapshot(self) -> JobSnapshot: ...


class StopFlag(Protocol):
    """A threading.Event, or a multiprocessing one that a child process also sees."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class JobThread:
    """The shared half of a `Job`: one daemon thread runs `_run`, which checks `_stop_asked`
    between steps and ends with `_end`. Subclasses write `_run` and `snapshot`; they change
    `_status` and read `_elapsed()` only while holding `_lock`."""

    def __init__(self, name: str, stop_flag: StopFlag | None = None) -> None:
        self._lock = threading.Lock()
        self._stop_asked: StopFlag = stop_flag if stop_flag is not None else threading.Event()
        self._status = Status.QUEUED
        self._error: str | None = None
        self._started: float | None = None
        self._ended: float | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Self:
        return self._start_thread(Status.RUNNING)

    def _start_thread(self, status: Status) -> Self:
        """Start the thread with the job running, or queued (it waits for capacity, then `_begin`)."""
        with self._lock:
            self._status = status
            if status == Status.RUNNING:
                self._started = time.perf_counter()
        self._thread.start()
        return self

    def _begin(self) -> None:
        """A queued job's turn has come: it runs from now (its elapsed time counts from here)."""
        with self._lock:
            self._status, self._started = Status.RUNNING, time.perf_counter()

    def stop(self) -> None:
        """Ask the job to stop after the step it is taking."""
        self._stop_asked.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the job to end; True when it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def done(self) -> bool:
        return self._status.ended  # one attribute read: no lock, so it is safe under `_lock` too

    def _end(self, status: Status, error: str | None = None) -> None:
        with self._lock:
            self._status, self._error, self._ended = status, error, time.perf_counter()

    def _elapsed(self) -> float:
        """Seconds from start to the end, or to now while the job runs (0 before start)."""
        if self._started is None:
            return 0.0
        return (self._ended if self._ended is not None else time.perf_counter()) - self._started

    def _run(self) -> None:
        raise NotImplementedError
