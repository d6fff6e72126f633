"""This server's training runs as pages see them: the pool of run slots, the run store, this
browser session's folder and models, and the poll that keeps a session's run alive."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import streamlit as st

from core.runtime.slots import RunSlots
from core.store.runs import RunStore

# Session keys more than one page or the sidebar read.
TRAINED_MODELS_KEY = "trained_models"
RUN_KEY = "train_run"
# A run nobody polls is stopped after a while (views/train.py); every open page polls it this often.
KEEP_ALIVE_SECONDS = 10.0
MAX_RUNS_ENV = "GUMBEL_LAB_MAX_RUNS"
DEFAULT_MAX_RUNS = 2


@st.fragment(run_every=KEEP_ALIVE_SECONDS)
def keep_run_alive() -> None:
    """Poll this session's run from any page, so its watchdog knows the visitor is still here."""
    run = st.session_state.get(RUN_KEY)
    if run is not None and not run.done:
        run.snapshot()


def run_limit() -> int:
    """How many training runs this server carries at once (Train page runs and local sweep trials)."""
    try:
        return max(1, int(os.environ.get(MAX_RUNS_ENV, DEFAULT_MAX_RUNS)))
    except ValueError:
        return DEFAULT_MAX_RUNS


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
