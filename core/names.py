"""The one vocabulary of gradient-estimator names, shared by training, the estimator lab,
the CLI and the pages, with the labels people read; and the other plain names and defaults
a command line's parser offers (model presets, binarizations, precisions, annealing, the
threads variable). Nothing here imports torch, so `python -m core.training --help` answers at once."""

from __future__ import annotations

# The estimators a training run can use (the estimator lab compares more: ESTIMATOR_LABELS).
ESTIMATORS: tuple[str, ...] = (
    "gumbel_softmax",
    "straight_through",
    "gumbel_rao",
    "score_function",
    "plain_straight_through",
    "muprop",
)
# The keys of core.vae.PRESETS, sorted.
PRESET_NAMES: tuple[str, ...] = ("faithful", "jang", "linear")
BINARIZE: tuple[str, ...] = ("none", "dynamic", "static")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
THREADS_ENV = "GUMBEL_LAB_THREADS"
# Jang et al. 2017's annealing, used when annealing is asked for without its own settings.
ANNEAL_RATE = 3e-5
ANNEAL_EVERY = 1000

ESTIMATOR_LABELS: dict[str, str] = {
    "score_function": "Score function (REINFORCE)",
    "score_function_loo": "Score function, leave-one-out baseline",
    "gumbel_softmax": "Gumbel-Softmax (relaxed)",
    "straight_through": "Straight-through Gumbel-Softmax",
    "gumbel_rao": "Gumbel-Rao",
    "plain_straight_through": "Straight-through, plain (no Gumbel)",
    "muprop": "MuProp (Taylor control variate)",
}
SHORT_LABELS: dict[str, str] = {
    "score_function": "REINFORCE",
    "score_function_loo": "REINFORCE + LOO",
    "gumbel_softmax": "Gumbel-Softmax",
    "straight_through": "Straight-through",
    "gumbel_rao": "Gumbel-Rao",
    "plain_straight_through": "Plain ST",
    "muprop": "MuProp",
}
# Names older URLs, CLI calls and checkpoint files use for the same estimators.
ALIASES: dict[str, str] = {"relaxed": "gumbel_softmax"}


def canonical_estimator(name: str) -> str:
    """The current name of an estimator, also for the names older files and URLs carry."""
    return ALIASES.get(name, name)
