"""The server's background tasks (ui/tasks.py): the Graphs page's tree learning and the
sorting task wait in line past GUMBEL_LAB_MAX_TASKS, saying where, and start when a slot frees;
a task its visitor left is stopped after GUMBEL_LAB_ABANDON_SECONDS and says so on return."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import streamlit as st

from core.runtime.background import BackgroundWorker
from tests.apptest import run_page
from ui import runs, tasks

WAIT = 60.0
PAGES = {"views/graphs.py": "graphs_worker", "views/structures.py": "sort_run"}


def endless() -> Iterator[int]:
    i = 0
    while True:
        time.sleep(0.01)
        yield i
        i += 1


@pytest.fixture
def one_slot(monkeypatch) -> Iterator[BackgroundWorker]:
    """A server that runs one background task at once, that slot held by another visitor's task."""
    monkeypatch.setenv(tasks.MAX_TASKS_ENV, "1")
    st.cache_resource.clear()
    busy = BackgroundWorker(endless, pool=tasks.task_pool()).start()
    deadline = time.monotonic() + WAIT
    while busy.snapshot().status != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    yield busy
    busy.stop()
    busy.join(WAIT)
    st.cache_resource.clear()


@pytest.mark.parametrize("page", PAGES)
def test_a_task_past_the_limit_waits_in_line_says_so_and_starts_when_a_slot_frees(page, one_slot):
    at = run_page(page)
    at.button[0].click().run()  # Train
    assert not at.exception and not at.error
    worker = at.session_state[PAGES[page]][0]
    assert worker.snapshot().status == "queued" and worker.snapshot().position == 1
    assert any("1st in line" in info.value and "1 background tasks at once" in info.value for info in at.info)
    one_slot.stop()  # the other task ends: this one takes the slot
    assert one_slot.join(WAIT)
    deadline = time.monotonic() + WAIT
    while worker.snapshot().status == "queued" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.snapshot().status in ("running", "finished")
    worker.stop()
    assert worker.join(WAIT)


def test_a_second_visitor_queues_behind_the_first(one_slot):
    first, second = run_page("views/graphs.py"), run_page("views/structures.py")
    first.button[0].click().run()
    second.button[0].click().run()
    ahead, behind = first.session_state["graphs_worker"][0], second.session_state["sort_run"][0]
    assert (ahead.snapshot().position, behind.snapshot().position) == (1, 2)
    assert any("2nd in line" in info.value for info in second.info)
    behind.stop()  # leaving the line frees no slot and moves nobody behind
    assert behind.join(WAIT) and behind.snapshot().status == "stopped" and ahead.snapshot().position == 1
    ahead.stop()
    assert ahead.join(WAIT)


def test_a_task_its_visitor_left_stops_by_itself_and_says_why(monkeypatch):
    monkeypatch.setenv(runs.ABANDON_ENV, "1")
    monkeypatch.setenv(tasks.MAX_TASKS_ENV, "2")
    st.cache_resource.clear()
    at = run_page("views/graphs.py", steps="500")
    at.button[0].click().run()
    worker = at.session_state["graphs_worker"][0]
    assert worker.abandon_after == 1.0
    assert worker.join(WAIT)  # nobody polls it: no fragment runs between AppTest's runs
    assert worker.snapshot().status == "stopped" and worker.snapshot().abandoned
    at.run()  # the visitor comes back
    assert any("no page watched it for 1 s" in info.value for info in at.info)
    assert tasks.task_pool().running == 0


def test_the_server_settings_read_sensibly(monkeypatch):
    for raw, limit in (("3", 3), ("0", 1), ("many", tasks.DEFAULT_MAX_TASKS)):
        monkeypatch.setenv(tasks.MAX_TASKS_ENV, raw)
        assert tasks.task_limit() == limit
    monkeypatch.setenv(runs.ABANDON_ENV, "0.01")
    assert runs.abandon_seconds() == 1.0
    assert [tasks.ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
    ]  # fmt: skip
