"""What the temperature does to a Gumbel-Softmax sample, computed for the Temperature page.

Every temperature sees the *same* Gumbel draws, so the only difference between panels is
the temperature itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy.stats import chisquare

from core.gumbel import check_logits, check_tau, gumbel_argmax, perturbed_logits, relax

MAX_CLASSES = 10


def logit_preset(name: str, classes: int) -> list[float]:
    """Starting logits for a page: 'uniform', 'peaked' (one likely class) or 'two modes'."""
    if not 2 <= classes <= MAX_CLASSES:
        raise ValueError(f"choose between 2 and {MAX_CLASSES} classes, got {classes}.")
    if name == "uniform":
        return [0.0] * classes
    if name == "peaked":
        return [2.0] + [0.0] * (classes - 1)
    if name == "two modes":
        logits = [-1.0] * classes
        logits[0] = logits[classes // 2 if classes > 2 else 1] = 1.0
        return logits
    raise ValueError(f"unknown preset {name!r}; choose uniform, peaked or two modes.")


PRESET_NAMES = ("uniform", "peaked", "two modes")


@dataclass(frozen=True)
class TemperatureStudy:
    """Relaxed samples of one categorical at several temperatures, from shared noise."""

    probabilities: torch.Tensor  # (K,)
    taus: tuple[float, ...]
    means: torch.Tensor  # (T, K): Monte Carlo E[relaxed sample]
    mean_errors: torch.Tensor  # (T, K): standard errors of `means`
    shown: torch.Tensor  # (T, S, K): a few single samples, same noise in every row t


def _as_logits(logits: torch.Tensor | list[float]) -> torch.Tensor:
    logits = torch.as_tensor(logits, dtype=torch.float64)
    if logits.dim() != 1:
        raise ValueError(f"give one vector of logits, got shape {tuple(logits.shape)}.")
    check_logits(logits, -1)
    return logits


def categorical_probabilities(logits: torch.Tensor | list[float]) -> torch.Tensor:
    """softmax(logits), the distribution every sampler on the page targets."""
    return torch.softmax(_as_logits(logits), -1)


def _check_taus(taus: list[float] | tuple[float, ...]) -> tuple[float, ...]:
    if len(taus) == 0:
        raise ValueError("give at least one temperature.")
    return tuple(check_tau(t) for t in taus)


def study_temperatures(
    logits: torch.Tensor | list[float],
    taus: list[float] | tuple[float, ...],
    draws: int = 4000,
    shown: int = 5,
    seed: int = 0,
) -> TemperatureStudy:
    """Relax the same `draws` perturbed logits at every temperature."""
    logits = _as_logits(logits)
    taus = _check_taus(taus)
    if draws < 2 or shown < 1:
        raise ValueError("need at least 2 draws and 1 shown sample.")
    generator = torch.Generator().manual_seed(seed)
    scores = perturbed_logits(logits.expand(draws, -1), generator)
    samples = torch.stack([relax(scores, tau) for tau in taus])  # (T, N, K)
    return TemperatureStudy(
        probabilities=torch.softmax(logits, -1),
        taus=taus,
        means=samples.mean(1),
        mean_errors=samples.std(1) / math.sqrt(draws),
        shown=samples[:, :shown],
    )


def simplex_cloud(
    logits: torch.Tensor | list[float],
    taus: list[float] | tuple[float, ...],
    draws: int = 600,
    seed: int = 0,
) -> torch.Tensor:
    """(T, draws, 3) relaxed samples of a 3-class categorical, for a ternary plot."""
    logits = _as_logits(logits)
    if logits.numel() != 3:
        raise ValueError(f"the simplex view needs exactly 3 classes, got {logits.numel()}.")
    taus = _check_taus(taus)
    scores = perturbed_logits(logits.expand(draws, -1), torch.Generator().manual_seed(seed))
    return torch.stack([relax(scores, tau) for tau in taus])


def one_hotness_curve(
    logits: torch.Tensor | list[float],
    taus: torch.Tensor | None = None,
    draws: int = 2000,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean largest component of relaxed samples over a log grid of temperatures.

    1 means one-hot; 1/K is the centre of the simplex.
    """
    logits = _as_logits(logits)
    taus = torch.logspace(-2, 1.5, 36, dtype=torch.float64) if taus is None else taus
    scores = perturbed_logits(logits.expand(draws, -1), torch.Generator().manual_seed(seed))
    values = torch.softmax(scores.unsqueeze(0) / taus.view(-1, 1, 1), dim=-1).amax(-1).mean(-1)
    return taus, values


@dataclass(frozen=True)
class FrequencyCheck:
    """Exact Gumbel-max draws against softmax(logits), with Pearson's chi-square test."""

    counts: torch.Tensor
    probabilities: torch.Tensor
    draws: int
    chi2: float
    p_value: float

    @property
    def frequencies(self) -> torch.Tensor:
        return self.counts / self.draws


def gumbel_max_check(logits: torch.Tensor | list[float], draws: int = 10000, seed: int = 0) -> FrequencyCheck:
    """Draw `draws` exact samples with the Gumbel-max trick and test them against softmax.

    Classes of probability 0 are left out of the test (they must simply never appear).
    """
    logits = _as_logits(logits)
    if draws < 10:
        raise ValueError(f"use at least 10 draws for a frequency check, got {draws}.")
    generator = torch.Generator().manual_seed(seed)
    counts = gumbel_argmax(logits.expand(draws, -1), generator=generator).sum(0)
    probs = torch.softmax(logits, -1)
    possible = probs > 0
    if possible.sum() < 2:
        return FrequencyCheck(counts, probs, draws, 0.0, 1.0)
    expected = probs[possible] * draws
    observed = counts[possible]
    stat, p = chisquare(observed.numpy(), expected.numpy() * observed.sum().item() / expected.sum().item())
    return FrequencyCheck(counts, probs, draws, float(stat), float(p))
