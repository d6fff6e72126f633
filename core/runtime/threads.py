"""How many torch threads training uses: as many as there are cores nobody else is using.

Why (issue 12): torch's OpenMP pool waits for its slowest thread at the end of every op, so
one thread that shares a core with another process (a lecturer's browser) holds the whole
step back: 200 steps took 7.0 s on 2 threads with one of 2 cores busy against 3.5 s on one
(idle: 2.4 s against 3.9 s). Torch's default of a thread per core collapses there; one
thread wastes an idle machine. So "auto" counts the cores other processes leave free, from
/proc/stat over a short interval (this process's own use counts as free: those cores are
ours), and re-counts four times a second while a run trains, so a competitor that arrives or
leaves mid-run moves the count. `GUMBEL_LAB_THREADS` or a CLI's `--threads` fixes it instead.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from core.names import THREADS_ENV

ENV = THREADS_ENV
AUTO = "auto"
# A core counts as free when other processes leave at least this share of it idle: a thread
# on a core that is mostly someone else's waits for it at every op.
FREE_ENOUGH = 0.8
MIN_SAMPLE_SECONDS = 0.15  # shorter, and /proc/stat's 10 ms ticks are too coarse to count with
CHECK_SECONDS = 0.25  # how often a running loop re-counts: a /proc/stat read is ~50 us, a collapse 10x
PROC_STAT = Path("/proc/stat")
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

T = TypeVar("T")


def parse_threads(text: str, source: str = "--threads") -> int | None:
    """'auto' gives None (measure), a whole number >= 1 itself; anything else a ValueError."""
    word = text.strip().lower()
    if word == AUTO:
        return None
    if word.isdigit() and int(word) >= 1:
        return int(word)
    raise ValueError(f"{source} must be 'auto' or a whole number of threads (1 or more), not {text!r}.")


def requested_threads(flag: str | None = None) -> int | None:
    """The thread count asked for: the flag when given, else $GUMBEL_LAB_THREADS, else auto (None)."""
    if flag is not None:
        return parse_threads(flag)
    return parse_threads(os.environ.get(ENV, AUTO), f"${ENV}")


def usable_cores() -> list[int]:
    """The cores this process may run on (its affinity, which a container or `taskset` narrows)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


@dataclass(frozen=True)
class CpuSample:
    """Cumulative counters at one moment, in clock ticks, over the usable cores."""

    busy: int  # ticks the cores spent on any process (not idle, not waiting for I/O)
    total: int  # all ticks of the cores
    own: float  # this process's CPU time (all its threads)


def read_sample(cores: Iterable[int], stat: Path = PROC_STAT) -> CpuSample | None:
    """The counters now; None where there is no /proc/stat (not Linux)."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    wanted = {f"cpu{c}" for c in cores}
    busy = total = 0
    for line in lines:
        name, *fields = line.split()
        if name in wanted:
            # user nice system idle iowait irq softirq steal (guest time is already in user)
            ticks = [int(f) for f in fields[:8]]
            total += sum(ticks)
            busy += sum(ticks) - ticks[3] - ticks[4]
    own = os.times()
    return CpuSample(busy, total, (own.user + own.system) * TICKS_PER_SECOND)


def free_cores(before: CpuSample, after: CpuSample, cores: int) -> float:
    """How many cores other processes left free between two samples (this process's use is free)."""
    elapsed = after.total - before.total
    if elapsed <= 0:
        return float(cores)
    others = max(0.0, (after.busy - before.busy) - (after.own - before.own))
    return max(0.0, cores * (1.0 - others / elapsed))


def _set_torch_threads(count: int) -> None:
    # Imported here: the CLI starts a policy's first measuring interval before it imports torch
    # (1.3 s), so the interval is over by the time training starts.
    import torch

    torch.set_num_threads(count)


def threads_for(free: float, ceiling: int) -> int:
    """Threads for `free` cores: one per core free enough, at least one, at most `ceiling`."""
    return max(1, min(ceiling, int(free + 1.0 - FREE_ENOUGH)))


class ThreadPolicy:
    """Sets torch's intra-op thread count for training in the calling thread, and keeps it right.

    `requested` fixes the count (None: auto); `ceiling` bounds auto (default: the usable
    cores; the app passes its cores per allowed run). Call `start()` early (before loading
    data: the load then doubles as the first measuring interval), `choose()` just before the
    first step, and iterate the steps through `follow()` to re-count as the run goes. Without
    /proc/stat, auto leaves one core for whatever else runs. torch.set_num_threads applies to
    the calling thread, so all three belong in the thread that trains.
    """

    def __init__(
        self,
        requested: int | None = None,
        ceiling: int | None = None,
        *,
        cores: list[int] | None = None,
        sample: Callable[[list[int]], CpuSample | None] = read_sample,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.requested = requested
        self.cores = cores if cores is not None else usable_cores()
        self.ceiling = max(1, min(ceiling or len(self.cores), len(self.cores)))
        self._sample, self._clock, self._sleep = sample, clock, sleep
        self._last: CpuSample | None = None
        self._last_at = 0.0
        self.threads = requested or self.ceiling
        self.free: float | None = None  # the last count of free cores (auto on Linux only)

    @property
    def auto(self) -> bool:
        return self.requested is None

    def start(self) -> None:
        """Begin the first measuring interval."""
        if self.auto:
            self._last, self._last_at = self._sample(self.cores), self._clock()

    def choose(self) -> int:
        """Measure (waiting out the rest of a short first interval), set torch, return the count."""
        if self.auto:
            if self._last is None:
                self.start()
            wait = MIN_SAMPLE_SECONDS - (self._clock() - self._last_at)
            if wait > 0:
                self._sleep(wait)
            self._recount()
        _set_torch_threads(self.threads)
        return self.threads

    def recheck(self) -> bool:
        """Re-count if CHECK_SECONDS have passed; True when the thread count changed."""
        if not self.auto or self._clock() - self._last_at < CHECK_SECONDS:
            return False
        before = self.threads
        self._recount()
        if self.threads != before:
            _set_torch_threads(self.threads)
        return self.threads != before

    def follow(self, steps: Iterable[T]) -> Iterator[T]:
        """`steps`, re-counting between them; the count changes between steps, never inside one."""
        for step in steps:
            yield step
            self.recheck()

    def describe(self) -> str:
        """A line for a run's record and the CLI: the count and where it came from."""
        if not self.auto:
            return f"{self.threads} (fixed)"
        if self.free is None:
            return f"{self.threads} (auto: all cores but one, no /proc/stat)"
        return f"{self.threads} (auto: {self.free:.1f} of {len(self.cores)} cores free)"

    def _recount(self) -> None:
        now, at = self._sample(self.cores), self._clock()
        if now is None or self._last is None:
            self.threads = max(1, min(self.ceiling, len(self.cores) - 1))
        else:
            self.free = free_cores(self._last, now, len(self.cores))
            self.threads = threads_for(self.free, self.ceiling)
        self._last, self._last_at = now, at
