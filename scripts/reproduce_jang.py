"""Reproduce Jang et al. 2017's categorical VAE comparison (Table 1, row "VAE (Cat.)").

    python -m scripts.reproduce_jang --converged           # every row, seeds 0 1 2, 50,000 updates
    python -m scripts.reproduce_jang --converged --only gumbel_softmax --seeds 0
    python -m scripts.reproduce_jang --converged --anneal-grid --seeds 0   # the paper's 4 schedules
    python -m scripts.reproduce_jang                       # the first, 5-epoch table (runs/jang/)

Binarized MNIST with one fixed binarization of the training and of the test set, as the paper
states ("MNIST with fixed binarization for training and evaluation"), 20 categorical latents of
10 classes, encoder 784-512-256-(20x10) and its mirror as the decoder (`--preset jang`), uniform
prior, batch 100, Adam 1e-3.

`--converged` is the protocol of issue 25: the last 10,000 training images held out for
validation, 50,000 updates, the learning rate x0.97 every 1,000 steps (the authors' notebook's
x0.9 adds up to as much learning as 10,000 updates at the first rate, so 50,000 updates would teach
no more than 10,000; x0.97 adds up to 26,000) and τ = max(0.5, exp(-3e-5 t)) updated every 1,000
steps (the authors' notebook), the m = 10 bound on
the validation images every 2,500 updates, the best weights kept, and a stop after 4 validations
without a better one. Its runs go to the run store (`$GUMBEL_LAB_RUNS/cli/jang-converged/`) with
`--resume`: a finished run is skipped, a stopped or killed one continues from its last epoch, so
the one command resumes the table wherever it stopped.

Each run is one `python -m core.training ...` call, recorded in the run's JSON. A run another
copy of this script is training (a `.running` marker with a live process id) is left to it, so
two copies can share the work. Seeds go round the rows (every row's seed 0 first), so a partial
run still covers every row. `python -m scripts.report_jang [--converged]` evaluates the models
and writes the table in docs/jang.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from core.store.checkpoints import metadata_path
from core.store.runs import runs_root

REPO = Path(__file__).resolve().parent.parent
RUNS = REPO / "runs" / "jang"
COMMON = ["--preset", "jang", "--binarize", "static"]
# Annealing: the paper's tau = max(0.5, exp(-r t)) with r and the update interval N from its grid
# (r in {1e-5, 1e-4}, N in {500, 1000}); the faster corner, as our runs are short.
ANNEAL = ["--anneal", "--anneal-rate", "1e-4", "--anneal-every", "500", "--tau-min", "0.5"]
ROWS: dict[str, list[str]] = {
    "score_function": ["--estimator", "score_function", "--sf-samples", "4"],
    "straight_through": ["--estimator", "straight_through"],
    "gumbel_softmax": ["--estimator", "gumbel_softmax"],
    "gumbel_softmax_annealed": ["--estimator", "gumbel_softmax", *ANNEAL],
    "gumbel_rao": ["--estimator", "gumbel_rao", "--rao-samples", "10"],
}
SEEDS = (0, 1, 2)
EPOCHS = 5

# --- the converged protocol (issue 25) ---------------------------------------------------------
CONVERGED_RUNS = runs_root() / "cli" / "jang-converged"
UPDATES = 50_000
CONVERGED = [
    *COMMON,
    "--updates", str(UPDATES),
    "--lr", "1e-3", "--lr-decay", "0.97", "--lr-decay-every", "1000",
    "--validation", "10000", "--validate-every", "2500", "--validation-samples", "10", "--patience", "4",
]  # fmt: skip


def annealing(rate: float, every: int) -> list[str]:
    """τ = max(0.5, exp(-rate t)), t rounded down to a multiple of `every` steps."""
    return ["--anneal", "--anneal-rate", f"{rate:g}", "--anneal-every", str(every), "--tau-min", "0.5"]


# The authors' notebook's schedule (rate 3e-5 every 1,000 steps), between the paper's two rates.
NOTEBOOK_ANNEAL = annealing(3e-5, 1000)
# The schedules the paper searched on validation: r in {1e-5, 1e-4}, N in {500, 1000}.
ANNEAL_GRID: tuple[tuple[float, int], ...] = ((1e-5, 500), (1e-5, 1000), (1e-4, 500), (1e-4, 1000))
CONVERGED_ROWS: dict[str, list[str]] = {
    "score_function": ["--estimator", "score_function", "--sf-samples", "4"],
    "muprop": ["--estimator", "muprop", "--sf-samples", "4"],
    "plain_straight_through": ["--estimator", "plain_straight_through"],
    # Chung et al.'s slope annealing with a softmax: the backward slope 1/τ grows from 1 to 2.
    "slope_annealed_straight_through": ["--estimator", "plain_straight_through", *NOTEBOOK_ANNEAL],
    "straight_through": ["--estimator", "straight_through", *NOTEBOOK_ANNEAL],
    "gumbel_softmax": ["--estimator", "gumbel_softmax", *NOTEBOOK_ANNEAL],
    "gumbel_rao": ["--estimator", "gumbel_rao", "--rao-samples", "10", *NOTEBOOK_ANNEAL],
}
ANNEALED_ROWS = tuple(row for row, options in CONVERGED_ROWS.items() if "--anneal" in options)


def grid_rows() -> dict[str, list[str]]:
    """Every annealed row under each of the paper's schedules: `<row>-r<rate>-n<every>`."""
    rows = {}
    for row in ANNEALED_ROWS:
        options = CONVERGED_ROWS[row][: CONVERGED_ROWS[row].index("--anneal")]
        for rate, every in ANNEAL_GRID:
            rows[f"{row}-r{rate:g}-n{every}"] = options + annealing(rate, every)
    return rows


def run_path(row: str, seed: int, converged: bool = False) -> Path:
    return (CONVERGED_RUNS if converged else RUNS) / f"{row}-s{seed}"


def shown_path(path: Path) -> str:
    """A path as the recorded command shows it: relative to the repository where it lies inside."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def command(options: list[str], out: Path, seed: int, epochs: int, converged: bool, device: str | None) -> list[str]:
    """The CLI call for one run, without the interpreter."""
    length = ["--resume"] if converged else ["--epochs", str(epochs)]
    words = ["-m", "core.training", *(CONVERGED if converged else COMMON), *options, *length, "--seed", str(seed)]
    words += ["--quiet", "--out", shown_path(out)]
    return words + (["--device", device] if device else [])


def marker_path(out: Path) -> Path:
    """The `.running` marker of the run at `out` (a grid row's name holds a dot: r0.0001)."""
    return out.with_name(f"{out.name}.running")


def claim(marker: Path) -> bool:
    """Mark a run as this process's; False when a live process holds it (a dead one's is taken over)."""
    try:
        with marker.open("x") as f:
            f.write(str(os.getpid()))
        return True
    except FileExistsError:
        try:
            holder = int(marker.read_text() or 0)
            os.kill(holder, 0)
            return False
        except (ValueError, ProcessLookupError):
            marker.write_text(str(os.getpid()))
            return True
        except PermissionError:  # another user's live process
            return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--converged", action="store_true", help="the converged protocol (issue 25)")
    parser.add_argument(
        "--anneal-grid", action="store_true", help="with --converged: the annealed rows under the paper's 4 schedules"
    )
    parser.add_argument("--only", nargs="*", default=None, help="rows to run (default: every row)")
    parser.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="without --converged: epochs per run")
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    rows = (grid_rows() if args.anneal_grid else CONVERGED_ROWS) if args.converged else ROWS
    unknown = sorted(set(args.only or ()) - set(rows))
    if unknown:
        parser.error(f"unknown rows {', '.join(unknown)}; choose from {', '.join(rows)}")
    for seed in args.seeds:
        for row in args.only or rows:
            out = run_path(row, seed, args.converged)
            out.parent.mkdir(parents=True, exist_ok=True)
            if not args.converged and metadata_path(out).exists():
                print(f"{out.name}: done already", flush=True)
                continue
            marker = marker_path(out)
            if not claim(marker):
                print(f"{out.name}: another copy is training it ({marker.name})", flush=True)
                continue
            words = command(rows[row], out, seed, args.epochs, args.converged, args.device)
            print(f"{out.name}: python {' '.join(words)}", flush=True)
            try:
                if subprocess.run([sys.executable, *words], cwd=REPO).returncode != 0:
                    return 1
            finally:
                marker.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
