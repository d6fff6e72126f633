"""A generic background worker: a thread that drives any progress iterator (a task's `run()`)
and keeps what it yields in a bounded, locked history that a page polls with `snapshot()`.

It is a `core.runtime.jobs.Job`: stop is a flag checked between items, so it takes effect
within one item's time. The worker never touches Streamlit; an error in the task ends the run
and is kept as a message.

A server bounds its background work with a `TaskPool`: a worker given one waits (queued, its
place in line in its snapshot) until fewer than the pool's limit of workers run. A worker given
`abandon_after` stops itself when nobody has polled it for that long: its page has gone.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, Self, TypeVar

from core.guards import positive_number, whole_number
from core.runtime.jobs import JobThread, Status

T = TypeVar("T")
DEFAULT_HISTORY = 10_000
# How often a queued worker looks again at its stop flag and its last poll.
WAIT_SECONDS = 0.25


class TaskPool:
    """At most `limit` background tasks at once for a whole server; the others wait their turn
    in the order they asked. A task that gives up while waiting leaves the line."""

    def __init__(self, limit: int) -> None:
        self.limit = whole_number(limit, "the background task limit", minimum=1)
        self._changed = threading.Condition()
        self._running = 0
        self._line: list[object] = []

    @property
    def running(self) -> int:
        with self._changed:
            return self._running

    def position(self, ticket: object) -> int | None:
        """A waiting task's place in line (1: it starts next), None when it is not waiting."""
        with self._changed:
            return next((i + 1 for i, t in enumerate(self._line) if t is ticket), None)

    def wait_turn(self, ticket: object, give_up: Callable[[], bool]) -> bool:
        """Block until `ticket` is first in line and a slot is free, then hold that slot (True);
        False, without a slot, as soon as `give_up()` says so."""
        with self._changed:
            self._line.append(ticket)
            try:
                while self._line[0] is not ticket or self._running >= self.limit:
                    if give_up():
                        return False
                    self._changed.wait(WAIT_SECONDS)
                self._running += 1
                return True
            finally:
                self._line.remove(ticket)
                self._changed.notify_all()

    def release(self) -> None:
        """Give back a slot `wait_turn` handed out."""
        with self._changed:
            self._running -= 1
            self._changed.notify_all()


@dataclass(frozen=True)
class Snapshot(Generic[T]):
    """A consistent copy of where a worker stands. `items` holds the newest `max_history`
    yielded items; `dropped` counts the older ones that fell off. `error` is set when the
    status is failed; `position` is its place in its pool's line while it is queued."""

    items: tuple[T, ...]
    dropped: int
    status: Status
    error: str | None
    seconds: float
    position: int | None = None
    abandoned: bool = False  # stopped because nobody polled it for abandon_after seconds

    @property
    def done(self) -> bool:
        return self.status.ended

    @property
    def latest(self) -> T | None:
        return self.items[-1] if self.items else None


class BackgroundWorker(JobThread, Generic[T]):
    """Runs `source()` (a callable returning an iterable, called on the worker thread, so the
    work of building the task also happens off the caller's thread) to its end or a stop; with
    a `pool`, only once the pool has a slot for it; with `abandon_after`, stopped when no
    `snapshot()` came for that many seconds."""

    def __init__(
        self,
        source: Callable[[], Iterable[T]],
        max_history: int = DEFAULT_HISTORY,
        pool: TaskPool | None = None,
        abandon_after: float | None = None,
        pace: float = 0.0,
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
        self._pool = pool
        self.abandon_after = None if abandon_after is None else positive_number(abandon_after, "abandon_after")
        self._polled = time.perf_counter()
        self._abandoned = False

    def start(self) -> Self:
        if self._pool is None:
            return super().start()
        self._thread.start()  # queued until the pool has a slot (see _run)
        return self

    def snapshot(self) -> Snapshot[T]:
        """Where the worker stands; every call also tells it someone is still watching."""
        position = self._pool.position(self) if self._pool is not None else None
        with self._lock:
            self._polled = time.perf_counter()
            return Snapshot(
                items=tuple(self._history),
                dropped=self._count - len(self._history),
                status=self._status,
                error=self._error,
                seconds=self._elapsed(),
                position=position if self._status == Status.QUEUED else None,
                abandoned=self._abandoned,
            )

    def _should_stop(self) -> bool:
        """Asked to stop, or unwatched for longer than abandon_after (then it asks itself)."""
        if self.abandon_after is not None and not self._stop_asked.is_set():
            with self._lock:
                if time.perf_counter() - self._polled > self.abandon_after:
                    self._abandoned = True
                    self._stop_asked.set()
        return self._stop_asked.is_set()

    def _run(self) -> None:
        if self._pool is None:
            self._work()
            return
        if not self._pool.wait_turn(self, self._should_stop):
            self._end(Status.STOPPED)  # stopped, or abandoned, before its turn came
            return
        with self._lock:
            self._status, self._started = Status.RUNNING, time.perf_counter()
        try:
            self._work()
        finally:
            self._pool.release()

    def _work(self) -> None:
        items: Iterator[T] | None = None
        try:
            items = iter(self._source())
            for item in items:
                with self._lock:
                    self._history.append(item)
                    self._count += 1
                if self._should_stop() or (self._pace and self._stop_asked.wait(self._pace)):
                    self._end(Status.STOPPED)
                    return
            self._end(Status.FINISHED)
        except Exception as err:  # a worker ends with a message, never silently
            self._end(Status.FAILED, str(err) or type(err).__name__)
        finally:
            close = getattr(items, "close", None)
            if callable(close):
                close()
