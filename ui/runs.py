"""This server's training runs as pages see them: the pool of run slots, the run store, this
browser session's folder and models, and the poll that keeps a session's run alive."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import streamlit as st

from core.data import MNISTSplit
from core.runtime.jobs import Status
from core.runtime.slots import RunSlots, SlotsView, round_wait
from core.runtime.threads import requested_threads
from core.store.runs import RunStore
from core.sweeps.ray_backend import ray_address
from core.training.config import TrainConfig
from core.training.live import LiveRun, RunSnapshot
from core.training.remote import RayTrainingRun
from core.training.run import TrainingRun

# Session keys more than one page or the sidebar read.
TRAINED_MODELS_KEY = "trained_models"
RUN_KEY = "train_run"
# A run nobody polls is stopped after a while (views/train.py); every open page polls it this often.
KEEP_ALIVE_SECONDS = 10.0
MAX_RUNS_ENV = "GUMBEL_LAB_MAX_RUNS"
DEFAULT_MAX_RUNS = 2
ABANDON_ENV = "GUMBEL_LAB_ABANDON_SECONDS"  # a run or a background task nobody polls this long is stopped
DEFAULT_ABANDON_SECONDS = 120.0
STALL_SECONDS = 3.0  # no step for this long while running: say the run waits, never look frozen


def server_setting(name: str, default: float, minimum: float) -> float:
    """A number from the environment, at least `minimum`; the default when unset or not a number."""
    try:
        return max(minimum, float(os.environ.get(name, default)))
    except ValueError:
        return default


def abandon_seconds() -> float:
    """How long a run or task goes unwatched (its tab closed) before it is stopped and its slot freed."""
    return server_setting(ABANDON_ENV, DEFAULT_ABANDON_SECONDS, 1.0)


@st.fragment(run_every=KEEP_ALIVE_SECONDS)
def keep_run_alive() -> None:
    """Poll this session's run from any page, so its watchdog knows the visitor is still here."""
    run = st.session_state.get(RUN_KEY)
    if run is not None and not run.done:
        run.snapshot()


def run_limit() -> int:
    """How many training runs this server carries at once (Train page runs and local sweep trials)."""
    return int(server_setting(MAX_RUNS_ENV, DEFAULT_MAX_RUNS, 1))


def run_threads() -> int:
    """The most torch threads a run may use (it uses fewer when other processes hold cores):
    the cores shared by as many runs as the server allows."""
    return max(1, (os.cpu_count() or 1) // run_limit())


@st.cache_resource
def _run_slots(limit: int) -> RunSlots:
    return RunSlots(limit)


def run_slots() -> RunSlots:
    """One pool of run slots for the whole server."""
    return _run_slots(run_limit())


def run_store() -> RunStore:
    """The server's run store ($GUMBEL_LAB_RUNS, else ./runs), read afresh: it is just a folder."""
    return RunStore()


def session_id() -> str:
    """This browser session's folder name in the run store (runs/page/<id>)."""
    return st.session_state.setdefault("train_session_id", uuid.uuid4().hex[:8])


def session_models() -> list[Path]:
    """Checkpoints trained in this browser session, newest last."""
    return [p for p in st.session_state.setdefault(TRAINED_MODELS_KEY, []) if Path(p).exists()]


def add_session_model(path: Path) -> None:
    models = st.session_state.setdefault(TRAINED_MODELS_KEY, [])
    if path not in models:
        models.append(path)


def session_dir() -> Path:
    """This browser session's own folder in the run store, for the models it trains or uploads:
    runs/page/<session>."""
    return run_store().root / "page" / session_id()


def register_finished_run() -> None:
    """Offer a run that ended while its owner was on another page in the model picker."""
    run = st.session_state.get(RUN_KEY)
    if run is not None and run.done:
        checkpoint = run.snapshot().checkpoint
        if checkpoint is not None:
            add_session_model(checkpoint)


def duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def new_run(config: TrainConfig, train: MNISTSplit, test: MNISTSplit, **common: Any) -> LiveRun:
    """A run in a local process, or on the Ray cluster the server is pointed at (RAY_ADDRESS):
    the same live view either way."""
    address = ray_address()
    if address:
        return RayTrainingRun(config, train, test, address=address, **common)
    return TrainingRun(config, train, test, threads=requested_threads(), max_threads=run_threads(), **common)


def server_runs(view: SlotsView) -> None:
    """What the server trains now and who waits, for the lecturer (and every visitor)."""
    text = f"Server: training {view.busy} of {view.limit} at once"
    if view.waiting:
        text += f" · {len(view.waiting)} waiting"
    if not view.running:
        st.caption(text + ".")
        return
    with st.expander(text, icon=":material/groups:"):
        lines = [
            f"- {h.name}" + (f" · about {round_wait(h.seconds_left)} left" if h.seconds_left is not None else "")
            for h in view.running
        ]
        lines += [f"{i}. {name} (waiting)" for i, name in enumerate(view.waiting, 1)]
        st.markdown("\n".join(lines))


def queued(run: LiveRun, snap: RunSnapshot) -> None:
    """A run waiting for a slot: its place in line, and a way out of it."""
    place = snap.place.describe() if snap.place else "In line"
    st.info(
        f"**{place}.** The server trains {run_limit()} model(s) at once; yours starts by itself "
        "when a place frees. Keep this page (or any page of the app) open to keep your place.",
        icon=":material/hourglass_top:",
    )
    st.button("Leave the line", on_click=run.stop, icon=":material/logout:", key="train_leave")


def progress_text(run: LiveRun, snap: RunSnapshot) -> str:
    """The line under a run's progress bar: where it is, how fast, and how long is left or why it waits."""
    waiting = snap.stalled_seconds >= STALL_SECONDS
    if not snap.steps:
        if waiting:
            return f"Preparing the data and the model… waiting for CPU ({duration(snap.stalled_seconds)})"
        return "Preparing the data and the model…"
    text = (
        f"Epoch {snap.epoch} of {run.config.epochs} · step {snap.step:,} of {snap.total_steps:,} · "
        f"{snap.images_per_second:,.0f} images/s"
    )
    if snap.status == Status.PAUSED:
        return f"Paused · {text}"
    if waiting:
        return f"Waiting for CPU: no step for {duration(snap.stalled_seconds)} · {text}"
    if snap.seconds_left is not None:
        return f"{text} · about {duration(snap.seconds_left)} left"
    return f"{text} · {duration(snap.elapsed_seconds)} in all"
