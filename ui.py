"""What every page shares: the sidebar state, cached models and data, errors, and the one
way a page's settings travel between the URL and the session (`ui.url_state`).

Thin Streamlit glue over `core`; no maths lives here.
"""

from __future__ import annotations

import functools
import math
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import streamlit as st
import torch

from core.data import MissingDataError, MNISTSplit, download_mnist, load_mnist, resolve_data_root
from core.figures.style import presenter_view
from core.runtime.background import BackgroundWorker, Snapshot
from core.runtime.device import available_devices
from core.runtime.slots import RunSlots
from core.store.checkpoints import Checkpoint, CheckpointError, list_checkpoints, load_checkpoint, read_metadata
from core.store.runs import RunRecord, RunStore
from core.store.transfer import MAX_UPLOAD_BYTES, ZIP_MIME, export_model, import_model, metrics_csv
from core.studies.formulas import formula

REPO = Path(__file__).resolve().parent
SHIPPED_DIR = REPO / "checkpoints"
DEFAULT_MODEL = "best"

# Session keys more than one page or the sidebar read.
DEVICE_KEY = "device"
MODEL_KEY = "model_label"
TRAINED_MODELS_KEY = "trained_models"
RUN_KEY = "train_run"
# A run nobody polls is stopped after a while (views/train.py); every open page polls it this often.
KEEP_ALIVE_SECONDS = 10.0

T = TypeVar("T")
P = ParamSpec("P")
TIMING_LOG_ENV = "GUMBEL_LAB_TIMING"  # a file: each timed page part appends "name seconds"


@dataclass(frozen=True)
class PageEntry:
    path: str
    title: str
    icon: str
    blurb: str


# The one list of pages: app.py navigates over it, Home links to every entry but itself.
PAGES = (
    PageEntry("views/home.py", "Home", ":material/home:", "What Gumbel Lab shows."),
    PageEntry(
        "views/temperature.py",
        "Temperature",
        ":material/thermostat:",
        "Move the logits and temperatures; compare relaxed samples and check Gumbel-max against softmax.",
    ),
    PageEntry(
        "views/train.py",
        "Train",
        ":material/model_training:",
        "Train the categorical VAE live and watch the relaxed and unrelaxed objectives.",
    ),
    PageEntry(
        "views/sweep.py",
        "Sweep",
        ":material/grid_view:",
        "A grid of runs over τ, estimator, annealing, learning rate, preset and seeds, trained at once on Ray.",
    ),
    PageEntry(
        "views/compare.py",
        "Compare",
        ":material/compare_arrows:",
        "Any runs — shipped, yours, the CLI's, sweep trials — on shared axes, with their settings side by side.",
    ),
    PageEntry(
        "views/latent_editor.py",
        "Latent editor",
        ":material/grid_on:",
        "Edit a trained model's one-hot code and watch the decoded digit change.",
    ),
    PageEntry(
        "views/estimators.py",
        "Gradient estimators",
        ":material/troubleshoot:",
        "Bias and variance of score-function, Gumbel-Softmax, straight-through and Gumbel-Rao gradients.",
    ),
    PageEntry(
        "views/structures.py",
        "Subsets & permutations",
        ":material/shuffle:",
        "Gumbel top-k subsets and Gumbel-Sinkhorn permutations, and a network that learns to sort.",
    ),
    PageEntry(
        "views/graphs.py",
        "Graphs",
        ":material/hub:",
        "Random graphs and spanning trees from the Gumbel trick, and a planted tree learned live.",
    ),
)


PROCESS_THREADS = max(1, (os.cpu_count() or 2) - 1)


def leave_a_core_for_the_page() -> None:
    """Run torch on all cores but one: with every core busy training, torch's small ops on a
    page (a slider move) wait 10-100x longer for their threads than they compute."""
    torch.set_num_threads(PROCESS_THREADS)


@contextmanager
def one_thread() -> Iterator[None]:
    """A page's computation on one torch thread. Its tensors are small: a second thread only
    waits for a core that training or another visitor's rerun holds, and a dozen reruns each
    asking for every core oversubscribe the machine. Torch keeps a count per thread once the
    thread has used it, and new threads start from the last count set anywhere, so the process
    default is put back at once (training threads started later begin from it)."""
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(PROCESS_THREADS)


def timed(name: str) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Append a page part's server seconds per run, wall and this thread's CPU, to
    $GUMBEL_LAB_TIMING for the load test (benchmarks/lecture_hall.py); without the variable the
    part runs untouched."""

    def wrap(part: Callable[P, None]) -> Callable[P, None]:
        log = os.environ.get(TIMING_LOG_ENV)
        if not log:
            return part

        @functools.wraps(part)
        def run(*args: P.args, **kwargs: P.kwargs) -> None:
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                part(*args, **kwargs)
            finally:
                with open(log, "a") as out:  # one short append per run: lines never interleave
                    out.write(f"{name} {time.perf_counter() - started:.4f} {time.thread_time() - cpu:.4f}\n")

        return run

    return wrap


@st.fragment(run_every=KEEP_ALIVE_SECONDS)
def keep_run_alive() -> None:
    """Poll this session's run from any page, so its watchdog knows the visitor is still here."""
    run = st.session_state.get(RUN_KEY)
    if run is not None and not run.done:
        run.snapshot()


MAX_RUNS_ENV = "GUMBEL_LAB_MAX_RUNS"
DEFAULT_MAX_RUNS = 2


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


def current_device() -> str:
    return st.session_state.get(DEVICE_KEY, available_devices()[0])


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


SHIPPED_SUFFIX = " (shipped)"
SESSION_SUFFIX = " (this session)"


def stored_models() -> list[RunRecord]:
    """Every saved run with weights on this server (any session, the CLI, sweeps), oldest first."""
    return run_store().models()


def available_models() -> dict[str, Path]:
    """Label -> checkpoint path, in groups: the shipped models, this session's runs, then every
    other saved run on the server (CLI, sweeps, other sessions), each labelled by where it came from."""
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
    """A run anyone can pick for comparison: shipped, this session's, or any in the run store."""

    label: str
    source: str  # shipped, this session, page, cli, sweeps
    metadata: dict


def run_catalogue() -> dict[str, RunEntry]:
    """Run id -> entry, grouped: shipped models ("shipped/<name>"), this session's runs, then
    every other run in the store (its id is its path there: "cli/x", "sweeps/<sweep>/<trial>")."""
    from core.store.checkpoints import read_metadata

    shipped = {
        f"shipped/{p.stem}": RunEntry(f"{p.stem}{SHIPPED_SUFFIX}", "shipped", read_metadata(p))
        for p in list_checkpoints(SHIPPED_DIR)
    }
    mine = {Path(p).resolve() for p in session_models()}
    session: dict[str, RunEntry] = {}
    others: dict[str, RunEntry] = {}
    for record in sorted(run_store().records(), key=lambda r: (r.source, r.group, r.started_at)):
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
        help="Shipped models first, then this session's runs, then every other run saved on this server "
        "(CLI, sweeps, other sessions), labelled by where each came from.",
    )


# --- models out and in ---------------------------------------------------------------------
UPLOAD_KEY, UPLOAD_NOTE_KEY = "upload_model", "upload_note"
CSV_MIME = "text/csv"


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
        with one_thread():  # small tensors: a second thread only waits for a busy core (10x slower here)
            path = import_model(upload.getvalue(), upload.name, session_dir() / "uploaded")
    except (CheckpointError, OSError) as err:
        st.session_state[UPLOAD_NOTE_KEY] = ("error", str(err))
        return
    add_session_model(path)
    st.session_state[MODEL_KEY] = f"{path.stem} (this session)"
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


def section(title: str, caption: str) -> tuple[Any, Any]:
    """A page section: its header, one sentence on what it shows, and a narrow column for the
    controls beside a wide one for the pictures."""
    st.header(title)
    note(caption)
    controls, view = st.columns([1, 3], gap="large")
    return controls, view


def poll_worker(worker: BackgroundWorker, stop_key: str) -> Snapshot:
    """Inside a polling fragment: the worker's snapshot under a Stop button; once the worker
    has ended, the whole page reruns to show the result."""
    snap = worker.snapshot()
    if snap.done:
        st.rerun()
    st.button("Stop", on_click=worker.stop, icon=":material/stop:", key=stop_key)
    return snap


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


@st.cache_resource(show_spinner="Loading MNIST…")
def _mnist(root: str) -> tuple[MNISTSplit, MNISTSplit]:
    return load_mnist("train", root, download=False), load_mnist("test", root, download=False)


def mnist() -> tuple[MNISTSplit, MNISTSplit]:
    """Both splits, shared read-only by every session. Never a download: a page must not hang
    on the network; a MissingDataError says where to put the files."""
    return _mnist(str(resolve_data_root().resolve()))


def mnist_or_stop() -> tuple[MNISTSplit, MNISTSplit]:
    """MNIST, or the missing-data message, an offer to download it, and the end of this page's run."""
    try:
        return mnist()
    except MissingDataError as err:
        show_error(err)
        offer_mnist_download()
        st.stop()
        raise  # st.stop() raises; this line tells the type checker so


MNIST_TIMEOUT_SECONDS = 15.0  # per read: a silent network fails here, never hangs the page
MNIST_DEADLINE_SECONDS = 300.0


def offer_mnist_download() -> None:
    """'Download MNIST (11 MB)': a progress bar, a time-out, and on success the page again."""
    if not st.button("Download MNIST (11 MB)", icon=":material/download:", type="primary", key="download_mnist"):
        return
    bar = st.progress(0.0, text="Downloading MNIST…")

    def progress(done: int, total: int) -> None:
        bar.progress(min(done / total, 1.0), text=f"Downloading MNIST… {done / 2**20:.1f} of {total / 2**20:.1f} MB")

    try:
        download_mnist(None, progress, timeout=MNIST_TIMEOUT_SECONDS, deadline=MNIST_DEADLINE_SECONDS)
    except MissingDataError as err:
        bar.empty()
        show_error(err)
        return
    _mnist.clear()
    st.rerun()


# --- page settings between the URL and the session ------------------------------------------
# Query parameters are strings anyone can edit. Each page declares its settings as fields
# that carry the widget's own bounds, so whatever a URL says, the value that reaches a widget
# or torch is one the widget accepts: clamped to its range, a JS-safe integer, a known choice,
# at most as many items as the widget allows, parsed from ASCII only.

JS_MAX_INT = 2**53 - 1  # the largest integer a browser's number input holds exactly
SEED_MAX = 2**31 - 1
_KEPT_KEY = "url_state_kept"
_INT = re.compile(r"[+-]?[0-9]{1,30}")
_FLOAT = re.compile(r"[+-]?([0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30})([eE][+-]?[0-9]{1,3})?")
_TRUE, _FALSE = ("1", "true", "on", "yes"), ("0", "false", "off", "no")


def _number_text(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _choice(choices: Sequence, text: str) -> Any | None:
    """The choice a URL text names: by its text, or by number for numeric choices ("2.0" is 2)."""
    text = text.strip()
    for choice in choices:
        if _number_text(choice) == text:
            return choice
    number = _parse_float(text)
    numeric = [c for c in choices if isinstance(c, (int, float)) and not isinstance(c, bool)]
    return next((c for c in numeric if number is not None and c == number), None)


@dataclass(frozen=True)
class Field:
    """One page setting: its session key (the widget's key), its URL name and its default."""

    key: str
    param: str
    default: Any

    def parse(self, raw: str) -> Any | None:
        """The value a URL text stands for, within the widget's bounds; None when unusable."""
        raise NotImplementedError

    def encode(self, value: Any) -> str:
        return _number_text(value)


@dataclass(frozen=True)
class IntField(Field):
    """A whole number in [low, high]; out-of-range values are clamped, or folded into the
    range for seeds (any integer names some seed, and a seed is just a label)."""

    low: int = 0
    high: int = JS_MAX_INT
    fold: bool = False

    def parse(self, raw: str) -> int | None:
        if not _INT.fullmatch(raw.strip()):
            return None
        value = int(raw)
        if self.fold:
            return self.low + (value - self.low) % (self.high - self.low + 1)
        return min(max(value, self.low), self.high)


@dataclass(frozen=True)
class FloatField(Field):
    low: float = -math.inf
    high: float = math.inf

    def parse(self, raw: str) -> float | None:
        value = _parse_float(raw)
        return None if value is None else min(max(value, self.low), self.high)


def _parse_float(raw: str) -> float | None:
    raw = raw.strip()
    if not _FLOAT.fullmatch(raw):
        return None
    value = float(raw)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class ChoiceField(Field):
    """One of a fixed list; older names in `aliases` still open the same view."""

    choices: tuple = ()
    aliases: tuple[tuple[str, Any], ...] = ()

    def parse(self, raw: str) -> Any | None:
        return dict(self.aliases).get(raw.strip(), _choice(self.choices, raw))


@dataclass(frozen=True)
class FlagField(Field):
    default: bool = False

    def parse(self, raw: str) -> bool | None:
        word = raw.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else None

    def encode(self, value: Any) -> str:
        return "on" if value else "off"


@dataclass(frozen=True)
class ListField(Field):
    """Several of a fixed list (a multiselect): unknown items dropped, duplicates once, at most
    `max_count` kept, in the widget's order; `min_count` or more, or the default."""

    choices: tuple = ()
    max_count: int = 1_000
    min_count: int = 1

    def parse(self, raw: str) -> list | None:
        picked = {_choice(self.choices, part) for part in raw.split(",")}
        values = [c for c in self.choices if c in picked][: self.max_count]
        return values if len(values) >= self.min_count else None

    def encode(self, value: Any) -> str:
        return ",".join(_number_text(v) for v in value)


@dataclass(frozen=True)
class RangeField(ListField):
    """A (low, high) pair from a fixed list, for a range slider."""

    max_count: int = 2
    min_count: int = 2

    def parse(self, raw: str) -> tuple | None:  # type: ignore[override]
        values = super().parse(raw)
        return None if values is None else (values[0], values[-1])


@dataclass(frozen=True)
class FloatListField(Field):
    """Numbers for a row of sliders (logits, weights), each clamped to [low, high]; no more
    than max_count. Unparsable items make the whole list unusable, not a shifted one."""

    low: float = -math.inf
    high: float = math.inf
    max_count: int = 100

    def parse(self, raw: str) -> list[float] | None:
        parts = [p for p in raw.split(",") if p.strip()][: self.max_count]
        values = [_parse_float(p) for p in parts]
        if not values or any(v is None for v in values):
            return None
        return [min(max(float(v), self.low), self.high) for v in values if v is not None]

    def encode(self, value: Any) -> str:
        return ",".join(_number_text(float(v)) for v in value)


@dataclass(frozen=True)
class TextField(Field):
    """Free text matching a pattern (ASCII only), e.g. a latent code's digits."""

    pattern: str = ".*"

    def parse(self, raw: str) -> str | None:
        return raw if raw.isascii() and re.fullmatch(self.pattern, raw) else None


def url_value(field: Field) -> Any:
    """The field's value in the URL, or None when the URL has none that the widget accepts."""
    raw = st.query_params.get(field.param)
    return None if raw is None else field.parse(raw)


def initial_value(field: Field) -> Any:
    """The value a widget starts from: the URL's when usable, else this session's last, else
    the default. For widgets that must be given `value=` (a range slider takes its shape from
    it); every other widget is seeded through `url_state`."""
    value = url_value(field)
    return st.session_state.setdefault(_KEPT_KEY, {}).get(field.key, field.default) if value is None else value


def url_state(fields: Sequence[Field]) -> None:
    """Give each field missing from the session its value: from the URL when it holds a usable
    one, else this session's last value on the page, else the default.

    Runs on every render: Streamlit drops a widget's state when the widget is not drawn
    (another page, a slider beyond the current count), and query parameters are cleared on a
    page switch, so the last values are kept apart from the widgets."""
    for field in fields:
        if field.key not in st.session_state:
            st.session_state[field.key] = initial_value(field)


def write_url(fields: Sequence[Field]) -> None:
    """Mirror the fields' session values into the URL (a bookmark reopens this view)."""
    kept = st.session_state.setdefault(_KEPT_KEY, {})
    for field in fields:
        if field.key not in st.session_state:
            continue
        kept[field.key] = st.session_state[field.key]
        write_param(field, kept[field.key])


def write_param(field: Field, value: Any) -> None:
    """One value into the URL, for settings held outside a single session key."""
    text = field.encode(value)
    if st.query_params.get(field.param) != text:
        st.query_params[field.param] = text


def forget_url_state(fields: Sequence[Field]) -> None:
    """Drop the fields' session values, so the next url_state starts them afresh."""
    kept = st.session_state.setdefault(_KEPT_KEY, {})
    for field in fields:
        st.session_state.pop(field.key, None)
        kept.pop(field.key, None)


# --- lecture settings: the maths beside every picture, and presenter view ------------------
# Sidebar toggles kept in the URL on every page (app.py draws them), so a lecture's bookmarks
# open with the maths shown or hidden and in presenter view.
MATHS = FlagField("show_maths", "maths", True)
PRESENTER = FlagField("presenter", "presenter", False)
LECTURE_FIELDS = (MATHS, PRESENTER)


def lecture_toggles() -> None:
    """The sidebar's two lecture switches; their values go into the URL of every page."""
    url_state(LECTURE_FIELDS)
    st.toggle("Show the maths", key=MATHS.key, help="Each figure's defining formula and how to read it.")
    st.toggle(
        "Presenter view",
        key=PRESENTER.key,
        help="Larger fonts and thicker lines for a projector; secondary captions hidden.",
    )
    write_url(LECTURE_FIELDS)


def _flag(field: FlagField) -> bool:
    url_state([field])  # a page run alone (a test) still reads the URL
    return bool(st.session_state[field.key])


def maths_on() -> bool:
    return _flag(MATHS)


def presenter_on() -> bool:
    return _flag(PRESENTER)


def maths(name: str) -> None:
    """A figure's formula and one sentence on how to read it, when the maths is shown."""
    if maths_on():
        shown = formula(name)
        st.latex(shown.latex)
        st.caption(shown.reading)


def chart(fig: Any, maths_name: str | None = None, **kwargs: Any) -> Any:
    """A plotly figure in the house way: scaled for a projector in presenter view, its formula
    below it when the maths is shown. kwargs go to st.plotly_chart."""
    shown = st.plotly_chart(presenter_view(fig, presenter_on()), **kwargs)
    if maths_name:
        maths(maths_name)
    return shown


def note(text: str) -> None:
    """A secondary caption: hidden in presenter view, where the lecturer says it instead."""
    if not presenter_on():
        st.caption(text)
