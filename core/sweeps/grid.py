"""A sweep's grid: the settings it varies, expanded into named trials, each validated by
`TrainConfig.from_settings` before anything starts."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.names import SHORT_LABELS, canonical_estimator
from core.training.config import TrainConfig

# The settings a grid may vary, in the order a trial's name lists them.
GRID_KEYS: tuple[str, ...] = ("estimator", "tau", "anneal", "lr", "preset", "seed")
MAX_TRIALS = 500
# The data a whole sweep trains and tests on: (training images, test images), None for all.
SUBSETS: dict[str, tuple[int | None, int | None]] = {"full": (None, None), "demo": (5000, 1000), "tiny": (1000, 500)}


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
