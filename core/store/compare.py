"""Runs side by side, as the Compare page shows them: what each was asked, what it did, and how
it ended, from the records in the run store (or a shipped model's side-file)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.store.checkpoints import recorded_seed
from core.store.runs import stored_status

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
METRIC_COLUMNS: tuple[str, ...] = ("relaxed", "unrelaxed", "test", "status")
# What a run actually did, beside what it was asked (SETTING_COLUMNS): a run stopped early ran
# fewer epochs, a τ or learning rate changed mid-run ended elsewhere.
DONE_COLUMNS: tuple[str, ...] = ("epochs_done", "steps", "final_tau", "final_lr", "changes")
COLUMNS: tuple[str, ...] = ("run", "source", *METRIC_COLUMNS, *DONE_COLUMNS, *SETTING_COLUMNS)


@dataclass(frozen=True)
class Comparison:
    """Runs side by side: a table row each, the settings that differ, per-epoch histories."""

    labels: list[str]
    rows: list[dict]  # COLUMNS: label, source, the results, what the run did, then its settings
    differing: list[str]  # setting columns whose values are not all equal
    histories: list[list[dict]]  # per run: its per-epoch metrics (epoch, relaxed, unrelaxed, test, tau...)

    def csv(self) -> str:
        import csv
        import io

        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()


def pixels(metadata: dict) -> str:
    """How a run's training images were binarized ("none": grey levels, as records from before
    the setting say by leaving it out)."""
    return str((metadata.get("train_config") or {}).get("binarize", "none"))


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
        "binarize": pixels(metadata),
    }


def _done(metadata: dict) -> dict:
    """What the run did: epochs and steps run, the τ and learning rate its last step used (a
    record from before these were kept: the last epoch's), and its mid-run changes in order."""
    history = [h for h in metadata.get("history") or [] if isinstance(h, dict)]
    last = history[-1] if history else {}
    changes = [c for c in metadata.get("changes") or [] if isinstance(c, dict)]
    return {
        "epochs_done": metadata.get("epochs"),
        "steps": metadata.get("steps"),
        "final_tau": metadata.get("final_tau", last.get("tau")),
        "final_lr": metadata.get("final_lr", last.get("lr") or None),
        "changes": "; ".join(_change_text(c) for c in changes) or "none",
    }


def _change_text(change: dict) -> str:
    name = "τ" if change.get("name") == "tau" else str(change.get("name"))
    value, step = change.get("value"), change.get("step")
    shown = f"{value:.3g}" if isinstance(value, int | float) else str(value)
    return f"{name} → {shown} after step {step}"


def _comparable(value: object) -> object:
    """A setting compared by its value (0 and 0.0 are the same rate); a list or a table by its text."""
    return repr(value) if isinstance(value, list | dict) else value


def compare_runs(runs: Mapping[str, tuple[str, dict]]) -> Comparison:
    """A comparison of runs given as label -> (source, their JSON metadata)."""
    rows, histories = [], []
    for label, (source, metadata) in runs.items():
        history = [h for h in metadata.get("history") or [] if isinstance(h, dict)]
        final = metadata.get("final_metrics") or (history[-1] if history else {})
        rows.append(
            {
                "run": label,
                "source": source,
                "relaxed": final.get("relaxed"),
                "unrelaxed": final.get("unrelaxed"),
                "test": final.get("test"),
                "status": stored_status(metadata)[0],
            }
            | _done(metadata)
            | _settings(metadata)
        )
        histories.append(history)
    differing = [c for c in SETTING_COLUMNS if len({_comparable(r[c]) for r in rows}) > 1]
    return Comparison(list(runs), rows, differing, histories)
