"""The models pages work with: the catalogue (shipped, this session's, and the runs in the
store this visitor may see: shared ones, or all under GUMBEL_LAB_SHARE_RUNS=all), the sidebar's
picker, its way out and in (download, upload) and its Share switch, and loading a checkpoint
once for every session."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core.runtime.device import available_devices
from core.store.checkpoints import Checkpoint, CheckpointError, list_checkpoints, load_checkpoint, read_metadata
from core.store.runs import RunRecord, share_everything
from core.store.transfer import MAX_UPLOAD_BYTES, ZIP_MIME, export_model, import_model, metrics_csv
from ui.layout import guarded, one_thread
from ui.runs import add_session_model, register_finished_run, run_store, session_dir, session_id, session_models

REPO = Path(__file__).resolve().parent.parent
SHIPPED_DIR = REPO / "checkpoints"
DEFAULT_MODEL = "best"
DEVICE_KEY = "device"
MODEL_KEY = "model_label"
SHIPPED_SUFFIX = " (shipped)"
SESSION_SUFFIX = " (this session)"
UPLOAD_KEY, UPLOAD_NOTE_KEY = "upload_model", "upload_note"
SHARE_NOTE_KEY = "share_note"
CSV_MIME = "text/csv"


def current_device() -> str:
    return st.session_state.get(DEVICE_KEY, available_devices()[0])


def visible(records: list[RunRecord]) -> list[RunRecord]:
    """The runs this visitor may list and open: shared ones and their own, or every one when the
    server shares everything (GUMBEL_LAB_SHARE_RUNS=all)."""
    session, everyone = session_id(), share_everything()
    return [r for r in records if r.visible_to(session, everyone)]


def stored_models() -> list[RunRecord]:
    """The saved runs with weights this visitor may see (shared, their own), oldest first."""
    return visible(run_store().models())


def available_models() -> dict[str, Path]:
    """Label -> checkpoint path, in groups: the shipped models, this session's runs, then the
    other saved runs this visitor may see (the CLI's, sweeps', shared ones), each labelled by
    where it came from."""
    models = {f"{p.stem}{SHIPPED_SUFFIX}": p for p in list_checkpoints(SHIPPED_DIR)}
    mine = session_models()
    models |= {f"{p.stem}{SESSION_SUFFIX}": p for p in mine}
    resolved = {p.resolve() for p in mine}
    others = [r for r in stored_models() if r.path.resolve() not in resolved]
    for record in sorted(others, key=lambda r: (r.source, r.group, r.started_at)):
        models.setdefault(record.label, record.path)
    return models


@dataclass(frozen=True)
class RunEntry:
    """A run this visitor can pick for comparison: shipped, this session's, or a shared one."""

    label: str
    source: str  # shipped, this session, page, cli, sweeps
    metadata: dict


def run_catalogue() -> dict[str, RunEntry]:
    """Run id -> entry, grouped: shipped models ("shipped/<name>"), this session's runs, then
    the other runs in the store this visitor may see (its id is its path there: "cli/x",
    "sweeps/<sweep>/<trial>"). Another visitor's unshared run is not in it."""
    shipped = {
        f"shipped/{p.stem}": RunEntry(f"{p.stem}{SHIPPED_SUFFIX}", "shipped", read_metadata(p))
        for p in list_checkpoints(SHIPPED_DIR)
    }
    mine = {Path(p).resolve() for p in session_models()}
    session: dict[str, RunEntry] = {}
    others: dict[str, RunEntry] = {}
    for record in sorted(visible(run_store().records()), key=lambda r: (r.source, r.group, r.started_at)):
        if record.path.resolve() in mine:
            session[record.run_id] = RunEntry(f"{record.name}{SESSION_SUFFIX}", "this session", record.metadata)
        else:
            others[record.run_id] = RunEntry(record.label, record.source, record.metadata | {"status": record.status})
    return shipped | session | others


def default_model_label(models: dict[str, Path]) -> str | None:
    for label, path in models.items():
        if path.stem == DEFAULT_MODEL:
            return label
    return next(iter(models), None)


def current_model_path() -> Path | None:
    models = available_models()
    label = st.session_state.get(MODEL_KEY)
    if label not in models:
        label = default_model_label(models)
    return models.get(label) if label else None


def model_picker() -> None:
    """The sidebar's model list: shipped models and this session's, the default preselected."""
    register_finished_run()
    models = available_models()
    if not models:
        st.caption("No model yet: train one on the Train page.")
        return
    labels = list(models)
    if st.session_state.get(MODEL_KEY) not in labels:
        st.session_state[MODEL_KEY] = default_model_label(models)
    st.selectbox(
        "Model",
        labels,
        key=MODEL_KEY,
        help="Shipped models first, then this session's runs, then the runs shared on this server "
        "(CLI, sweeps, and other visitors' runs they shared), labelled by where each came from.",
    )


def own_record(path: Path | None) -> RunRecord | None:
    """The run store's record of `path` when it is this session's own ended run, else None."""
    store = run_store()
    try:
        run_id = Path(path or "").resolve().relative_to(store.root.resolve()).with_suffix("").as_posix()
    except ValueError:
        return None
    record = store.get(run_id) if run_id.startswith(f"page/{session_id()}/") else None
    return record if record is not None and record.status.ended else None


def _share(run_id: str, key: str) -> None:
    try:
        run_store().set_shared(run_id, bool(st.session_state[key]))
    except (ValueError, OSError) as err:
        st.session_state[SHARE_NOTE_KEY] = str(err)


def share_switch() -> None:
    """For the picked model when it is one of this session's runs: list it to every visitor, or not."""
    record = own_record(current_model_path())
    if record is None:
        return
    if share_everything():
        st.caption("This server lists every visitor's runs to everyone (GUMBEL_LAB_SHARE_RUNS=all).")
        return
    key = f"share_{record.run_id}"
    st.session_state.setdefault(key, record.shared)
    st.toggle(
        "Share this run",
        key=key,
        on_change=_share,
        args=(record.run_id, key),
        help="List it in every visitor's Model list and on Compare. Off: yours alone again.",
    )
    note = st.session_state.pop(SHARE_NOTE_KEY, None)
    if note:
        st.error(note, icon=":material/error:")


@st.cache_data(max_entries=16, show_spinner=False)
def model_metrics_csv(path: str, mtime: float) -> str:
    """The per-epoch history its side-file records, as CSV ('' when it records none)."""
    history = read_metadata(path).get("history") or []
    return metrics_csv(history) if isinstance(history, list) and all(isinstance(r, dict) for r in history) else ""


def download_buttons(path: Path, where: str) -> None:
    """Download a model (weights + JSON in one zip) and its per-epoch metrics as CSV.

    The zip is made when the button is clicked (a few ms), not on every render: a button given
    bytes keeps them in the server's memory for as long as its session lives, ~5 MB a model,
    every session that trained one or picked one of its own (`python -m benchmarks.run_memory`)."""
    mtime = path.stat().st_mtime
    st.download_button(
        "Download the model (.zip)",
        functools.partial(export_model, path),
        f"{path.stem}.zip",
        ZIP_MIME,
        key=f"{where}_download_model",
        on_click="ignore",
        icon=":material/download:",
        help="Weights and their JSON side-file; upload it again in the sidebar on any Gumbel Lab.",
    )
    table = guarded(lambda: model_metrics_csv(str(path), mtime))
    if table:
        st.download_button(
            "Download its metrics (.csv)",
            table,
            f"{path.stem}-metrics.csv",
            CSV_MIME,
            key=f"{where}_download_metrics",
            on_click="ignore",
            icon=":material/table:",
        )


def _receive_upload() -> None:
    """Validate an uploaded model like a checkpoint on disk; keep and pick it, or say why not."""
    upload = st.session_state.get(UPLOAD_KEY)
    if upload is None:
        return
    try:
        with one_thread():  # small tensors: a second thread only waits for a busy core
            path = import_model(upload.getvalue(), upload.name, session_dir() / "uploaded")
    except (CheckpointError, OSError) as err:
        st.session_state[UPLOAD_NOTE_KEY] = ("error", str(err))
        return
    add_session_model(path)
    st.session_state[MODEL_KEY] = f"{path.stem}{SESSION_SUFFIX}"
    st.session_state[UPLOAD_NOTE_KEY] = ("success", f"{upload.name} is valid: {path.stem} is in the Model list.")


def model_transfer() -> None:
    """The sidebar's way out (the picked model) and in (a model trained elsewhere)."""
    path = current_model_path()
    if path is not None and path.exists():
        download_buttons(path, "sidebar")
    st.file_uploader(
        "Upload a model",
        type=["zip", "pt"],
        key=UPLOAD_KEY,
        on_change=_receive_upload,
        max_upload_size=MAX_UPLOAD_BYTES // 2**20,
        help="A .zip from a Download button, or a .pt from the CLI; checked like a checkpoint on disk.",
    )
    kind, text = st.session_state.get(UPLOAD_NOTE_KEY, (None, ""))
    if kind == "error":
        st.error(text, icon=":material/error:")
    elif kind == "success":
        st.success(text, icon=":material/check_circle:")


@st.cache_resource(max_entries=8, show_spinner=False)
def _load_cached(path: str, mtime: float, device: str) -> Checkpoint:
    return load_checkpoint(path, device)


def load_model(path: Path, device: str | None = None) -> Checkpoint:
    """A checkpoint shared read-only by all sessions; reloaded when the file changes."""
    device = device or current_device()
    return _load_cached(str(path), path.stat().st_mtime, device)
