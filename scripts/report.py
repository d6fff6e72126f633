"""Build the results table and figure from the runs of `scripts/reproduce.py`.

    python -m scripts.report

Reads runs/repro/*.json and their models, computes held-out bounds on the full test set
(negative ELBO over 10 exact samples per image, importance-sampled NLL with 100 samples),
writes docs/results.json, docs/training_curves.png and the table in docs/results.md, and copies
the faithful and the best model into checkpoints/ with a quality bound in their metadata: the
3-seed mean + 2 standard deviations of their configuration's "test, 1 sample" column, measured
on the whole test set with the run's own evaluation stream (tests/test_shipped_models.py checks it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

from core.data import load_mnist
from core.evaluation import exact_sample_objective, held_out_bounds
from core.figures.training import epoch_curves_figure
from core.seeds import stream_seed
from core.store.checkpoints import load_checkpoint, read_metadata, recorded_seed
from scripts.markers import replace_between
from scripts.reproduce import CONFIGS, RUNS

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
RESULTS_PAGE = REPO / "docs" / "results.md"
RESULTS_JSON = DOCS / "results.json"
SHIPPED_BOUNDS = DOCS / "shipped_bounds.json"
ORIGINAL = {"relaxed": 111.95, "unrelaxed": 127.09, "test": 126.71}
ORIGINAL_ON_THIS_CPU = {"relaxed": 115.07, "unrelaxed": 130.42, "test": 129.64}
SHIPPED = {"faithful": "faithful", "best": "best"}
IS1000_IMAGES = 2000  # IS-1000 on the first 2,000 test images: minutes per model on a CPU, not an hour
QUALITY_SPREADS = 2.0  # the bound: the configuration's mean + 2 standard deviations over its seeds


def run_summary(path: Path, test_x) -> dict:
    """Final metrics, wall time and held-out bounds of one run (bounds cached beside it)."""
    meta = read_metadata(path)
    cache = path.with_suffix(".bounds.json")
    if cache.exists() and cache.stat().st_mtime >= path.stat().st_mtime:
        bounds = json.loads(cache.read_text())
    else:
        model = load_checkpoint(path).model
        result = held_out_bounds(model, test_x, elbo_samples=10, is_samples=100, seed=0)
        bounds = {"negative_elbo": result.negative_elbo, "nll": result.nll}
        cache.write_text(json.dumps(bounds))
    if "nll_1000" not in bounds:
        bounds |= is1000(load_checkpoint(path).model, test_x[:IS1000_IMAGES])
        cache.write_text(json.dumps(bounds))
    final = meta["final_metrics"]
    return {
        "relaxed": final["relaxed"],
        "unrelaxed": final["unrelaxed"],
        "test": final["test"],
        "wall_seconds": meta.get("wall_seconds"),
        "device": meta.get("device"),
        "epochs": meta["epochs"],
        "history": meta.get("history", []),
        **bounds,
    }


def is1000(model, x) -> dict:
    """-log p(x) by importance sampling with 1,000 samples, and its Monte Carlo standard error."""
    result = held_out_bounds(model, x, elbo_samples=1, is_samples=1000, seed=0, batch_size=100)
    return {"nll_1000": result.nll, "nll_1000_se": result.nll_se, "nll_1000_images": result.images}


def shipped_bounds(test_x, images: int) -> dict:
    """IS-100 and IS-1000 of the shipped models on the first `images` test images."""
    out = {}
    for name in SHIPPED.values():
        model = load_checkpoint(REPO / "checkpoints" / f"{name}.pt").model
        x = test_x[:images]
        is100 = held_out_bounds(model, x, elbo_samples=10, is_samples=100, seed=0, batch_size=100)
        out[name] = {
            "images": images,
            "negative_elbo_10": is100.negative_elbo,
            "negative_elbo_10_se": is100.negative_elbo_se,
            "nll_100": is100.nll,
            "nll_100_se": is100.nll_se,
            **is1000(model, x),
        }
        print(name, out[name], flush=True)
    return out


def mean_spread(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt(values: list[float]) -> str:
    mean, spread = mean_spread(values)
    return f"{mean:.2f} ± {spread:.2f}"


def table(results: dict[str, list[dict]], shipped: dict[str, dict]) -> str:
    rows = [
        "| configuration | options | seeds | epochs | relaxed (train) | unrelaxed (train) | test, 1 sample | "
        f"test −ELBO, 10 samples | test NLL, IS 100 | test NLL, IS 1000 (first {IS1000_IMAGES:,} images) | "
        "wall time / run | device |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| original (printed) | reference script | 1 | 10 | {ORIGINAL['relaxed']} | {ORIGINAL['unrelaxed']} | "
        f"{ORIGINAL['test']} | | | | | |",
        f"| original, re-run here | reference script | 1 | 10 | {ORIGINAL_ON_THIS_CPU['relaxed']} | "
        f"{ORIGINAL_ON_THIS_CPU['unrelaxed']} | {ORIGINAL_ON_THIS_CPU['test']} | | | | | this CPU |",
    ]
    for name, runs in results.items():
        options = " ".join(CONFIGS[name])
        walls = [r["wall_seconds"] for r in runs if r["wall_seconds"]]
        rows.append(
            f"| **{name}** | `{options}` | {len(runs)} | {runs[0]['epochs']} | {fmt([r['relaxed'] for r in runs])} | "
            f"{fmt([r['unrelaxed'] for r in runs])} | {fmt([r['test'] for r in runs])} | "
            f"{fmt([r['negative_elbo'] for r in runs])} | {fmt([r['nll'] for r in runs])} | "
            f"{is1000_text(name, runs, shipped)} | "
            f"{statistics.fmean(walls):.0f} s | {runs[0]['device'] or ''} |"
        )
    return "\n".join(rows)


def is1000_text(name: str, runs: list[dict], shipped: dict[str, dict]) -> str:
    """The IS-1000 cell: the seeds' mean and spread; for a row whose runs predate the column, the
    shipped model's (one of its seeds) when it was scored on the same images; else empty."""
    if all("nll_1000" in r for r in runs):
        return fmt([r["nll_1000"] for r in runs])
    bound = shipped.get(SHIPPED.get(name, ""), {})
    if bound.get("nll_1000_images") == IS1000_IMAGES:
        return f"{bound['nll_1000']:.2f} (the shipped seed)"
    return ""


def merged(found: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The results file's rows with this machine's runs in place of theirs: a configuration whose
    runs are not here keeps the row `docs/results.json` has."""
    previous = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}
    return {name: found.get(name) or previous[name] for name in CONFIGS if name in found or name in previous}


def quality_bound(runs: list[dict]) -> float:
    """What a shipped model of a configuration must meet: its seeds' mean test objective
    (one exact sample per image, the whole test set) + 2 standard deviations."""
    mean, spread = mean_spread([r["test"] for r in runs])
    return mean + QUALITY_SPREADS * spread


def mean_curves(runs: list[dict]) -> dict[str, list[float]]:
    return {
        key: [statistics.fmean(r["history"][e][key] for r in runs) for e in range(len(runs[0]["history"]))]
        for key in ("relaxed", "unrelaxed", "test")
    }


def ship(name: str, runs: list[tuple[Path, dict]], test_x) -> Path:
    """Copy the run with the median test objective into checkpoints/, with the quality bound
    its configuration's row in the results table sets."""
    ordered = sorted(runs, key=lambda item: item[1]["test"])
    source, _ = ordered[len(ordered) // 2]
    summaries = [summary for _, summary in runs]
    return ship_run(source, SHIPPED[name], name, summaries, test_x, "docs/results.json")


def ship_run(source: Path, name: str, config: str, runs: list[dict], test_x, table: str) -> Path:
    """Copy the model of `source` to checkpoints/<name>.pt with a quality check: its test
    objective (`test_x`, the run's own evaluation stream) and the bound that `runs`, the seeds of
    its configuration `config` in the results file `table`, set."""
    target = REPO / "checkpoints" / f"{name}.pt"
    shutil.copy(source, target)
    model = load_checkpoint(target).model
    source_meta = read_metadata(source)
    seed = recorded_seed(source_meta)
    if seed is None:
        raise ValueError(f"{source.name}'s record names no seed; it cannot be checked with its own evaluation stream.")
    evaluation_seed = stream_seed(seed, "evaluation")  # the stream the run scored its epochs with
    check = exact_sample_objective(model, test_x, seed=evaluation_seed).total
    meta = source_meta | {
        "name": name,
        "source_run": source.stem,
        "quality_check": quality_check(config, runs, check, evaluation_seed, len(test_x), table),
    }
    target.with_suffix(".json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    return target


def quality_check(config: str, runs: list[dict], measured: float, seed: int, images: int, table: str) -> dict:
    """The shipped model's check; `seed` is the one `exact_sample_objective` measured it with."""
    return {
        "config": config,
        "rule": f"mean + {QUALITY_SPREADS:g} sd of 'test, 1 sample' over the configuration's seeds ({table})",
        "table": table,
        "test_images": images,
        "seed": seed,
        "measured": round(measured, 3),
        "bound": round(quality_bound(runs), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shipped-only",
        type=int,
        metavar="IMAGES",
        default=None,
        help="only IS-100 and IS-1000 of the shipped models on the first IMAGES test images (docs/shipped_bounds.json)",
    )
    args = parser.parse_args(argv)
    test_x = load_mnist("test").pixels()
    if args.shipped_only:
        DOCS.mkdir(exist_ok=True)
        bounds = shipped_bounds(test_x, args.shipped_only)
        SHIPPED_BOUNDS.write_text(json.dumps(bounds, indent=2))
        return 0
    found: dict[str, list[tuple[Path, dict]]] = {}
    for name in CONFIGS:
        paths = sorted(RUNS.glob(f"{name}-s*.pt"))
        if paths:
            found[name] = [(p, run_summary(p, test_x)) for p in paths]
            print(f"{name}: {len(paths)} run(s)", flush=True)
    if not found:
        print("no runs: train them first with python -m scripts.reproduce", file=sys.stderr)
        return 1
    results = merged({name: [summary for _, summary in runs] for name, runs in found.items()})
    DOCS.mkdir(exist_ok=True)
    RESULTS_JSON.write_text(
        json.dumps(
            {name: [{k: v for k, v in r.items() if k != "history"} for r in runs] for name, runs in results.items()},
            indent=2,
        )
    )
    curves = {str(name): mean_curves(results[name]) for name in ("faithful", "best") if name in found}
    if len(curves) == 2:  # the figure shows both; rows kept from the results file have no curves
        epoch_curves_figure(curves).write_image(DOCS / "training_curves.png", width=1300, height=520, scale=1)
    shipped = json.loads(SHIPPED_BOUNDS.read_text()) if SHIPPED_BOUNDS.exists() else {}
    replace_between(RESULTS_PAGE, "results", table(results, shipped))
    print(table(results, shipped))
    for name in SHIPPED:
        if name in found:
            print(f"shipped {ship(name, found[name], test_x)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
