"""The τ study's figure and table from a sweep in the run store (docs/results.md, "Which temperature?").

    python -m scripts.tau_study [--sweep tau-study] [--out docs/tau_study.png]

Reads every finished trial of runs/sweeps/<sweep>, plots the test objective after the last
epoch against τ per estimator (seeds as dots, their mean as a line) and prints a Markdown
table of mean ± spread over seeds.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from core.figures.compare import tau_study_figure
from core.names import SHORT_LABELS, canonical_estimator
from core.runtime.jobs import Status
from core.store.runs import RunStore


def study_points(sweep: str, store: RunStore | None = None) -> list[tuple[str, float, float, int]]:
    """(estimator, τ, final test objective, seed) for each finished trial of the sweep."""
    points = []
    for record in (store or RunStore()).records("sweeps", sweep):
        if record.status != Status.FINISHED:
            continue
        config = record.metadata["train_config"]
        points.append(
            (
                canonical_estimator(config["estimator"]),
                float(config["tau"]),
                float(record.metadata["final_metrics"]["test"]),
                int(config["seed"]),
            )
        )
    return points


def markdown_table(points: list[tuple[str, float, float, int]]) -> str:
    estimators = list(dict.fromkeys(p[0] for p in sorted(points)))
    taus = sorted({p[1] for p in points})
    lines = ["| τ | " + " | ".join(SHORT_LABELS.get(e, e) for e in estimators) + " |"]
    lines.append("|---:|" + "---:|" * len(estimators))
    for tau in taus:
        cells = []
        for estimator in estimators:
            values = [p[2] for p in points if p[0] == estimator and p[1] == tau]
            if not values:
                cells.append("—")
            elif len(values) == 1:
                cells.append(f"{values[0]:.1f} (1 seed)")
            else:
                cells.append(f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f} ({len(values)})")
        lines.append(f"| {tau:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", default="tau-study")
    parser.add_argument("--out", default="docs/tau_study.png")
    parser.add_argument("--title", default="Test objective after 10 epochs against τ")
    args = parser.parse_args()
    points = study_points(args.sweep)
    if not points:
        raise SystemExit(f"no finished trials in runs/sweeps/{args.sweep}")
    labelled = [(SHORT_LABELS.get(e, e), tau, value) for e, tau, value, _ in sorted(points)]
    tau_study_figure(labelled, args.title).write_image(Path(args.out), width=1100, height=520, scale=1)
    print(f"{len(points)} finished trials -> {args.out}\n")
    print(markdown_table(points))


if __name__ == "__main__":
    main()
