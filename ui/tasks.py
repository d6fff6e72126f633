"""The server's background tasks as pages see them: the Graphs page's tree learning and the
sorting task on Subsets & permutations.

One pool for the whole server runs at most GUMBEL_LAB_MAX_TASKS of them at once (default 2,
apart from the training runs' own limit); a task started beyond it waits in line and its page
says where. Every page polls this session's tasks (the sidebar's keep-alive fragment), so a
task whose visitor has gone, tab closed, is stopped after GUMBEL_LAB_ABANDON_SECONDS unpolled,
like an abandoned training run. Streamlit 1.67 has no public hook for a session's end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import streamlit as st

from core.runtime.background import BackgroundWorker, Snapshot, TaskPool
from ui.runs import KEEP_ALIVE_SECONDS, abandon_seconds, server_setting

MAX_TASKS_ENV = "GUMBEL_LAB_MAX_TASKS"
DEFAULT_MAX_TASKS = 2
TASKS_KEY = "background_tasks"  # this session's workers, by the page key that names each


def task_limit() -> int:
    """How many background tasks the server runs at once."""
    return int(server_setting(MAX_TASKS_ENV, DEFAULT_MAX_TASKS, 1))


@st.cache_resource
def _pool(limit: int) -> TaskPool:
    return TaskPool(limit)


def task_pool() -> TaskPool:
    """One pool of background task slots for the whole server."""
    return _pool(task_limit())


def start_task(name: str, source: Callable[[], Iterable[Any]], pace: float = 0.0) -> BackgroundWorker:
    """Start `source` as this session's task `name` under the server's limit (queued when the
    pool is full), at most one item every `pace` seconds; it replaces the session's last task of
    that name, which is stopped."""
    tasks: dict[str, BackgroundWorker] = st.session_state.setdefault(TASKS_KEY, {})
    old = tasks.get(name)
    if old is not None:
        old.stop()
    tasks[name] = BackgroundWorker(source, pool=task_pool(), abandon_after=abandon_seconds(), pace=pace).start()
    return tasks[name]


@st.fragment(run_every=KEEP_ALIVE_SECONDS)
def keep_tasks_alive() -> None:
    """Poll this session's tasks from any page, so each knows its visitor is still here."""
    for worker in st.session_state.get(TASKS_KEY, {}).values():
        if not worker.done:
            worker.snapshot()


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def poll_worker(worker: BackgroundWorker, stop_key: str) -> Snapshot:
    """Inside a polling fragment: the worker's snapshot under a Stop button, and its place in
    line while it waits for a slot; once the worker has ended, the whole page reruns to show
    the result."""
    snap = worker.snapshot()
    if snap.done:
        st.rerun()
    if snap.position is not None:
        st.info(
            f"Waiting for a free slot: {ordinal(snap.position)} in line. The server runs "
            f"{task_limit()} background tasks at once; yours starts when one ends.",
            icon=":material/hourglass_top:",
        )
    st.button("Stop", on_click=worker.stop, icon=":material/stop:", key=stop_key)
    return snap


def abandoned_note(snap: Snapshot) -> None:
    """Say why a task stopped by itself, when it did."""
    if snap.abandoned:
        st.info(
            f"This task was stopped because no page watched it for {abandon_seconds():g} s; "
            "press Train to run it again.",
            icon=":material/info:",
        )
