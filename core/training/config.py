"""What a training run is asked to do: its settings, validated once, and the temperature
schedule. `TrainConfig.from_settings` is the one way the CLI, the Train page and anything
else that launches runs turn plain settings into a config."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import torch

from core import seeds
from core.data import check_binarize
from core.guards import positive_number, whole_number
from core.names import ANNEAL_EVERY, ANNEAL_RATE, ESTIMATORS, canonical_estimator
from core.runtime.device import check_device, check_precision
from core.vae import PRESETS, VAEConfig


@dataclass(frozen=True)
class TemperatureSchedule:
    """tau = max(tau_min, tau0 * exp(-rate * step)), with step rounded down to a multiple of
    `every` (Jang et al. 2017); rate 0 is a constant temperature."""

    tau0: float = 1.0
    tau_min: float = 0.5
    rate: float = 0.0
    every: int = 1000

    def __post_init__(self) -> None:
        positive_number(self.tau0, "the temperature tau")
        positive_number(self.tau_min, "the minimum temperature")
        if not math.isfinite(self.rate) or self.rate < 0:
            raise ValueError(f"the annealing rate must be >= 0, got {self.rate}.")
        if self.every < 1:
            raise ValueError(f"the annealing interval must be at least 1 step, got {self.every}.")

    def at(self, step: int) -> float:
        if self.rate == 0:
            return self.tau0
        held = (step // self.every) * self.every
        return max(self.tau_min, self.tau0 * math.exp(-self.rate * held))


MNIST_TRAIN_IMAGES = 60_000  # the training split's size: a run with no subset trains on all of it

# A run's random streams, each derived from its one seed (core.seeds), none related to another.
Stream = Literal["init", "noise", "shuffle", "binarize", "evaluation", "preview"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs; the defaults are the reference script's preset."""

    model: VAEConfig = field(default_factory=lambda: PRESETS["faithful"])
    epochs: int = 10
    batch_size: int = 100
    lr: float = 1e-3
    tau: float = 1.0
    anneal_rate: float = 0.0
    tau_min: float = 0.5
    anneal_every: int = ANNEAL_EVERY
    estimator: str = "gumbel_softmax"
    rao_samples: int = 10
    # Score function and MuProp: exact samples per image; each one's baseline is the mean of the others'.
    sf_samples: int = 4
    binarize: str = "none"
    seed: int = 0
    device: str = "cpu"
    # Matrix products in bfloat16 (float32 weights, losses and sampler); "auto": where it is faster.
    precision: str = "auto"
    max_steps: int | None = None
    train_subset: int | None = None
    test_subset: int | None = None
    # Adam's learning rate is multiplied by lr_decay every lr_decay_every steps (1: constant).
    lr_decay: float = 1.0
    lr_decay_every: int = 1000
    # Train for this many updates, over as many epochs as they take (None: `epochs` epochs).
    updates: int | None = None
    # The last `validation` training images are held out (0: none). At the end of the epoch that
    # reaches each multiple of `validate_every` updates, and at the run's end, the m-sample bound
    # (m = validation_samples) is measured on them; the weights with the best one are restored when
    # the run ends, and `patience` validations without a better one stop it early (None: never).
    validation: int = 0
    validate_every: int = 2500
    validation_samples: int = 10
    patience: int | None = None

    def __post_init__(self) -> None:
        whole_number(self.epochs, "epochs", 1)
        whole_number(self.batch_size, "the batch size", 1)
        positive_number(self.lr, "the learning rate")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {self.estimator!r}; choose one of {', '.join(ESTIMATORS)}.")
        whole_number(self.rao_samples, "Gumbel-Rao's conditional draws (rao_samples)", 1)
        whole_number(self.sf_samples, "the score function's and MuProp's samples per image (sf_samples)", 2)
        check_binarize(self.binarize)
        whole_number(self.seed, "the seed", 0)
        if not (isinstance(self.lr_decay, (int, float)) and 0 < self.lr_decay <= 1):
            raise ValueError(f"the learning-rate decay must be a factor in (0, 1], got {self.lr_decay!r}.")
        whole_number(self.lr_decay_every, "the learning-rate decay interval (steps)", 1)
        whole_number(self.validation, "the validation images", 0)
        whole_number(self.validate_every, "the updates between validations (validate_every)", 1)
        whole_number(self.validation_samples, "the validation bound's samples per image", 1)
        if self.patience is not None and not self.validation:
            raise ValueError("early stopping (patience) needs a validation split: give validation images too.")
        for name, what in (
            ("max_steps", "max steps"),
            ("train_subset", "train_subset (images)"),
            ("test_subset", "test_subset (images)"),
            ("updates", "updates"),
            ("patience", "patience (validations without improvement)"),
        ):
            value = getattr(self, name)
            if value is not None:
                whole_number(value, what, 1)
        check_device(self.device)
        check_precision(self.precision)
        TemperatureSchedule(self.tau, self.tau_min, self.anneal_rate, self.anneal_every)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> TrainConfig:
        """A config from the plain settings a person chooses, under TrainConfig's own names plus
        `preset` (a model preset's name) and `anneal` (an on/off switch beside `anneal_rate`); the
        estimator may have any of its names. Other keys (a CLI's --out, say) are not settings."""
        chosen = {name: settings[name] for name in SETTINGS if name in settings}
        preset = chosen.pop("preset", "faithful")
        if preset not in PRESETS:
            raise ValueError(f"unknown model preset {preset!r}; choose one of {', '.join(PRESETS)}.")
        anneal = chosen.pop("anneal", False)
        chosen["anneal_rate"] = chosen.get("anneal_rate", ANNEAL_RATE) if anneal else 0.0
        chosen["estimator"] = canonical_estimator(chosen.get("estimator", "gumbel_softmax"))
        return cls(model=PRESETS[preset], **chosen)

    @property
    def schedule(self) -> TemperatureSchedule:
        return TemperatureSchedule(self.tau, self.tau_min, self.anneal_rate, self.anneal_every)

    def lr_at(self, step: int) -> float:
        """The learning rate of step `step` (counted from 0): lr x lr_decay^(step // lr_decay_every)."""
        return self.lr * self.lr_decay ** (step // self.lr_decay_every)

    def stream_seed(self, purpose: Stream) -> int:
        """The seed of this run's `purpose` stream (what `generator` seeds its generator with)."""
        return seeds.stream_seed(self.seed, purpose)

    def generator(self, purpose: Stream, device: torch.device | str = "cpu") -> torch.Generator:
        """A fresh generator on `device` for this run's `purpose` stream."""
        return seeds.generator(self.seed, purpose, device)

    def to_dict(self) -> dict:
        return asdict(self) | {"model": self.model.to_dict()}

    def images_to_train(self, available: int = MNIST_TRAIN_IMAGES) -> int:
        """The images this run trains in all, from `available` training images: its size when it
        waits in a server's line (`core.runtime.slots`)."""
        total = min(self.train_subset or available, available) * self.epochs
        return min(total, self.max_steps * self.batch_size) if self.max_steps else total


# The names TrainConfig.from_settings reads: every field but the model, which a preset names.
SETTINGS: tuple[str, ...] = ("preset", "anneal", *(f.name for f in fields(TrainConfig) if f.name != "model"))
