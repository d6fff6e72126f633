"""Sweeps: a grid of training runs executed on Ray; `python -m core.sweep` on the command line.

A grid over τ, estimator, annealing, learning rate, model preset and seeds (with epochs and a
data subset fixed for the whole sweep) expands into trials, each validated by
`TrainConfig.from_settings`. Each trial is a Ray task with one CPU (and one GPU where the
cluster has them) that sets torch to one thread, runs `Trainer.events()` and records itself
in the run store under runs/sweeps/<sweep>/<trial> exactly as any other run (`RunRecorder`).
Live progress travels through a small Ray actor (`_Board`); the driver (`SweepRun`, a thread)
polls it, so a page or the CLI reads a `SweepSnapshot` the way the Train page reads a run.

Ray starts lazily, on the first sweep: locally sized to the machine's cores
(`ray.init(num_cpus=os.cpu_count(), include_dashboard=False, ...)`), or on the cluster that
RAY_ADDRESS (or `address=`) names. At most `parallel` trials run at once; the app passes the
run slots it could take from the server's limit, the CLI defaults to the machine's cores.
Cancel asks every trial to stop between steps (each saves its model as "stopped"), never
launches the rest, and force-cancels any trial still running after a grace period.
"""

from __future__ import annotations

import itertools
import math
import os
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.names import SHORT_LABELS, canonical_estimator
from core.runtime.device import PRECISIONS
from core.runtime.jobs import Status
from core.store.runs import RunStore
from core.training.config import TrainConfig

# The settings a grid may vary, in the order a trial's name lists them.
GRID_KEYS: tuple[str, ...] = ("estimator", "tau", "anneal", "lr", "preset", "seed")
MAX_TRIALS = 500
REPORT_SECONDS = 0.5  # how often a trial reports its steps and checks for a cancel
CANCEL_GRACE_SECONDS = 5.0  # then trials still running are force-cancelled
POINTS_PER_TRIAL = 400  # the live curve keeps at most this many points per trial
LOCAL_OBJECT_STORE_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class Trial:
    """One run of a sweep: its name in the store and the settings it was made from."""

    name: str
    settings: dict
    config: TrainConfig


def _number(value: float) -> str:
    return f"{value:g}"


def trial_name(settings: Mapping[str, Any]) -> str:
    """A trial's name from its grid settings: the same settings always give the same name."""
    return "_".join(
        [
            canonical_estimator(str(settings["estimator"])),
            f"tau{_number(settings['tau'])}",
            "anneal" if settings["anneal"] else "const",
            f"lr{_number(settings['lr'])}",
            str(settings["preset"]),
            f"s{settings['seed']}",
        ]
    )


def expand_grid(grid: Mapping[str, Sequence[Any]], fixed: Mapping[str, Any] | None = None) -> list[Trial]:
    """Every combination of the grid's values (keys from GRID_KEYS; a missing key takes the
    default), with `fixed` settings (epochs, subsets, batch size, device...) for all trials."""
    unknown = set(grid) - set(GRID_KEYS)
    if unknown:
        raise ValueError(f"a sweep cannot vary {', '.join(sorted(unknown))}; it varies {', '.join(GRID_KEYS)}.")
    defaults: dict[str, list[Any]] = {"estimator": ["gumbel_softmax"], "tau": [1.0], "anneal": [False]}
    defaults |= {"lr": [1e-3], "preset": ["faithful"], "seed": [0]}
    axes = {key: list(grid.get(key) or defaults[key]) for key in GRID_KEYS}
    axes["estimator"] = list(dict.fromkeys(canonical_estimator(str(e)) for e in axes["estimator"]))
    for key in GRID_KEYS:
        axes[key] = list(dict.fromkeys(axes[key]))
    count = math.prod(len(v) for v in axes.values())
    if count > MAX_TRIALS:
        raise ValueError(f"the grid has {count} trials; a sweep runs at most {MAX_TRIALS}.")
    trials = []
    # Seeds vary slowest: a sweep cut short has every other setting at its first seeds.
    order = GRID_KEYS[::-1]
    for values in itertools.product(*(axes[k] for k in order)):
        settings = dict(zip(order, values)) | dict(fixed or {})
        trials.append(Trial(trial_name(settings), settings, TrainConfig.from_settings(settings)))
    return trials


def varying(trials: Sequence[Trial]) -> list[str]:
    """The grid keys whose values differ between the trials."""
    return [k for k in GRID_KEYS if len({repr(t.settings[k]) for t in trials}) > 1]


def trial_label(trial: Trial, keys: Sequence[str] | None = None) -> str:
    """A short label for legends: the settings that vary in the sweep."""
    parts = []
    for key in keys if keys is not None else GRID_KEYS:
        value = trial.settings[key]
        if key == "estimator":
            parts.append(SHORT_LABELS.get(value, value))
        elif key == "anneal":
            parts.append("annealed" if value else "constant τ")
        elif key == "tau":
            parts.append(f"τ {_number(value)}")
        else:
            parts.append(f"{key} {value}")
    return ", ".join(parts) or trial.name


# --- live state -------------------------------------------------------------------------------


@dataclass
class TrialState:
    """What the driver knows of one trial now."""

    trial: Trial
    status: str = "pending"  # pending, running, finished, stopped, failed, cancelled, skipped
    step: int = 0
    total_steps: int = 0
    epoch: int = 0
    relaxed: float | None = None
    unrelaxed: float | None = None
    test: float | None = None
    elapsed: float = 0.0
    error: str | None = None
    points: list[tuple[int, float]] = field(default_factory=list)  # (step, smoothed relaxed objective)
    epochs: list[dict] = field(default_factory=list)
    path: Path | None = None

    @property
    def progress(self) -> float:
        if self.status in ("finished", "skipped"):
            return 1.0
        return self.step / self.total_steps if self.total_steps else 0.0

    @property
    def seconds_left(self) -> float | None:
        if self.status != "running" or not self.step:
            return None
        return self.elapsed / self.step * (self.total_steps - self.step)


@dataclass(frozen=True)
class SweepSnapshot:
    sweep_id: str
    status: str  # starting, running, finished, cancelled, failed
    trials: list[TrialState]
    elapsed: float
    error: str | None
    where: str  # "local Ray, 2 CPUs" or the cluster's address
    notices: tuple[str, ...] = ()  # what the run store's quota deleted to make room for trials

    @property
    def done(self) -> bool:
        return self.status in ("finished", "cancelled", "failed")

    def count(self, *statuses: str) -> int:
        return sum(t.status in statuses for t in self.trials)


# --- Ray ------------------------------------------------------------------------------------------


def ray_address(address: str | None = None) -> str | None:
    return address or os.environ.get("RAY_ADDRESS") or None


_ray_lock = threading.Lock()


def ensure_ray(address: str | None = None) -> str:
    """Start (or join) Ray on first use; returns where trials run, in words.

    Ray's local processes die with the *thread* that started them (a parent-death signal is
    tied to the forking thread), and a page's script thread or a sweep's driver thread ends;
    so Ray is started from a thread of its own that lives as long as the process."""
    import ray

    address = ray_address(address)
    with _ray_lock:
        if not ray.is_initialized():
            outcome: list[BaseException | None] = []
            ready = threading.Event()

            def host() -> None:
                try:
                    _init_ray(address)
                    outcome.append(None)
                except BaseException as err:
                    outcome.append(err)
                ready.set()
                threading.Event().wait()  # keep this thread, and Ray with it, for the process's life

            threading.Thread(target=host, name="ray-host", daemon=True).start()
            ready.wait()
            if outcome[0] is not None:
                raise outcome[0]
    resources = ray.cluster_resources()
    cpus, gpus = int(resources.get("CPU", 0)), int(resources.get("GPU", 0))
    kind = f"Ray cluster at {address}" if address else "local Ray"
    return f"{kind}, {cpus} CPU(s)" + (f", {gpus} GPU(s)" if gpus else "")


def _init_ray(address: str | None) -> None:
    import ray

    repo = str(Path(__file__).resolve().parent.parent)
    if address:
        runtime_env = {"working_dir": repo, "excludes": ["runs", "data", "artifacts", ".git", "*.pt"]}
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        return
    ray.init(
        address="local",  # a Ray of our own, even when another local one runs beside it
        num_cpus=os.cpu_count() or 1,
        include_dashboard=False,
        object_store_memory=LOCAL_OBJECT_STORE_BYTES,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"PYTHONPATH": repo, "OMP_NUM_THREADS": "1"}},
    )


def cluster_gpus() -> int:
    import ray

    return int(ray.cluster_resources().get("GPU", 0))


def _board_class():
    import ray

    @ray.remote(num_cpus=0)
    class Board:
        """Trials' live progress and the cancel flag, shared by the driver and the trials."""

        def __init__(self) -> None:
            self.progress: dict[str, dict] = {}
            self.cancelled = False

        def report(self, name: str, update: dict) -> None:
            entry = self.progress.setdefault(name, {"points": []})
            entry["points"].extend(update.pop("points", []))
            entry.update(update)

        def take(self) -> dict[str, dict]:
            """Everything new since the last take (points are handed over once)."""
            out = {name: dict(entry) for name, entry in self.progress.items()}
            for entry in self.progress.values():
                entry["points"] = []
            return out

        def cancel(self) -> None:
            self.cancelled = True

        def is_cancelled(self) -> bool:
            return self.cancelled

    return Board


def run_trial(trial: Trial, path: str, metadata: dict, data_root: str | None, board: Any, store: RunStore) -> dict:
    """One trial, inside a Ray worker: train with one thread, report, record in the store.

    One torch thread on one Ray CPU, whatever $GUMBEL_LAB_THREADS says (`core.runtime.threads`): trials
    x threads then never exceed the cores Ray was given, and a trial has no thread pool to wait
    for a core another process holds. Several one-thread trials use cores better than threads
    inside one trial (`benchmarks.sweep_speedup`)."""
    import ray
    import torch

    from core.data import load_mnist
    from core.training.loop import EpochMetrics, StepMetrics, Trainer
    from core.training.record import RunRecorder

    torch.set_num_threads(1)
    recorder = RunRecorder(Path(path), metadata | {"host": socket.gethostname()}, store)
    try:
        trainer = Trainer(trial.config, load_mnist("train", data_root), load_mnist("test", data_root))
        recorder.start(trainer)
        started = time.perf_counter()
        board.report.remote(trial.name, {"status": "running", "total_steps": trainer.total_steps})
        epochs: list[EpochMetrics] = []
        smoothed: float | None = None
        last_report = time.perf_counter()
        plotted = 0  # the step of the curve's last point
        status = Status.FINISHED
        for event in trainer.events():
            if isinstance(event, StepMetrics):
                smoothed = event.relaxed if smoothed is None else 0.9 * smoothed + 0.1 * event.relaxed
                now = time.perf_counter()
                if now - last_report < REPORT_SECONDS:
                    continue
                update = {"step": event.step, "epoch": event.epoch, "relaxed": smoothed, "unrelaxed": event.unrelaxed}
                board.report.remote(trial.name, update | {"points": [(event.step, smoothed)], "elapsed": now - started})
                plotted, last_report = event.step, now
                if ray.get(board.is_cancelled.remote()):
                    status = Status.STOPPED
                    break
            else:
                epochs.append(event)
                recorder.epoch(trainer, epochs)
                # Every report that moves the step also extends the curve: a short epoch may end
                # before the first timed report.
                point = [(event.step, smoothed)] if smoothed is not None and event.step > plotted else []
                board.report.remote(
                    trial.name,
                    {
                        "step": event.step,
                        "epoch": event.epoch,
                        "test": event.test,
                        "epochs": [e.__dict__ for e in epochs],
                        "points": point,
                        "elapsed": time.perf_counter() - started,
                    },
                )
                plotted = max(plotted, event.step)
        saved = recorder.end(trainer, epochs, status)
        final = {"step": trainer.step, "elapsed": time.perf_counter() - started, "status": status}
        test = epochs[-1].test if epochs else None
        return final | {"path": str(saved) if saved else None, "test": test, "notices": recorder.notices}
    except Exception as err:
        recorder.fail(f"{type(err).__name__}: {err}")
        raise


class SweepRun:
    """A sweep's driver: a thread that launches trials on Ray and gathers their progress."""

    def __init__(
        self,
        trials: Sequence[Trial],
        sweep_id: str,
        *,
        store: RunStore | None = None,
        parallel: int | None = None,
        address: str | None = None,
        data_root: str | os.PathLike | None = None,
        resume: bool = False,
        command: str | None = None,
        on_release: Any = None,
    ) -> None:
        if not trials:
            raise ValueError("the sweep has no trials.")
        self.sweep_id = sweep_id
        self.store = store or RunStore()
        self.store.path_for("sweeps", "x", sweep_id)  # a usable folder name, or a ValueError now
        self.parallel = max(1, parallel or (os.cpu_count() or 1))
        self.address = ray_address(address)
        self.data_root = str(Path(data_root).resolve()) if data_root else None
        self.command = command
        self._on_release = on_release
        self._states = [TrialState(t, path=self.store.path_for("sweeps", t.name, sweep_id)) for t in trials]
        if resume:
            for state in self._states:
                record = self.store.get(f"sweeps/{sweep_id}/{state.trial.name}")
                if record is not None and record.status == "finished":
                    state.status, state.test = "skipped", record.metadata.get("final_metrics", {}).get("test")
                    state.epochs = record.metadata.get("history", [])
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._status = "starting"
        self._error: str | None = None
        self._notices: list[str] = []
        self._where = ""
        self._started = 0.0
        self._ended: float | None = None
        self._thread = threading.Thread(target=self._drive, name=f"sweep-{sweep_id}", daemon=True)

    def start(self) -> SweepRun:
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def done(self) -> bool:
        return self._status in ("finished", "cancelled", "failed")

    def snapshot(self) -> SweepSnapshot:
        with self._lock:
            end = self._ended if self._ended is not None else time.perf_counter()
            trials = [replace(s, points=list(s.points), epochs=list(s.epochs)) for s in self._states]
            return SweepSnapshot(
                self.sweep_id,
                self._status,
                trials,
                end - self._started if self._started else 0.0,
                self._error,
                self._where,
                tuple(self._notices),
            )

    # --- the driver thread --------------------------------------------------------------------

    def _drive(self) -> None:
        try:
            self._where = ensure_ray(self.address)
            with self._lock:
                self._status = "running"
            self._launch_all()
        except Exception as err:  # Ray would not start, say: the page and CLI show it
            with self._lock:
                self._status, self._error = "failed", f"{type(err).__name__}: {err}"
        finally:
            with self._lock:
                self._ended = time.perf_counter()
            if self._on_release is not None:
                self._on_release()

    def _launch_all(self) -> None:
        import ray

        board = _board_class().remote()
        gpus = 1 if self.address and cluster_gpus() > 0 else 0
        task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(run_trial)
        waiting = [s for s in self._states if s.status == "pending"]
        running: dict[Any, TrialState] = {}
        cancel_sent: float | None = None
        while waiting or running:
            if self._cancel.is_set() and cancel_sent is None:
                board.cancel.remote()
                cancel_sent = time.perf_counter()
                with self._lock:
                    for state in waiting:
                        state.status = "cancelled"
                waiting = []
            while waiting and len(running) < self.parallel:
                state = waiting.pop(0)
                trial = state.trial
                if gpus:
                    trial = replace(trial, config=replace(trial.config, device="cuda"))
                metadata = {
                    "name": trial.name,
                    "source": "sweep",
                    "sweep": self.sweep_id,
                    "preset": trial.settings["preset"],
                    "trial_settings": trial.settings,
                    "command": self.command,
                    "device": trial.config.device,
                }
                ref = task.remote(trial, str(state.path), metadata, self.data_root, board, self.store)
                running[ref] = state
                with self._lock:
                    state.status = "running"
            ready, _ = ray.wait(list(running), num_returns=len(running), timeout=REPORT_SECONDS)
            self._apply(ray.get(board.take.remote()))
            for ref in ready:
                self._finish(running.pop(ref), ref)
            if cancel_sent is not None and time.perf_counter() - cancel_sent > CANCEL_GRACE_SECONDS:
                for ref, state in list(running.items()):
                    ray.cancel(ref, force=True)
                    with self._lock:
                        state.status, state.error = "stopped", "force-cancelled after the grace period"
                    if state.path:
                        self.store.close(state.path, Status.STOPPED, error="cancelled with the sweep")
                running.clear()
        with self._lock:
            self._status = "cancelled" if self._cancel.is_set() else "finished"
        ray.kill(board)

    def _apply(self, progress: dict[str, dict]) -> None:
        with self._lock:
            for state in self._states:
                entry = progress.get(state.trial.name)
                if not entry or state.status != "running":
                    continue
                state.points.extend(entry.get("points", []))
                del state.points[:-POINTS_PER_TRIAL]
                for key in ("step", "total_steps", "epoch", "relaxed", "unrelaxed", "test", "elapsed", "epochs"):
                    if key in entry:
                        setattr(state, key, entry[key])

    def _finish(self, state: TrialState, ref: Any) -> None:
        import ray

        try:
            result = ray.get(ref)
        except Exception as err:
            with self._lock:
                state.status, state.error = "failed", _ray_error(err)
            return
        with self._lock:
            state.status = result["status"]
            state.step, state.elapsed, state.test = result["step"], result["elapsed"], result["test"]
            state.total_steps = state.total_steps or result["step"]
            self._notices.extend(result.get("notices", []))


def _ray_error(err: BaseException) -> str:
    """The trial's own error from a RayTaskError: its last line, not the whole traceback."""
    cause = getattr(err, "cause", None)
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


# --- the command line -----------------------------------------------------------------------------

SUBSETS: dict[str, tuple[int | None, int | None]] = {"full": (None, None), "demo": (5000, 1000), "tiny": (1000, 500)}


def _flag(text: str) -> bool:
    word = text.strip().lower()
    if word in ("on", "yes", "true", "1"):
        return True
    if word in ("off", "no", "false", "0"):
        return False
    raise ValueError(f"{text!r} is not on or off")


def build_parser():
    import argparse

    from core.names import ALIASES, BINARIZE, ESTIMATORS, PRESET_NAMES

    p = argparse.ArgumentParser(
        prog="python -m core.sweep", description="Train a grid of categorical VAEs on Ray and compare them."
    )
    p.add_argument("--tau", type=float, nargs="+", default=[1.0], help="temperatures (start values when annealing)")
    p.add_argument("--estimator", nargs="+", choices=[*ESTIMATORS, *ALIASES], default=["gumbel_softmax"])
    p.add_argument("--anneal", type=_flag, nargs="+", default=[False], metavar="on|off")
    p.add_argument("--lr", type=float, nargs="+", default=[1e-3])
    p.add_argument("--preset", nargs="+", choices=PRESET_NAMES, default=["faithful"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--data", choices=sorted(SUBSETS), default="full", help="full MNIST, or a subset (demo, tiny)")
    p.add_argument("--train-subset", type=int, default=None, help="overrides --data: the first N training images")
    p.add_argument("--test-subset", type=int, default=None, help="overrides --data: the first N test images")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--binarize", choices=BINARIZE, default="none", help="grey-level MNIST, or binarized")
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help="as python -m core.training --precision")
    p.add_argument("--name", default=None, help="the sweep's folder under runs/sweeps (default: sweep-<time>)")
    p.add_argument("--resume", action="store_true", help="skip trials already finished in this sweep's folder")
    p.add_argument("--parallel", type=int, default=None, help="trials at once (default: the machine's cores)")
    p.add_argument("--address", default=None, help="a Ray cluster (default: $RAY_ADDRESS, else a local Ray)")
    p.add_argument(
        "--data-root", default=None, help="folder holding MNIST/raw (default: $GUMBEL_LAB_DATA, else ./data)"
    )
    return p


def trials_from_args(args) -> list[Trial]:
    train_subset, test_subset = SUBSETS[args.data]
    fixed = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "train_subset": args.train_subset or train_subset,
        "test_subset": args.test_subset or test_subset,
        "max_steps": args.max_steps,
        "binarize": args.binarize,
        "precision": args.precision,
    }
    grid = {
        "estimator": args.estimator,
        "tau": args.tau,
        "anneal": args.anneal,
        "lr": args.lr,
        "preset": args.preset,
        "seed": args.seeds,
    }
    return expand_grid(grid, fixed)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _metric(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "—"


def progress_line(index: int, count: int, state: TrialState) -> str:
    head = f"[{index}/{count}] {state.trial.name}"
    if state.status == "failed":
        return f"{head}: FAILED: {state.error}"
    if state.status in ("finished", "stopped", "skipped", "cancelled"):
        return f"{head}: {state.status}, test {_metric(state.test)} ({_duration(state.elapsed)})"
    return (
        f"{head}: epoch {state.epoch}/{state.trial.config.epochs}, step {state.step}/{state.total_steps}, "
        f"relaxed {_metric(state.relaxed)}, test {_metric(state.test)}, about {_duration(state.seconds_left)} left"
    )


def results_table(snapshot: SweepSnapshot) -> str:
    keys = varying([s.trial for s in snapshot.trials]) or ["estimator", "tau"]
    rows = [[*(str(s.trial.settings[k]) for k in keys), s.status, _metric(s.test)] for s in snapshot.trials]
    header = [*keys, "status", "test"]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import shlex
    import sys

    args = build_parser().parse_args(argv)
    try:
        trials = trials_from_args(args)
        sweep_id = args.name or time.strftime("sweep-%Y%m%d-%H%M%S")
        words = sys.argv[1:] if argv is None else argv
        command = " ".join(["python -m core.sweep", *(shlex.quote(w) for w in words)])
        sweep = SweepRun(
            trials,
            sweep_id,
            parallel=args.parallel,
            address=args.address,
            data_root=args.data_root or os.environ.get("GUMBEL_LAB_DATA") or "data",
            resume=args.resume,
            command=command,
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Sweep {sweep_id}: {len(trials)} trials -> {sweep.store.root / 'sweeps' / sweep_id}", file=sys.stderr)
    sweep.start()
    printed: dict[str, tuple] = {}
    try:
        while True:
            done = sweep.join(REPORT_SECONDS * 2)
            snap = sweep.snapshot()
            for i, state in enumerate(snap.trials, 1):
                key = (state.status, state.epoch)
                started = state.status != "pending" and (state.status != "running" or state.step > 0)
                if started and printed.get(state.trial.name) != key:
                    printed[state.trial.name] = key
                    print(progress_line(i, len(snap.trials), state), flush=True)
            if done:
                break
    except KeyboardInterrupt:
        print("cancelling: every trial stops and saves where it is…", file=sys.stderr)
        sweep.cancel()
        sweep.join()
        snap = sweep.snapshot()
    for notice in snap.notices:
        print(notice, file=sys.stderr)
    if snap.error:
        print(f"error: {snap.error}", file=sys.stderr)
        return 1
    print(
        f"\n{snap.where}: {snap.count('finished')} finished, {snap.count('skipped')} already done, "
        f"{snap.count('failed')} failed, {snap.count('stopped', 'cancelled')} stopped, in {_duration(snap.elapsed)}"
    )
    print(results_table(snap))
    return 1 if snap.count("failed") else 0


if __name__ == "__main__":
    import sys

    from core.sweep import main as _main  # the module's own copy: Ray pickles its classes by module name

    sys.exit(_main())
