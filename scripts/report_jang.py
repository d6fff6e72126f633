"""Evaluate the runs of `scripts/reproduce_jang.py` and write their table beside Jang et al.'s.

    python -m scripts.report_jang                 # IS-1000 on the first 1,000 binarized test images
    python -m scripts.report_jang --images 10000  # the whole test set (about ten times longer)

For every model under runs/jang/: the test negative ELBO on all 10,000 binarized test images
with one exact sample per image (logged by the run itself), the negative ELBO with 10 samples
per image and -log p(x) by importance sampling with 1,000 samples on the first `--images`
binarized test images, with Monte Carlo standard errors (cached beside the run). Writes
docs/jang.json and the table between the jang markers in docs/jang.md.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import torch

from core.data import held_out_pixels, load_mnist
from core.evaluation import held_out_bounds
from core.store.checkpoints import load_checkpoint, read_metadata, recorded_seed
from scripts.markers import replace_between
from scripts.reproduce_jang import ROWS, RUNS

REPO = Path(__file__).resolve().parent.parent
JANG_PAGE = REPO / "docs" / "jang.md"
IS_SAMPLES = 1000
ELBO_SAMPLES = 10
# Jang, Gu & Poole 2017, Table 1, row "VAE (Cat.)": negative variational lower bounds (nats).
PAPER = {
    "score_function": 110.6,
    "straight_through": 107.8,  # their "ST Gumbel-Softmax"
    "gumbel_softmax": 101.5,  # annealed in the paper; our row keeps tau = 1
    "gumbel_softmax_annealed": 101.5,
    "gumbel_rao": None,  # Paulus et al. 2021; not in Jang et al.'s table
}
LABELS = {
    "score_function": "Score function, leave-one-out baseline (4 samples)",
    "straight_through": "Straight-through Gumbel-Softmax, τ = 1",
    "gumbel_softmax": "Gumbel-Softmax, τ = 1",
    "gumbel_softmax_annealed": "Gumbel-Softmax, annealed",
    "gumbel_rao": "Gumbel-Rao (10 draws), τ = 1",
}
PAPER_ONLY = {
    "MuProp": 107.0,
    "straight-through (plain)": 110.9,
    "slope-annealed straight-through": 107.8,
    "DARN": 128.8,
}


def bounds(path: Path, x: torch.Tensor) -> dict:
    cache = path.with_suffix(f".is{IS_SAMPLES}-n{x.shape[0]}.json")
    if cache.exists() and cache.stat().st_mtime >= path.stat().st_mtime:
        return json.loads(cache.read_text())
    model = load_checkpoint(path).model
    with torch.inference_mode():
        result = held_out_bounds(model, x, elbo_samples=ELBO_SAMPLES, is_samples=IS_SAMPLES, seed=0, batch_size=100)
    values = {
        "negative_elbo": result.negative_elbo,
        "negative_elbo_se": result.negative_elbo_se,
        "nll": result.nll,
        "nll_se": result.nll_se,
        "images": result.images,
    }
    cache.write_text(json.dumps(values))
    return values


def last_change(history: list[dict]) -> float:
    """The test objective's change over the last epoch: negative while a run is still improving."""
    return history[-1]["test"] - history[-2]["test"] if len(history) > 1 else math.nan


def fmt(values: list[float]) -> str:
    if not values:
        return ""
    mean = statistics.fmean(values)
    return f"{mean:.2f} ± {statistics.stdev(values):.2f}" if len(values) > 1 else f"{mean:.2f}"


def table(results: dict[str, list[dict]], images: int) -> str:
    rows = [
        "| estimator | options (with `--preset jang --binarize static`) | seeds | epochs (updates) | "
        "test −ELBO, 10k images, 1 sample | its change over the last epoch | test −ELBO, 10 samples | "
        "test −log p(x), IS 1000 (MC s.e.) | Jang et al. (m = 1000 bound) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row, runs in results.items():
        options = " ".join(o for o in ROWS[row])
        paper = PAPER[row]
        se = max(r["nll_se"] for r in runs)
        rows.append(
            f"| {LABELS[row]} | `{options}` | {len(runs)} | {runs[0]['epochs']} ({runs[0]['steps']:,}) | "
            f"{fmt([r['test'] for r in runs])} | {fmt([r['last_change'] for r in runs])} | "
            f"{fmt([r['negative_elbo'] for r in runs])} | "
            f"{fmt([r['nll'] for r in runs])} (≤ {se:.2f}) | {'' if paper is None else paper} |"
        )
    for name, value in PAPER_ONLY.items():
        rows.append(f"| {name} (not run here) | | | | | | | | {value} |")
    rows.append("")
    rows.append(
        f"Means ± standard deviations over seeds; the 10- and 1,000-sample columns use the first {images:,} "
        "test images. Every run's full command is in its JSON (`runs/jang/<row>-s<seed>.json`)."
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args(argv)
    x = held_out_pixels(load_mnist("test"), binarize=True)[: args.images]
    results: dict[str, list[dict]] = {}
    for row in ROWS:
        for path in sorted(RUNS.glob(f"{row}-s*.pt")):
            meta = read_metadata(path)
            if meta.get("train_config", {}).get("binarize") == "none":
                continue
            print(f"{path.stem}: evaluating", flush=True)
            summary = {
                "run": path.stem,
                "command": meta.get("command"),
                "seed": recorded_seed(meta),
                "epochs": meta["epochs"],
                "steps": meta["steps"],
                "test": meta["final_metrics"]["test"],
                "last_change": last_change(meta.get("history", [])),
                "wall_seconds": meta.get("wall_seconds"),
                **bounds(path, x),
            }
            results.setdefault(row, []).append(summary)
    if not results:
        print("no runs: train them first with python -m scripts.reproduce_jang", file=sys.stderr)
        return 1
    (REPO / "docs").mkdir(exist_ok=True)
    (REPO / "docs" / "jang.json").write_text(json.dumps(results, indent=2))
    text = table(results, x.shape[0])
    replace_between(JANG_PAGE, "jang", text)
    print(text)
    return 0 if all(math.isfinite(r["nll"]) for runs in results.values() for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
