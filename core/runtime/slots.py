"""The server's run slots: how many training runs (Train-page runs and local sweep trials) it
carries at once; a run holds one slot until it ends."""

from __future__ import annotations

import threading

from core.guards import whole_number


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

    def acquire_up_to(self, wanted: int) -> int:
        """As many slots as are free, up to `wanted` (at least one, else TooManyRunsError)."""
        self.acquire()
        taken = 1
        while taken < wanted and self._semaphore.acquire(blocking=False):
            taken += 1
        return taken

    def release(self, count: int = 1) -> None:
        for _ in range(count):
            self._semaphore.release()
