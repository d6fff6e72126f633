"""The generic background worker: runs an iterator off the caller's thread, stops, keeps a
bounded history and reports failures as messages."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from core.graphs.learning import TreeLearningConfig, learn_estimators, split_by_estimator
from core.runtime.background import BackgroundWorker

WAIT = 10.0


def counting(limit: int, pause: float = 0.0) -> Iterator[int]:
    for i in range(limit):
        if pause:
            time.sleep(pause)
        yield i


def test_runs_to_the_end_off_the_callers_thread() -> None:
    threads = []

    def source() -> Iterator[int]:
        threads.append(threading.current_thread())
        return counting(5)

    worker = BackgroundWorker(source).start()
    assert worker.join(WAIT)
    snap = worker.snapshot()
    assert snap.items == (0, 1, 2, 3, 4) and snap.status == "finished" and snap.done
    assert snap.latest == 4 and snap.error is None and snap.dropped == 0
    assert threads and threads[0] is not threading.current_thread()


def test_stop_ends_an_endless_run_within_a_bounded_wait() -> None:
    worker = BackgroundWorker(lambda: counting(10**9, pause=0.01)).start()
    time.sleep(0.1)
    assert not worker.done
    start = time.perf_counter()
    worker.stop()
    assert worker.join(WAIT)
    assert time.perf_counter() - start < 1.0
    snap = worker.snapshot()
    assert snap.status == "stopped" and 0 < len(snap.items) < 10**9


def test_a_paced_worker_waits_between_items_and_a_stop_ends_the_wait() -> None:
    worker = BackgroundWorker(lambda: counting(3), pace=3600.0).start()
    while not worker.snapshot().items:
        time.sleep(0.01)
    worker.stop()  # during the hour's wait after the first item
    assert worker.join(WAIT)
    snap = worker.snapshot()
    assert snap.items == (0,) and snap.status == "stopped"  # unpaced, all three would be in at once
    with pytest.raises(ValueError, match="pace"):
        BackgroundWorker(lambda: counting(1), pace=-1.0)


def test_history_is_bounded_and_counts_what_fell_off() -> None:
    worker = BackgroundWorker(lambda: counting(100), max_history=10).start()
    assert worker.join(WAIT)
    snap = worker.snapshot()
    assert snap.items == tuple(range(90, 100)) and snap.dropped == 90
    with pytest.raises(ValueError):
        BackgroundWorker(lambda: counting(1), max_history=0)


def test_a_failing_task_ends_with_its_message() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("bad settings")

    worker = BackgroundWorker(failing).start()
    assert worker.join(WAIT)
    snap = worker.snapshot()
    assert snap.status == "failed" and snap.error == "bad settings" and snap.items == (1,)


def test_drives_the_tree_learning_task_for_every_estimator() -> None:
    config = TreeLearningConfig(n=5, steps=20)
    worker = BackgroundWorker(lambda: learn_estimators(config, report_every=10)).start()
    assert worker.join(60)
    histories = split_by_estimator(worker.snapshot().items)
    assert list(histories) == ["gumbel_softmax", "straight_through", "score_function"]
    assert all([p.step for p in h] == [0, 10, 20] for h in histories.values())
    assert worker.snapshot().items == tuple(learn_estimators(config, report_every=10))  # seeded
