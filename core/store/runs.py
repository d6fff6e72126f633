"""The run store: every run — from the Train page, the CLI or a sweep — saved and listed the same way.

One folder (GUMBEL_LAB_RUNS, default ./runs) holds a record per run in the checkpoint format
of `core.store.checkpoints` (`<name>.pt` weights + `<name>.json` side-file), in subfolders by source:

    runs/page/<session>/<name>   the Train page, one folder per browser session
    runs/cli/<name>              python -m core.training
    runs/sweeps/<sweep>/<name>   a sweep's trials (python -m core.sweeps, the Sweep page)

A record's status is a word of `core.runtime.jobs.Status`. A record is written atomically when
the run starts (running, its pid and host and a heartbeat), again after every epoch (history
so far) and when it ends (finished or stopped with weights, failed with the error and no
weights). A record that has not ended and whose process is gone lists as failed ("ended
unexpectedly"): a crash or a kill leaves a readable record, never a half-written model
(weights are only ever renamed into place). Records written with older words ("cancelled")
read as their status today; a word that is no status lists as failed, saying so.

Disk use is bounded by GUMBEL_LAB_RUNS_MAX_COUNT and GUMBEL_LAB_RUNS_MAX_MB: past either, the
oldest ended, unpinned runs are deleted, and `enforce_quota` says which. Shipped models live
in checkpoints/, outside the store, and are never touched.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.runtime.jobs import Status
from core.store.checkpoints import FORMAT, atomic_write_json, metadata_path, read_metadata, recorded_seed

RUNS_ENV = "GUMBEL_LAB_RUNS"
MAX_COUNT_ENV = "GUMBEL_LAB_RUNS_MAX_COUNT"
MAX_MB_ENV = "GUMBEL_LAB_RUNS_MAX_MB"
REPO = Path(__file__).resolve().parents[2]
SOURCES = ("page", "cli", "sweeps")
SOURCE_LABELS = {"page": "Train page", "cli": "CLI", "sweeps": "sweep", "shipped": "shipped"}
# A record from another machine that has not beaten for this long is taken for dead.
REMOTE_STALE_SECONDS = 1800.0

log = logging.getLogger(__name__)


def runs_root() -> Path:
    """The runs folder: $GUMBEL_LAB_RUNS, else ./runs beside the code."""
    return Path(os.environ.get(RUNS_ENV) or REPO / "runs")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


@dataclass(frozen=True)
class RunRecord:
    """One stored run as listed: where it is, what its JSON says, its status as it stands now."""

    path: Path  # the weights' path (may not exist: a running or failed run has none)
    metadata: dict
    status: Status
    error: str | None
    run_id: str  # its path under the runs folder, without suffix: "cli/x", "sweeps/tau/t1"

    @property
    def source(self) -> str:
        return self.run_id.split("/", 1)[0] if "/" in self.run_id else "other"

    @property
    def group(self) -> str:
        """The folder the run sits in under its source: a session, a sweep, or "cli"."""
        parts = self.run_id.split("/")
        return parts[1] if len(parts) > 2 else parts[0]

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def has_weights(self) -> bool:
        return self.path.is_file()

    @property
    def pinned(self) -> bool:
        return bool(self.metadata.get("pinned"))

    @property
    def started_at(self) -> str:
        return str(self.metadata.get("started_at") or self.metadata.get("created_at") or "")

    @property
    def label(self) -> str:
        """How a picker names it: the run, then where it came from."""
        source = self.source
        where = {"page": f"session {self.group}", "cli": "CLI", "sweeps": f"sweep {self.group}"}.get(source, source)
        return f"{self.name} ({where})"

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.path, metadata_path(self.path)) if p.is_file())


class RunStore:
    """The runs folder: records written at start, per epoch and at the end; listing; the quota."""

    def __init__(
        self, root: str | os.PathLike | None = None, max_count: int | None = None, max_mb: float | None = None
    ) -> None:
        """The store at `root` ($GUMBEL_LAB_RUNS by default), with its quota from the environment
        unless given (a sweep hands its driver's quota to trials in other processes)."""
        self.root = Path(root) if root is not None else runs_root()
        if max_count is None:
            count_env = _env_number(MAX_COUNT_ENV)
            max_count = int(count_env) if count_env is not None else None
        self.max_count = max_count
        self.max_mb = _env_number(MAX_MB_ENV) if max_mb is None else max_mb

    # --- where runs go ---------------------------------------------------------------------

    def path_for(self, source: str, name: str, group: str | None = None) -> Path:
        """The weights' path for a run: runs/<source>[/<group>]/<name>.pt."""
        if source not in SOURCES:
            raise ValueError(f"unknown run source {source!r}; choose one of {', '.join(SOURCES)}.")
        for part in (name, group or "x"):
            if not part or "/" in part or part.startswith("."):
                raise ValueError(f"{part!r} is not a usable run or folder name.")
        folder = self.root / source / group if group else self.root / source
        return folder / f"{name}.pt"

    # --- writing a record ------------------------------------------------------------------

    def begin(self, path: Path, metadata: dict) -> None:
        """The record of a run that starts now: status running, this process, a heartbeat."""
        path.with_suffix(".pt").unlink(missing_ok=True)  # a rerun under the same name starts afresh
        stamp = now_iso()
        record = {
            "format": FORMAT,
            "created_at": stamp,
            **metadata,
            "name": path.stem,
            "status": Status.RUNNING,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": stamp,
            "heartbeat": time.time(),
            "history": metadata.get("history", []),
        }
        atomic_write_json(metadata_path(path), record)

    def beat(self, path: Path, **updates) -> None:
        """Refresh a running record (after an epoch, say): its heartbeat and any new fields."""
        try:
            record = read_metadata(path)
        except ValueError:
            record = {}
        if record.get("status", Status.RUNNING) != Status.RUNNING:
            return
        atomic_write_json(metadata_path(path), record | updates | {"heartbeat": time.time()})

    def close(self, path: Path, status: Status, error: str | None = None, **updates) -> None:
        """End a record without (new) weights: failed with its error, or stopped before a step."""
        try:
            record = read_metadata(path)
        except ValueError:
            record = {}
        stamp = now_iso()
        record = {"format": FORMAT, "name": path.stem, "created_at": stamp, "started_at": stamp} | record
        record |= updates | {"status": status, "ended_at": stamp}
        if error is not None:
            record["error"] = error
        atomic_write_json(metadata_path(path), record)

    def fail(self, path: Path, error: str, **updates) -> None:
        """Mark a run failed with its error; any weights it had are left as they are."""
        self.close(path, Status.FAILED, error, **updates)

    def ended_metadata(self, record_path: Path, status: Status) -> dict:
        """What to keep from the running record when the end's checkpoint is written."""
        try:
            previous = read_metadata(record_path)
        except ValueError:
            previous = {}
        kept = {k: previous[k] for k in ("started_at", "pid", "host", "pinned", "sweep") if k in previous}
        return kept | {"status": status, "ended_at": now_iso()}

    # --- reading ---------------------------------------------------------------------------

    def _record(self, side: Path) -> RunRecord | None:
        try:
            data = json.loads(side.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # RecursionError: nested too deep
            return None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        status, error = stored_status(data, side.with_suffix(".pt").is_file())
        if not status.ended and not self._still_running(data):
            status, error = Status.FAILED, "ended unexpectedly (its process is gone)"
        run_id = side.relative_to(self.root).with_suffix("").as_posix()
        return RunRecord(side.with_suffix(".pt"), data, status, error, run_id)

    @staticmethod
    def _still_running(data: dict) -> bool:
        pid, host = data.get("pid"), data.get("host")
        if host == socket.gethostname() and isinstance(pid, int):
            return _alive(pid)
        beat = data.get("heartbeat")
        return isinstance(beat, (int, float)) and time.time() - beat < REMOTE_STALE_SECONDS

    def records(self, source: str | None = None, group: str | None = None) -> list[RunRecord]:
        """Every run in the store (or one source / group), oldest first."""
        base = self.root / source if source else self.root
        if group:
            base = base / group
        if not base.is_dir():
            return []
        found = (self._record(side) for side in base.rglob("*.json") if not side.name.startswith("."))
        return sorted((r for r in found if r is not None), key=lambda r: (r.started_at, r.run_id))

    def get(self, run_id: str) -> RunRecord | None:
        side = self.root / f"{run_id}.json"  # names may hold dots (tau0.5): never with_suffix
        if ".." in Path(run_id).parts or not side.is_file():
            return None
        return self._record(side)

    def models(self) -> list[RunRecord]:
        """The runs that have weights (finished or stopped), oldest first."""
        return [r for r in self.records() if r.has_weights and r.status in (Status.FINISHED, Status.STOPPED)]

    # --- pins and the quota ----------------------------------------------------------------

    def pin(self, run_id: str, pinned: bool = True) -> None:
        record = self.get(run_id)
        if record is None:
            raise ValueError(f"no run {run_id!r} in {self.root}.")
        atomic_write_json(metadata_path(record.path), record.metadata | {"pinned": pinned})

    def enforce_quota(
        self, max_count: int | None = None, max_mb: float | None = None, keep: Path | None = None
    ) -> list[str]:
        """Delete the oldest ended, unpinned runs until the store is within its quota (the store's
        unless given), never `keep`; returns one message per run deleted, also logged."""
        max_count = self.max_count if max_count is None else max_count
        max_mb = self.max_mb if max_mb is None else max_mb
        if max_count is None and max_mb is None:
            return []
        records = self.records()
        sizes = {r.run_id: r.size_bytes() for r in records}
        count, total = len(records), sum(sizes.values())
        messages = []
        for record in _evictable(r for r in records if keep is None or r.path != keep.with_suffix(".pt")):
            over_count = max_count is not None and count > max_count
            over_mb = max_mb is not None and total > max_mb * 1e6
            if not (over_count or over_mb):
                break
            for p in (record.path, metadata_path(record.path)):
                p.unlink(missing_ok=True)
            count, total = count - 1, total - sizes[record.run_id]
            why = f"more than {max_count} runs" if over_count else f"more than {max_mb:g} MB"
            message = (
                f"Deleted run {record.run_id} ({record.status}, started {record.started_at}): the store held {why}."
            )
            log.warning(message)
            messages.append(message)
        return messages


def stored_status(metadata: Mapping, has_weights: bool = True) -> tuple[Status, str | None]:
    """A record's status and error as its JSON says them. No status: finished when it has
    weights, else failed; an old word reads as today's; a word that is no status, failed."""
    word, error = metadata.get("status"), metadata.get("error")
    if not word:
        return (Status.FINISHED if has_weights else Status.FAILED), error
    try:
        return Status.read(word), error
    except ValueError as err:
        return Status.FAILED, str(err)


def _evictable(records: Iterable[RunRecord]) -> list[RunRecord]:
    return [r for r in records if r.status.ended and not r.pinned]


def _env_number(name: str) -> float | None:
    raw = os.environ.get(name)
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        log.warning("%s=%r is not a number; no quota from it.", name, raw)
        return None
    return value if value > 0 else None


# --- comparing runs ---------------------------------------------------------------------------

# The settings a comparison table shows, as (column, how to read it from a run's JSON).
SETTING_COLUMNS: tuple[str, ...] = (
    "preset",
    "estimator",
    "tau",
    "anneal_rate",
    "tau_min",
    "lr",
    "batch_size",
    "epochs",
    "seed",
    "train_images",
    "test_images",
    "binarize",
)
METRIC_COLUMNS: tuple[str, ...] = ("relaxed", "unrelaxed", "test", "epochs_done", "steps", "status")


@dataclass(frozen=True)
class Comparison:
    """Runs side by side: a table row each, the settings that differ, per-epoch histories."""

    labels: list[str]
    rows: list[dict]  # label, source, the SETTING_COLUMNS, then METRIC_COLUMNS
    differing: list[str]  # setting columns whose values are not all equal
    histories: list[list[dict]]  # per run: its per-epoch metrics (epoch, relaxed, unrelaxed, test, tau...)

    def csv(self) -> str:
        import csv
        import io

        out = io.StringIO()
        columns = ["run", "source", *SETTING_COLUMNS, *METRIC_COLUMNS]
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()


def _settings(metadata: dict) -> dict:
    from core.names import canonical_estimator

    config = metadata.get("train_config") or {}
    data = metadata.get("data") or {}
    model = config.get("model") or metadata.get("config") or {}
    preset = metadata.get("preset") or ("faithful" if model.get("relu_logits", True) else "linear")
    return {
        "preset": preset,
        "estimator": canonical_estimator(str(config.get("estimator", "gumbel_softmax"))),
        "tau": config.get("tau"),
        "anneal_rate": config.get("anneal_rate"),
        "tau_min": config.get("tau_min") if config.get("anneal_rate") else None,
        "lr": config.get("lr"),
        "batch_size": config.get("batch_size"),
        "epochs": config.get("epochs"),
        "seed": recorded_seed(metadata),
        "train_images": data.get("train_images"),
        "test_images": data.get("test_images"),
        "binarize": config.get("binarize", "none"),
    }


def compare_runs(runs: Mapping[str, tuple[str, dict]]) -> Comparison:
    """A comparison of runs given as label -> (source, their JSON metadata)."""
    rows, histories = [], []
    for label, (source, metadata) in runs.items():
        history = [h for h in metadata.get("history") or [] if isinstance(h, dict)]
        final = metadata.get("final_metrics") or (history[-1] if history else {})
        rows.append(
            {"run": label, "source": source}
            | _settings(metadata)
            | {
                "relaxed": final.get("relaxed"),
                "unrelaxed": final.get("unrelaxed"),
                "test": final.get("test"),
                "epochs_done": metadata.get("epochs"),
                "steps": metadata.get("steps"),
                "status": stored_status(metadata)[0],
            }
        )
        histories.append(history)
    differing = [c for c in SETTING_COLUMNS if len({repr(r[c]) for r in rows}) > 1]
    return Comparison(list(runs), rows, differing, histories)
