"""A generic background worker: a thread that drives any progress iterator (a task's `run()`)
and keeps what it yields in a bounded, locked history that a page polls with `snapshot()`.

It is a `core.runtime.jobs.Job`: stop is a flag checked between items, so it takes effect
within one item's time. The worker never touches Streamlit; an error in the task ends the run
and is kept as a message.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from core.guards import whole_number
from core.runtime.jobs import JobThread, Status

T = TypeVar("T")
DEFAULT_HISTORY = 10_000


@dataclass(frozen=True)
class Snapshot(Generic[T]):
    """A consistent copy of where a worker stands. `items` holds the newest `max_history`
    yielded items; `dropped` counts the older ones that fell off. `error` is set when the
    status is failed."""

    items: tuple[T, ...]
    dropped: int
    status: Status
    error: str | None
    seconds: float

    @property
    def done(self) -> bool:
        return self.status.ended

    @property
    def latest(self) -> T | None:
        return self.items[-1] if self.items else None


class BackgroundWorker(JobThread, Generic[T]):
    """Runs `source()` (a callable returning an iterable, called on the worker thread, so the
    work of building the task also happens off the caller's thread) to its end or a stop."""

    def __init__(
        self, source: Callable[[], Iterable[T]], max_history: int = DEFAULT_HISTORY, pace: float = 0.0
    ) -> None:
        """`pace`: at least this many seconds between items, so a task that computes in a blink
        runs long enough for a room to watch it (a stop ends the wait at once)."""
        super().__init__("gumbel-lab-worker")
        if not 0 <= pace < float("inf"):
            raise ValueError(f"pace must be a finite number of seconds >= 0, got {pace}.")
        self._pace = pace
        self._source = source
        self._history: deque[T] = deque(maxlen=whole_number(max_history, "max_history", minimum=1))
        self._count = 0

    def snapshot(self) -> Snapshot[T]:
        with self._lock:
            return Snapshot(
                items=tuple(self._history),
                dropped=self._count - len(self._history),
                status=self._status,
                error=self._error,
                seconds=self._elapsed(),
            )

    def _run(self) -> None:
        items: Iterator[T] | None = None
        try:
            items = iter(self._source())
            for item in items:
                with self._lock:
                    self._history.append(item)
                    self._count += 1
                if self._stop_asked.is_set() or (self._pace and self._stop_asked.wait(self._pace)):
                    self._end(Status.STOPPED)
                    return
            self._end(Status.FINISHED)
        except Exception as err:  # a worker ends with a message, never silently
            self._end(Status.FAILED, str(err) or type(err).__name__)
        finally:
            close = getattr(items, "close", None)
            if callable(close):
                close()
