"""The generic background worker: runs an iterator off the caller's thread, stops, keeps a
bounded history and reports failures as messages."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from core.graphs.learning import TreeLearningConfig, learn_estimators, split_by_estimator
from core.runtime.background import BackgroundWorker, TaskPool

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


def wait_until(condition, seconds: float = WAIT) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_pool_runs_its_limit_and_queues_the_rest_in_order() -> None:
    pool = TaskPool(2)
    endless = [BackgroundWorker(lambda: counting(10**9, pause=0.01), pool=pool).start() for _ in range(2)]
    assert wait_until(lambda: all(len(w.snapshot().items) > 0 for w in endless))
    third, fourth = (BackgroundWorker(lambda: counting(3), pool=pool).start() for _ in range(2))
    assert wait_until(lambda: fourth.snapshot().position == 2)
    assert third.snapshot().position == 1 and third.snapshot().status == "queued" and not third.done
    assert fourth.snapshot().status == "queued" and fourth.snapshot().items == ()
    assert pool.running == 2
    endless[0].stop()  # one slot frees: the first in line takes it, the second moves up
    assert third.join(WAIT) and third.snapshot().status == "finished" and third.snapshot().items == (0, 1, 2)
    assert fourth.join(WAIT) and fourth.snapshot().items == (0, 1, 2) and fourth.snapshot().position is None
    endless[1].stop()
    assert endless[1].join(WAIT) and wait_until(lambda: pool.running == 0)
    with pytest.raises(ValueError, match="limit"):
        TaskPool(0)


def test_a_queued_task_stopped_leaves_the_line_without_running() -> None:
    pool = TaskPool(1)
    busy = BackgroundWorker(lambda: counting(10**9, pause=0.01), pool=pool).start()
    assert wait_until(lambda: busy.snapshot().status == "running")
    waiting = BackgroundWorker(lambda: counting(3), pool=pool).start()
    assert wait_until(lambda: waiting.snapshot().position == 1)
    waiting.stop()
    assert waiting.join(WAIT)
    snap = waiting.snapshot()
    assert snap.status == "stopped" and snap.items == () and snap.position is None
    busy.stop()
    assert busy.join(WAIT) and pool.running == 0


def test_a_task_nobody_polls_stops_itself_and_one_polled_keeps_going() -> None:
    watched = BackgroundWorker(lambda: counting(10**9, pause=0.01), abandon_after=1.0).start()
    left = BackgroundWorker(lambda: counting(10**9, pause=0.01), abandon_after=0.5).start()
    assert left.join(WAIT)  # nobody polls it: it stops by itself
    snap = left.snapshot()
    assert snap.status == "stopped" and snap.abandoned and len(snap.items) > 0
    for _ in range(20):  # polled ten times as often as abandon_after, for twice as long
        assert not watched.snapshot().done
        time.sleep(0.1)
    assert not watched.snapshot().abandoned
    watched.stop()
    assert watched.join(WAIT) and not watched.snapshot().abandoned


def test_an_abandoned_task_leaves_the_queue_and_frees_nothing_it_never_held() -> None:
    pool = TaskPool(1)
    busy = BackgroundWorker(lambda: counting(10**9, pause=0.01), pool=pool).start()
    assert wait_until(lambda: busy.snapshot().status == "running")
    gone = BackgroundWorker(lambda: counting(3), pool=pool, abandon_after=0.3).start()
    assert gone.join(WAIT)
    assert gone.snapshot().status == "stopped" and gone.snapshot().abandoned and gone.snapshot().items == ()
    assert pool.running == 1 and pool.position(gone) is None
    busy.stop()
    assert busy.join(WAIT) and wait_until(lambda: pool.running == 0)
