"""The step loop: one model, its optimizer and data on the training device, stepped as
events. `Trainer.events()` is a plain generator; the CLI iterates it, a background run
drives it from a worker thread."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import torch

from core.data import (
    STATIC_BINARIZE_SEED,
    VALIDATION_BINARIZE_SEED,
    MNISTSplit,
    batch_indices,
    bernoulli,
    binarized,
    held_out_pixels,
    split_validation,
)
from core.evaluation import ExactSampleObjective, exact_sample_objective, held_out_bounds
from core.guards import positive_number
from core.gumbel import gumbel_rao, one_hot_argmax, straight_through_sample
from core.runtime.precision import PrecisionChoice, choose_precision
from core.training.adam import FlatAdam
from core.training.backprop import Bf16Weights, relaxed_step
from core.training.config import TrainConfig
from core.training.losses import StepLosses
from core.training.selection import Selection
from core.vae import CategoricalVAE, Forward, muprop_loss, reconstruction_nll, score_function_loss, vae_loss

ZERO_LOSSES = StepLosses(0.0, 0.0, 0.0, 0.0)
# The estimators whose forward pass decodes several exact samples per image, by their surrogate losses.
SCORE_FUNCTION_LOSSES = {"score_function": score_function_loss, "muprop": muprop_loss}


@dataclass(frozen=True)
class StepMetrics:
    step: int
    epoch: int
    relaxed: float
    unrelaxed: float
    kl: float
    reconstruction: float
    tau: float
    images_per_second: float
    lr: float = 0.0  # the learning rate this step used (0: not recorded, an older run)


@dataclass(frozen=True)
class Change:
    """A setting changed while the run trains: `value` holds from step `step` + 1 on."""

    step: int
    name: str  # "tau" or "lr"
    value: float


CHANGEABLE = ("tau", "lr")


@dataclass(frozen=True)
class EpochMetrics:
    """Training means over the epoch's steps, and the test objective with exact samples; after
    a validation, the m-sample bound on the validation and on the test images."""

    epoch: int
    step: int
    relaxed: float
    unrelaxed: float
    kl: float
    reconstruction: float
    test: float
    test_reconstruction: float
    test_kl: float
    tau: float
    seconds: float
    lr: float = 0.0
    validation_bound: float | None = None
    test_bound: float | None = None


class Trainer:
    """One model, its optimizer and data on the training device, stepped as events."""

    def __init__(self, config: TrainConfig, train: MNISTSplit, test: MNISTSplit) -> None:
        self.config = config
        self.device = torch.device(config.device)
        # One seed, a stream per purpose (TrainConfig.generator): the initial weights are drawn
        # on the CPU (the same on every device) and are no function of the training noise.
        self.model = CategoricalVAE(config.model, config.generator("init"))
        self.model.to(self.device).train()
        self.optimizer = FlatAdam(self.model, config.lr)
        # The Gumbel-Softmax and straight-through steps run a hand-written backward pass
        # (core.training.backprop), ~15 % faster on a CPU, in either precision; the rest go
        # through autograd (bfloat16 by autocast).
        self.handwritten = config.estimator in ("gumbel_softmax", "straight_through")
        # A validation split is the training split's last images; training never sees them.
        fit, held = split_validation(train, config.validation) if config.validation else (train, None)
        self.x_train = fit.subset(config.train_subset).pixels(self.device)
        if config.binarize == "static":
            self.x_train = binarized(self.x_train.cpu(), STATIC_BINARIZE_SEED).to(self.device)
        binarize = config.binarize != "none"
        self.x_test = held_out_pixels(test, binarize, self.device)[: config.test_subset]
        self.x_valid = None if held is None else held_out_pixels(held, binarize, self.device, VALIDATION_BINARIZE_SEED)
        self.selection = None if held is None else Selection(config.patience)
        self.noise = config.generator("noise", self.device)
        self.shuffle = config.generator("shuffle")
        # Dynamic binarization: a fresh Bernoulli draw per pixel for every batch, seeded by the run.
        self.binarizer = config.generator("binarize", self.device)
        self.step = 0
        self.epoch = 0
        self.tau_override: float | None = None  # set mid-run: replaces the schedule from then on
        self.lr_override: float | None = None  # likewise for the learning rate's decay
        self.changes: list[Change] = []

    @cached_property
    def precision_choice(self) -> PrecisionChoice:
        """The products' precision and why, decided the first time it is asked for (by the run's
        record or the first step): after the thread policy has set the thread count, which auto's
        timing depends on."""
        if self.config.precision == "auto" and not self.handwritten:
            return PrecisionChoice("fp32", "auto: bfloat16 is tried for the hand-written step only")
        return choose_precision(self.config.precision, self.device)

    @property
    def precision(self) -> str:
        return self.precision_choice.precision

    @cached_property
    def bf16_weights(self) -> Bf16Weights:
        """The weights' bfloat16 copies the hand-written bfloat16 step multiplies with."""
        return Bf16Weights(self.model, self.optimizer)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.x_train.shape[0] / self.config.batch_size)

    @property
    def epochs_to_run(self) -> int:
        """`epochs`, or as many epochs as `updates` take."""
        updates = self.config.updates
        return math.ceil(updates / self.steps_per_epoch) if updates else self.config.epochs

    @property
    def total_steps(self) -> int:
        total = self.config.updates or self.steps_per_epoch * self.config.epochs
        return min(total, self.config.max_steps) if self.config.max_steps else total

    @property
    def lr(self) -> float:
        return self.optimizer.lr

    def test_objective(self) -> ExactSampleObjective:
        """The test objective of the model as it is now, from the run's evaluation stream
        (restarted at every call, so successive epochs are scored with the same draws)."""
        return exact_sample_objective(self.model, self.x_test, seed=self.config.stream_seed("evaluation"))

    def held_out_bounds(self) -> tuple[float, float]:
        """The m-sample bound (-log of the mean of m importance weights, m = validation_samples)
        on the validation and on the test images, each from the run's evaluation stream."""
        assert self.x_valid is not None, "a run without a validation split has no validation bound"
        seed, samples = self.config.stream_seed("evaluation"), self.config.validation_samples
        valid, test = (
            held_out_bounds(self.model, x, elbo_samples=1, is_samples=samples, seed=seed).nll
            for x in (self.x_valid, self.x_test)
        )
        return valid, test

    def tau_at(self, step: int) -> float:
        return self.tau_override if self.tau_override is not None else self.config.schedule.at(step)

    def lr_at(self, step: int) -> float:
        return self.lr_override if self.lr_override is not None else self.config.lr_at(step)

    def change(self, name: str, value: float) -> Change:
        """Set τ or the learning rate for the next steps (a run's page changes them mid-run)."""
        if name not in CHANGEABLE:
            raise ValueError(f"only {' and '.join(CHANGEABLE)} can change during a run, not {name!r}.")
        value = positive_number(value, "the temperature tau" if name == "tau" else "the learning rate")
        if name == "tau":
            self.tau_override = value
        else:
            self.optimizer.lr = self.lr_override = value
        made = Change(self.step, name, value)
        self.changes.append(made)
        return made

    def _forward(self, x: torch.Tensor, tau: float) -> Forward:
        """The pass with the configured estimator's code."""
        estimator = self.config.estimator
        if estimator == "gumbel_softmax":
            return self.model(x, "relaxed", tau, self.noise)
        if estimator == "straight_through":
            return self.model(x, "straight_through", tau, self.noise)
        logits = self.model.encode(x)
        if estimator == "gumbel_rao":
            code = gumbel_rao(logits, tau, self.config.rao_samples, self.noise)
        else:  # plain straight-through: an exact sample forward, softmax(logits / tau) backward
            code = straight_through_sample(logits, tau, self.noise)
        return Forward(logits, code, self.model.decode_logits(code))

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        """The training images at `idx`, binarized afresh under dynamic binarization."""
        x = self.x_train.index_select(0, idx)
        return bernoulli(x, self.binarizer) if self.config.binarize == "dynamic" else x

    def train_step(self, x: torch.Tensor, tau: float) -> StepLosses:
        """One Adam step, and the batch means it measured before the update."""
        if self.handwritten:
            bf16 = self.bf16_weights if self.precision == "bf16" else None
            losses = relaxed_step(self.model, x, tau, self.noise, self.config.estimator == "straight_through", bf16)
            self.optimizer.step()
            if bf16 is not None:
                bf16.refresh()
            return losses
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            return self._autograd_step(x, tau)

    def _autograd_step(self, x: torch.Tensor, tau: float) -> StepLosses:
        if self.config.estimator in SCORE_FUNCTION_LOSSES:
            # Exact samples in the forward pass: the objective is the unrelaxed one.
            sampled = SCORE_FUNCTION_LOSSES[self.config.estimator]
            sf, surrogate = sampled(self.model, x, self.config.sf_samples, self.noise)
            return self._update(surrogate, sf.total, sf.total, sf.kl, sf.reconstruction)
        out = self._forward(x, tau)
        loss = vae_loss(out.pixel_logits, x, out.logits)
        # The unrelaxed objective comes before the update, so both describe the same weights.
        if self.config.estimator != "gumbel_softmax":  # the forward code already is the exact sample
            unrelaxed = loss.total.detach()
        else:  # the same draw's argmax is an exact sample from q: decode it, no new encoding
            with torch.no_grad():
                assert out.scores is not None  # a relaxed pass keeps the perturbed logits it relaxed
                exact = one_hot_argmax(out.scores)
                unrelaxed = reconstruction_nll(self.model.decode_logits(exact), x).mean() + loss.kl
        return self._update(loss.total, loss.total, unrelaxed, loss.kl, loss.reconstruction)

    def _update(
        self,
        objective: torch.Tensor,
        relaxed: torch.Tensor,
        unrelaxed: torch.Tensor,
        kl: torch.Tensor,
        reconstruction: torch.Tensor,
    ) -> StepLosses:
        """Step on the gradient of `objective`; return the batch means measured before it."""
        self.optimizer.zero_grad()
        objective.backward()
        self.optimizer.step()
        values = torch.stack([relaxed.detach(), unrelaxed.detach(), kl.detach(), reconstruction.detach()]).tolist()
        return StepLosses(*values)

    def events(self) -> Iterator[StepMetrics | EpochMetrics]:
        """Step events, and after each epoch (or a final partial one) an epoch event."""
        config = self.config
        speed = 0.0
        while self.epoch < self.epochs_to_run and self.step < self.total_steps:
            self.epoch += 1
            started = time.perf_counter()
            sums, steps = ZERO_LOSSES, 0
            for idx in batch_indices(
                self.x_train.shape[0], config.batch_size, generator=self.shuffle, device=self.device
            ):
                if self.step >= self.total_steps:
                    break
                tau = self.tau_at(self.step)
                self.optimizer.lr = self.lr_at(self.step)
                tick = time.perf_counter()
                losses = self.train_step(self.batch(idx), tau)
                now = len(idx) / max(time.perf_counter() - tick, 1e-9)
                speed = now if speed == 0 else 0.9 * speed + 0.1 * now
                self.step += 1
                steps += 1
                sums = sums + losses
                yield StepMetrics(
                    self.step,
                    self.epoch,
                    losses.relaxed,
                    losses.unrelaxed,
                    losses.kl,
                    losses.reconstruction,
                    tau=tau,
                    images_per_second=speed,
                    lr=self.lr,
                )
            test = self.test_objective()
            validation = test_bound = None
            if self.selection is not None and self._validation_due():
                validation, test_bound = self.held_out_bounds()
                self.selection.offer(validation, self.step, self.epoch, self.optimizer.flat)
            means = sums / max(steps, 1)
            yield EpochMetrics(
                self.epoch,
                self.step,
                means.relaxed,
                means.unrelaxed,
                means.kl,
                means.reconstruction,
                test.total,
                test.reconstruction,
                test.kl,
                tau=self.tau_at(max(self.step - 1, 0)),
                seconds=time.perf_counter() - started,
                lr=self.lr,
                validation_bound=validation,
                test_bound=test_bound,
            )
            if self.selection is not None and self.selection.exhausted:
                break  # early stopping: `patience` validations without a better bound
        if self.selection is not None:
            self.selection.restore(self.optimizer.flat)  # the run ends with the weights validation chose

    def _validation_due(self) -> bool:
        """At the end of the epoch that reaches each multiple of `validate_every` updates, and at the run's end."""
        every = self.config.validate_every
        assert self.selection is not None
        return self.step // every > self.selection.last_step // every or self.step >= self.total_steps
