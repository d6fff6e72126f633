"""A generic background worker: a thread that drives any progress iterator (a task's `run()`)
and keeps what it yields in a bounded, locked history that a page polls with `snapshot()`.

Stop is a flag checked between items, so it takes effect within one item's time. The worker
never touches Streamlit; an error in the task ends the run and is kept as a message.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from core.guards import whole_number

T = TypeVar("T")
DEFAULT_HISTORY = 10_000


@dataclass(frozen=True)
class Snapshot(Generic[T]):
    """A consistent copy of where a worker stands. `items` holds the newest `max_history`
    yielded items; `dropped` counts the older ones that fell off. `status` is one of
    'running', 'finished', 'stopped' or 'failed' (with `error` set)."""

    items: tuple[T, ...]
    dropped: int
    status: str
    error: str | None
    seconds: float

    @property
    def done(self) -> bool:
        return self.status != "running"

    @property
    def latest(self) -> T | None:
        return self.items[-1] if self.items else None


class BackgroundWorker(Generic[T]):
    """Runs `source()` (a callable returning an iterable, called on the worker thread, so the
    work of building the task also happens off the caller's thread) to its end or a stop."""

    def __init__(self, source: Callable[[], Iterable[T]], max_history: int = DEFAULT_HISTORY) -> None:
        self._source = source
        self._history: deque[T] = deque(maxlen=whole_number(max_history, "max_history", minimum=1))
        self._count = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._status = "running"
        self._error: str | None = None
        self._started = 0.0
        self._ended: float | None = None
        self._thread = threading.Thread(target=self._work, name="gumbel-lab-worker", daemon=True)

    def start(self) -> BackgroundWorker[T]:
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the worker to stop after the item it is computing."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker to end; True when it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def done(self) -> bool:
        with self._lock:
            return self._status != "running"

    def snapshot(self) -> Snapshot[T]:
        with self._lock:
            end = self._ended if self._ended is not None else time.perf_counter()
            return Snapshot(
                items=tuple(self._history),
                dropped=self._count - len(self._history),
                status=self._status,
                error=self._error,
                seconds=end - self._started if self._started else 0.0,
            )

    def _finish(self, status: str, error: str | None = None) -> None:
        with self._lock:
            self._status, self._error, self._ended = status, error, time.perf_counter()

    def _work(self) -> None:
        items: Iterator[T] | None = None
        try:
            items = iter(self._source())
            for item in items:
                with self._lock:
                    self._history.append(item)
                    self._count += 1
                if self._stop.is_set():
                    self._finish("stopped")
                    return
            self._finish("finished")
        except Exception as err:  # a worker ends with a message, never silently
            self._finish("failed", str(err) or type(err).__name__)
        finally:
            close = getattr(items, "close", None)
            if callable(close):
                close()
