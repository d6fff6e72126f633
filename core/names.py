"""The one vocabulary of gradient-estimator names, shared by training, the estimator lab,
the CLI and the pages, with the labels people read."""

from __future__ import annotations

ESTIMATOR_LABELS: dict[str, str] = {
    "score_function": "Score function (REINFORCE)",
    "score_function_loo": "Score function, leave-one-out baseline",
    "gumbel_softmax": "Gumbel-Softmax (relaxed)",
    "straight_through": "Straight-through Gumbel-Softmax",
    "gumbel_rao": "Gumbel-Rao",
}
SHORT_LABELS: dict[str, str] = {
    "score_function": "REINFORCE",
    "score_function_loo": "REINFORCE + LOO",
    "gumbel_softmax": "Gumbel-Softmax",
    "straight_through": "Straight-through",
    "gumbel_rao": "Gumbel-Rao",
}
# Names older URLs, CLI calls and checkpoint files use for the same estimators.
ALIASES: dict[str, str] = {"relaxed": "gumbel_softmax"}


def canonical_estimator(name: str) -> str:
    """The current name of an estimator, also for the names older files and URLs carry."""
    return ALIASES.get(name, name)
