"""A competing load for the benchmarks: one core kept busy by a forked process, as a
lecturer's browser or another visitor's run would keep it."""

from __future__ import annotations

import multiprocessing
import os
import time

BURN_LIMIT_SECONDS = 600.0  # a busy loop never outlives this, whatever happens to the benchmark


def burn(core: int, seconds: float, parent: int) -> None:
    """Keep one core busy until the deadline or until `parent` is gone."""
    os.sched_setaffinity(0, {core})
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
        if n % 1_000_000 == 0 and os.getppid() != parent:
            return


def start_burner(seconds: float = BURN_LIMIT_SECONDS) -> multiprocessing.process.BaseProcess:
    """A busy loop on the last usable core, in a forked process that ends by itself."""
    core = max(os.sched_getaffinity(0))
    process = multiprocessing.get_context("fork").Process(
        target=burn, args=(core, seconds, os.getpid()), daemon=True, name="busy-core"
    )
    process.start()
    return process
