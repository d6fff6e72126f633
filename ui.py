"""What every page shares: the sidebar state, cached models, errors, query parameters.

Thin Streamlit glue over `core`; no maths lives here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import streamlit as st
import torch

from core.checkpoints import Checkpoint, list_checkpoints, load_checkpoint

REPO = Path(__file__).resolve().parent
SHIPPED_DIR = REPO / "checkpoints"
RUNS_DIR = Path(os.environ.get("GUMBEL_LAB_RUNS", REPO / "runs"))
DEFAULT_MODEL = "best"

T = TypeVar("T")


@dataclass(frozen=True)
class PageEntry:
    path: str
    title: str
    icon: str
    blurb: str


# The one list of pages: app.py navigates over it, Home links to every entry but itself.
PAGES = (
    PageEntry("views/home.py", "Home", ":material/home:", "What Gumbel Lab shows."),
    PageEntry("views/temperature.py", "Temperature", ":material/thermostat:",
              "Move the logits and temperatures; compare relaxed samples and check Gumbel-max against softmax."),
    PageEntry("views/train.py", "Train", ":material/model_training:",
              "Train the categorical VAE live and watch the relaxed and unrelaxed objectives."),
    PageEntry("views/latent_editor.py", "Latent editor", ":material/grid_on:",
              "Edit a trained model's one-hot code and watch the decoded digit change."),
    PageEntry("views/estimators.py", "Gradient estimators", ":material/troubleshoot:",
              "Bias and variance of score-function, Gumbel-Softmax, straight-through and Gumbel-Rao gradients."),
    PageEntry("views/structures.py", "Subsets & permutations", ":material/shuffle:",
              "Gumbel top-k subsets and Gumbel-Sinkhorn permutations, and a network that learns to sort."),
)


def leave_a_core_for_the_page() -> None:
    """Run torch on all cores but one: with every core busy training, torch's small ops on a
    page (a slider move) wait 10-100x longer for their threads than they compute."""
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))


def devices() -> list[str]:
    return (["cuda"] if torch.cuda.is_available() else []) + ["cpu"]


def device_label(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return "CPU"


def current_device() -> str:
    return st.session_state.get("device", devices()[0])


def session_models() -> list[Path]:
    """Checkpoints trained in this browser session, newest last."""
    return [p for p in st.session_state.setdefault("trained_models", []) if Path(p).exists()]


def add_session_model(path: Path) -> None:
    models = st.session_state.setdefault("trained_models", [])
    if path not in models:
        models.append(path)


def register_finished_run() -> None:
    """Offer a run that ended while its owner was on another page in the model picker."""
    run = st.session_state.get("train_run")
    if run is not None and run.done:
        checkpoint = run.snapshot().checkpoint
        if checkpoint is not None:
            add_session_model(checkpoint)


def available_models() -> dict[str, Path]:
    """Label -> checkpoint path: the shipped models, then this session's."""
    models = {f"{p.stem} (shipped)": p for p in list_checkpoints(SHIPPED_DIR)}
    models |= {f"{p.stem} (this session)": p for p in session_models()}
    return models


def default_model_label(models: dict[str, Path]) -> str | None:
    for label, path in models.items():
        if path.stem == DEFAULT_MODEL:
            return label
    return next(iter(models), None)


def current_model_path() -> Path | None:
    models = available_models()
    label = st.session_state.get("model_label")
    if label not in models:
        label = default_model_label(models)
    return models.get(label) if label else None


@st.cache_resource(max_entries=8, show_spinner=False)
def _load_cached(path: str, mtime: float, device: str) -> Checkpoint:
    return load_checkpoint(path, device)


def load_model(path: Path, device: str | None = None) -> Checkpoint:
    """A checkpoint shared read-only by all sessions; reloaded when the file changes."""
    device = device or current_device()
    return _load_cached(str(path), path.stat().st_mtime, device)


def show_error(err: BaseException) -> None:
    """An error as a message a user can act on, never a traceback."""
    st.error(str(err) or type(err).__name__, icon=":material/error:")


def guarded(fn: Callable[[], T]) -> T | None:
    """Run fn; show ValueError / RuntimeError / OSError as a message instead of a traceback."""
    try:
        return fn()
    except (ValueError, RuntimeError, OSError) as err:
        show_error(err)
        return None


def query_value(name: str, default: T, cast: Callable[[str], T] | None = None, choices: list | None = None) -> T:
    """A page setting from the URL, falling back to default when absent or malformed."""
    raw = st.query_params.get(name)
    if raw is None:
        return default
    try:
        value = (cast or type(default))(raw)
    except (TypeError, ValueError):
        return default
    if choices is not None and value not in choices:
        return default
    return value


def query_list(name: str, default: list[T], cast: Callable[[str], T]) -> list[T]:
    """A comma-separated list from the URL."""
    raw = st.query_params.get(name)
    if not raw:
        return default
    try:
        return [cast(part) for part in raw.split(",") if part != ""] or default
    except (TypeError, ValueError):
        return default


def write_query(**values: Any) -> None:
    """Mirror a page's key settings into the URL (lists become comma-separated)."""
    encoded = {
        k: ",".join(str(x) for x in v) if isinstance(v, (list, tuple)) else str(v)
        for k, v in values.items()
    }
    for key, value in encoded.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value
