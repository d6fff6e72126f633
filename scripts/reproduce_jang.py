"""Reproduce Jang et al. 2017's categorical VAE comparison (Table 1, row "VAE (Cat.)").

    python -m scripts.reproduce_jang                       # every row, seeds 0 1 2, 5 epochs
    python -m scripts.reproduce_jang --epochs 20 --only gumbel_softmax --seeds 0

Binarized MNIST with one fixed binarization of the training and of the test set, as the paper
states ("MNIST with fixed binarization for training and evaluation"), 20 categorical latents of
10 classes, encoder 784-512-256-(20x10) and its mirror as the decoder (`--preset jang`), uniform
prior, batch 100, Adam 1e-3. Each run is `python -m core.training ... --out runs/jang/<row>-s<seed>`,
so every model carries the command that made it. Runs whose JSON exists are skipped, so the
script resumes where it stopped; a run another copy is training (its `.running` marker exists)
is left to it, so two copies can share the work. Seeds go round the rows (every row's seed 0
first), so a partial run still covers every row. `python -m scripts.report_jang` evaluates the
models and writes the table in docs/jang.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

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


def run_path(row: str, seed: int) -> Path:
    return RUNS / f"{row}-s{seed}"


def command(row: str, seed: int, epochs: int, device: str | None = None) -> list[str]:
    """The CLI call for one run, without the interpreter."""
    out = run_path(row, seed).relative_to(REPO)
    words = ["-m", "core.training", *COMMON, *ROWS[row], "--epochs", str(epochs), "--seed", str(seed)]
    words += ["--quiet", "--out", str(out)]
    return words + (["--device", device] if device else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(ROWS), default=None)
    parser.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    RUNS.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for row in args.only or ROWS:
            out = run_path(row, seed)
            if out.with_suffix(".json").exists():
                print(f"{out.name}: done already", flush=True)
                continue
            marker = out.with_suffix(".running")
            try:
                marker.touch(exist_ok=False)
            except FileExistsError:
                print(f"{out.name}: another copy is training it ({marker.name})", flush=True)
                continue
            words = command(row, seed, args.epochs, args.device)
            print(f"{out.name}: python {' '.join(words)}", flush=True)
            try:
                if subprocess.run([sys.executable, *words], cwd=REPO).returncode != 0:
                    return 1
            finally:
                marker.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
