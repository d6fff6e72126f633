"""Train a grid of categorical VAEs on Ray from the command line: `python -m core.sweeps`.

A line per trial as it moves (its status in `core.runtime.jobs.Status`'s words), then a table
of every trial's settings, status and test objective. Ctrl-C stops the sweep: every trial
stops between steps and saves where it is.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

from core.names import ALIASES, BINARIZE, ESTIMATORS, PRECISIONS, PRESET_NAMES
from core.runtime.jobs import Status
from core.sweeps.driver import SweepRun, SweepSnapshot, TrialState
from core.sweeps.grid import SUBSETS, Trial, expand_grid, varying
from core.sweeps.trial import REPORT_SECONDS


def _flag(text: str) -> bool:
    word = text.strip().lower()
    if word in ("on", "yes", "true", "1"):
        return True
    if word in ("off", "no", "false", "0"):
        return False
    raise ValueError(f"{text!r} is not on or off")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m core.sweeps", description="Train a grid of categorical VAEs on Ray and compare them."
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


def trials_from_args(args: argparse.Namespace) -> list[Trial]:
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
    if state.status == Status.FAILED:
        return f"{head}: FAILED: {state.error}"
    if state.status.ended:
        earlier = " earlier" if state.resumed else ""
        return f"{head}: {state.status}{earlier}, test {_metric(state.test)} ({_duration(state.elapsed)})"
    return (
        f"{head}: epoch {state.epoch}/{state.trial.config.epochs}, step {state.step}/{state.total_steps}, "
        f"relaxed {_metric(state.relaxed)}, test {_metric(state.test)}, about {_duration(state.seconds_left)} left"
    )


def results_table(snapshot: SweepSnapshot) -> str:
    keys = varying([s.trial for s in snapshot.trials]) or ["estimator", "tau"]
    rows = [[*(str(s.trial.settings[k]) for k in keys), str(s.status), _metric(s.test)] for s in snapshot.trials]
    header = [*keys, "status", "test"]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def summary(snap: SweepSnapshot) -> str:
    """One line: how many trials ended how, where and in how long."""
    earlier = sum(t.resumed for t in snap.trials)
    return (
        f"{snap.where}: {snap.count(Status.FINISHED) - earlier} finished, {earlier} already done, "
        f"{snap.count(Status.FAILED)} failed, {snap.count(Status.STOPPED)} stopped, in {_duration(snap.elapsed)}"
    )


def follow(sweep: SweepRun) -> SweepSnapshot:
    """Print a trial's line whenever its status or epoch moves, until the sweep ends; Ctrl-C stops it."""
    printed: dict[str, tuple] = {}
    try:
        while True:
            done = sweep.join(REPORT_SECONDS * 2)
            snap = sweep.snapshot()
            for i, state in enumerate(snap.trials, 1):
                key = (state.status, state.epoch)
                started = state.status != Status.QUEUED and (state.status != Status.RUNNING or state.step > 0)
                if started and printed.get(state.trial.name) != key:
                    printed[state.trial.name] = key
                    print(progress_line(i, len(snap.trials), state), flush=True)
            if done:
                return snap
    except KeyboardInterrupt:
        print("stopping: every trial stops and saves where it is…", file=sys.stderr)
        sweep.stop()
        sweep.join()
        return sweep.snapshot()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        trials = trials_from_args(args)
        sweep_id = args.name or time.strftime("sweep-%Y%m%d-%H%M%S")
        words = sys.argv[1:] if argv is None else argv
        command = " ".join(["python -m core.sweeps", *(shlex.quote(w) for w in words)])
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
    snap = follow(sweep.start())
    for notice in snap.notices:
        print(notice, file=sys.stderr)
    if snap.error:
        print(f"error: {snap.error}", file=sys.stderr)
        return 1
    print(f"\n{summary(snap)}")
    print(results_table(snap))
    return 1 if snap.count(Status.FAILED) else 0


if __name__ == "__main__":
    sys.exit(main())
