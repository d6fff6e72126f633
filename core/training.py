"""The training engine: steps and epochs as events, schedules, and runs in a thread.

`Trainer.events()` is a plain generator (the CLI iterates it); `TrainingRun` drives the
same generator in a worker thread with pause / resume / stop and a bounded, locked
history that a page polls.
"""

from __future__ import annotations

import math
import platform
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import torch

from core.checkpoints import save_checkpoint
from core.data import MNISTSplit, batch_indices
from core.estimators import gumbel_rao
from core.gumbel import one_hot_argmax, perturbed_logits
from core.vae import PRESETS, CategoricalVAE, Forward, VAEConfig, kl_to_uniform, objective, reconstruction_nll

ESTIMATORS: tuple[str, ...] = ("relaxed", "straight_through", "gumbel_rao")
EVAL_BATCH = 1000
# Jang et al. 2017's annealing, used when annealing is asked for without its own settings.
ANNEAL_RATE = 3e-5
ANNEAL_EVERY = 1000


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def device_name(device: str) -> str:
    """A readable name for a device: the GPU's model, or the CPU's."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"CPU ({cpu_model()}, {torch.get_num_threads()} threads)"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


@dataclass(frozen=True)
class TemperatureSchedule:
    """tau = max(tau_min, tau0 * exp(-rate * step)), with step rounded down to a multiple of
    `every` (Jang et al. 2017); rate 0 is a constant temperature."""

    tau0: float = 1.0
    tau_min: float = 0.5
    rate: float = 0.0
    every: int = 1000

    def __post_init__(self) -> None:
        for label, value in (("the temperature tau", self.tau0), ("the minimum temperature", self.tau_min)):
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{label} must be a finite number > 0, got {value}.")
        if not math.isfinite(self.rate) or self.rate < 0:
            raise ValueError(f"the annealing rate must be >= 0, got {self.rate}.")
        if self.every < 1:
            raise ValueError(f"the annealing interval must be at least 1 step, got {self.every}.")

    def at(self, step: int) -> float:
        if self.rate == 0:
            return self.tau0
        held = (step // self.every) * self.every
        return max(self.tau_min, self.tau0 * math.exp(-self.rate * held))


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs; the defaults are the seed's preset."""

    model: VAEConfig = PRESETS["faithful"]
    epochs: int = 10
    batch_size: int = 100
    lr: float = 1e-3
    tau: float = 1.0
    anneal_rate: float = 0.0
    tau_min: float = 0.5
    anneal_every: int = 1000
    estimator: str = "relaxed"
    rao_samples: int = 10
    seed: int = 0
    device: str = "cpu"
    max_steps: int | None = None
    train_subset: int | None = None
    test_subset: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}.")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}.")
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise ValueError(f"the learning rate must be a finite number > 0, got {self.lr}.")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {self.estimator!r}; choose one of {', '.join(ESTIMATORS)}.")
        if self.rao_samples < 1:
            raise ValueError(f"Gumbel-Rao needs at least 1 conditional draw (rao_samples), got {self.rao_samples}.")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max steps must be at least 1, got {self.max_steps}.")
        for name in ("train_subset", "test_subset"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 image, got {value}.")
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError):
            raise ValueError(f"unknown device {self.device!r}; use 'cpu' or 'cuda'.") from None
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for, but no CUDA GPU is available here.")
        self.schedule  # validates the temperature settings

    @property
    def schedule(self) -> TemperatureSchedule:
        return TemperatureSchedule(self.tau, self.tau_min, self.anneal_rate, self.anneal_every)

    def to_dict(self) -> dict:
        return asdict(self) | {"model": self.model.to_dict()}


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


@dataclass(frozen=True)
class EpochMetrics:
    """Training means over the epoch's steps, and the test objective with exact samples."""

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


@dataclass(frozen=True)
class EvalResult:
    total: float
    reconstruction: float
    kl: float


def evaluate(
    model: CategoricalVAE, x: torch.Tensor, seed: int = 0, batch_size: int = EVAL_BATCH
) -> EvalResult:
    """The objective with exact one-hot samples from q, averaged over the rows of x."""
    generator = torch.Generator(x.device).manual_seed(seed)
    rec_sum = kl_sum = 0.0
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size]
            logits = model.encode(xb)
            code = one_hot_argmax(perturbed_logits(logits, generator))
            rec_sum += reconstruction_nll(model.decode_logits(code), xb).sum().item()
            kl_sum += kl_to_uniform(logits).sum().item()
    model.train(was_training)
    n = x.shape[0]
    return EvalResult((rec_sum + kl_sum) / n, rec_sum / n, kl_sum / n)


def _make_optimizer(model: CategoricalVAE, lr: float) -> torch.optim.Adam:
    # The fused kernel is several milliseconds faster per step than the default on a CPU.
    return torch.optim.Adam(model.parameters(), lr=lr, fused=True)


class Trainer:
    """One model, its optimizer and data on the training device, stepped as events."""

    def __init__(
        self, config: TrainConfig, train: MNISTSplit, test: MNISTSplit
    ) -> None:
        self.config = config
        self.device = torch.device(config.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.model = CategoricalVAE(config.model)
        self.model.to(self.device).train()
        self.optimizer = _make_optimizer(self.model, config.lr)
        self.x_train = train.subset(config.train_subset).pixels(self.device)
        self.x_test = test.subset(config.test_subset).pixels(self.device)
        self.noise = torch.Generator(self.device).manual_seed(config.seed)
        self.shuffle = torch.Generator().manual_seed(config.seed + 1)
        self.step = 0
        self.epoch = 0

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.x_train.shape[0] / self.config.batch_size)

    @property
    def total_steps(self) -> int:
        total = self.steps_per_epoch * self.config.epochs
        return min(total, self.config.max_steps) if self.config.max_steps else total

    def _forward(self, x: torch.Tensor, tau: float) -> Forward:
        """The pass with the configured estimator's code; Gumbel-Rao's comes from core.estimators."""
        if self.config.estimator != "gumbel_rao":
            return self.model(x, self.config.estimator, tau, self.noise)
        logits = self.model.encode(x)
        code = gumbel_rao(logits, tau, self.config.rao_samples, self.noise)
        return Forward(logits, code, self.model.decode_logits(code))

    def train_step(self, x: torch.Tensor, tau: float) -> tuple[float, float, float, float]:
        """One Adam step; returns (relaxed, unrelaxed, kl, reconstruction) batch means."""
        hard = self.config.estimator != "relaxed"
        out = self._forward(x, tau)
        loss = objective(out.pixel_logits, x, out.logits)
        # The unrelaxed objective comes before the update, so both describe the same weights.
        if hard:  # the forward code already is the exact sample
            unrelaxed = loss.total.detach()
        else:  # the same draw's argmax is an exact sample from q: decode it, no new encoding
            with torch.no_grad():
                exact = one_hot_argmax(out.scores)
                unrelaxed = reconstruction_nll(self.model.decode_logits(exact), x).mean() + loss.kl
        self.optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        self.optimizer.step()
        values = torch.stack(
            [loss.total.detach(), unrelaxed.detach(), loss.kl.detach(), loss.reconstruction.detach()]
        ).tolist()
        return tuple(values)

    def events(self) -> Iterator[StepMetrics | EpochMetrics]:
        """Step events, and after each epoch (or a final partial one) an epoch event."""
        config = self.config
        speed = 0.0
        while self.epoch < config.epochs and self.step < self.total_steps:
            self.epoch += 1
            started = time.perf_counter()
            sums = [0.0, 0.0, 0.0, 0.0]
            steps = 0
            for idx in batch_indices(
                self.x_train.shape[0], config.batch_size, generator=self.shuffle, device=self.device
            ):
                if self.step >= self.total_steps:
                    break
                tau = config.schedule.at(self.step)
                tick = time.perf_counter()
                values = self.train_step(self.x_train[idx], tau)
                now = len(idx) / max(time.perf_counter() - tick, 1e-9)
                speed = now if speed == 0 else 0.9 * speed + 0.1 * now
                self.step += 1
                steps += 1
                sums = [s + v for s, v in zip(sums, values)]
                yield StepMetrics(self.step, self.epoch, *values, tau=tau, images_per_second=speed)
            test = evaluate(self.model, self.x_test, seed=config.seed)
            means = [s / max(steps, 1) for s in sums]
            yield EpochMetrics(
                self.epoch, self.step, *means, test.total, test.reconstruction, test.kl,
                tau=config.schedule.at(max(self.step - 1, 0)),
                seconds=time.perf_counter() - started,
            )


@dataclass(frozen=True)
class Preview:
    """Images a page shows after an epoch: fixed test digits, their decodings, prior samples."""

    epoch: int
    originals: torch.Tensor
    reconstructions: torch.Tensor
    prior_samples: torch.Tensor


def make_preview(model: CategoricalVAE, x: torch.Tensor, epoch: int, n_prior: int = 64, seed: int = 0) -> Preview:
    """Decodings of `x` through the mode of q, and of n_prior codes from the uniform prior."""
    device = next(model.parameters()).device
    generator = torch.Generator(device).manual_seed(seed)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        x = x.to(device)
        recon = model.decode(one_hot_argmax(model.encode(x)))
        prior = model.decode(model.random_codes(n_prior, generator))
    model.train(was_training)
    side = int(round(math.sqrt(x.shape[-1] if x.dim() == 2 else x[0].numel())))
    shape = (-1, side, side)
    return Preview(epoch, x.reshape(shape).cpu(), recon.reshape(shape).cpu(), prior.reshape(shape).cpu())


class TooManyRunsError(RuntimeError):
    """The server already carries as many training runs as it allows."""


class RunSlots:
    """A fixed number of concurrent runs for a whole server; a run holds one until it ends."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the run limit must be at least 1, got {limit}.")
        self.limit = limit
        self._semaphore = threading.BoundedSemaphore(limit)

    def acquire(self) -> None:
        if not self._semaphore.acquire(blocking=False):
            raise TooManyRunsError(
                f"The server is already training {self.limit} model(s), its limit. "
                "Try again when a run has finished, or stop one of yours."
            )

    def release(self) -> None:
        self._semaphore.release()


@dataclass(frozen=True)
class RunSnapshot:
    """A consistent copy of a run's state, safe to read from any thread."""

    status: str
    step: int
    total_steps: int
    epoch: int
    steps: list[StepMetrics]
    epochs: list[EpochMetrics]
    preview: Preview | None
    checkpoint: Path | None
    error: str | None
    elapsed_seconds: float

    @property
    def progress(self) -> float:
        return self.step / self.total_steps if self.total_steps else 0.0

    @property
    def images_per_second(self) -> float:
        return self.steps[-1].images_per_second if self.steps else 0.0

    @property
    def seconds_left(self) -> float | None:
        if not self.steps or self.status not in ("running", "paused"):
            return None
        per_step = self.elapsed_seconds / max(self.step, 1)
        return per_step * (self.total_steps - self.step)


class TrainingRun:
    """A training run in a worker thread that never touches the UI.

    Pause, resume and stop are flags checked between steps. When the run ends (finished or
    stopped, after at least one step) the model is saved as a checkpoint in `checkpoint_dir`.
    """

    def __init__(
        self,
        config: TrainConfig,
        train: MNISTSplit,
        test: MNISTSplit,
        *,
        checkpoint_dir: str | Path | None = None,
        name: str | None = None,
        history: int = 5000,
        preview_digits: int = 8,
        slots: RunSlots | None = None,
        metadata: dict | None = None,
    ) -> None:
        self.config = config
        self.name = name or time.strftime("run-%Y%m%d-%H%M%S")
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.metadata = metadata or {}
        self._train, self._test = train, test
        self._preview_x = test.subset(config.test_subset).pixels()[:preview_digits]
        self._steps: deque[StepMetrics] = deque(maxlen=history)
        self._epochs: list[EpochMetrics] = []
        self._lock = threading.Lock()
        self._resume = threading.Event()
        self._resume.set()
        self._stop = threading.Event()
        self._status = "pending"
        self._preview: Preview | None = None
        self._checkpoint: Path | None = None
        self._error: str | None = None
        self._step = 0
        self._epoch = 0
        self._total = 0
        self._started: float | None = None
        self._paused_for = 0.0
        self._slots = slots
        self._thread = threading.Thread(target=self._work, name=f"training-{self.name}", daemon=True)
        self.trainer: Trainer | None = None

    def start(self) -> "TrainingRun":
        if self._slots is not None:
            self._slots.acquire()
        self._status = "running"
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def pause(self) -> None:
        with self._lock:
            if self._status == "running":
                self._status = "paused"
                self._resume.clear()

    def resume(self) -> None:
        with self._lock:
            if self._status == "paused":
                self._status = "running"
                self._resume.set()

    def stop(self) -> None:
        self._stop.set()
        self._resume.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker; True when it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def done(self) -> bool:
        return self._status in ("finished", "stopped", "failed")

    def snapshot(self) -> RunSnapshot:
        with self._lock:
            elapsed = (time.perf_counter() - self._started - self._paused_for) if self._started else 0.0
            return RunSnapshot(
                self._status, self._step, self._total, self._epoch, list(self._steps),
                list(self._epochs), self._preview, self._checkpoint, self._error, elapsed,
            )

    def _wait_if_paused(self) -> None:
        if self._resume.is_set():
            return
        began = time.perf_counter()
        self._resume.wait()
        with self._lock:
            self._paused_for += time.perf_counter() - began

    def _work(self) -> None:
        try:
            self.trainer = trainer = Trainer(self.config, self._train, self._test)
            with self._lock:
                self._total = trainer.total_steps
            for event in trainer.events():
                with self._lock:
                    if isinstance(event, StepMetrics):
                        self._steps.append(event)
                        self._step, self._epoch = event.step, event.epoch
                    else:
                        self._epochs.append(event)
                if isinstance(event, EpochMetrics):
                    preview = make_preview(trainer.model, self._preview_x, event.epoch, seed=self.config.seed)
                    with self._lock:
                        self._preview = preview
                self._wait_if_paused()
                if self._stop.is_set():
                    break
            status = "stopped" if self._stop.is_set() else "finished"
            path = self._save(trainer, status)
            with self._lock:
                self._checkpoint, self._status = path, status
        except Exception as err:  # the page shows it; the thread must not die silently
            with self._lock:
                self._status, self._error = "failed", f"{type(err).__name__}: {err}"
        finally:
            if self._slots is not None:
                self._slots.release()

    def _save(self, trainer: Trainer, status: str) -> Path | None:
        if self.checkpoint_dir is None or trainer.step == 0:
            return None
        metadata = checkpoint_metadata(trainer, self._epochs, name=self.name, status=status, **self.metadata)
        return save_checkpoint(trainer.model, self.checkpoint_dir / f"{self.name}.pt", metadata)


def checkpoint_metadata(trainer: Trainer, epochs: list[EpochMetrics], **extra) -> dict:
    """What a checkpoint's side-file says of the run that made it."""
    last = epochs[-1] if epochs else None
    if last is None or last.step != trainer.step:  # stopped mid-epoch: measure where it is
        test = evaluate(trainer.model, trainer.x_test, seed=trainer.config.seed)
        final = {"epoch": trainer.epoch, "step": trainer.step, "test": test.total,
                 "test_reconstruction": test.reconstruction, "test_kl": test.kl}
    else:
        final = asdict(last)
    return {
        **extra,
        "train_config": trainer.config.to_dict(),
        "data": {"dataset": "MNIST", "train_images": trainer.x_train.shape[0],
                 "test_images": trainer.x_test.shape[0]},
        "epochs": trainer.epoch,
        "steps": trainer.step,
        "seed": trainer.config.seed,
        "final_metrics": final,
        "history": [asdict(e) for e in epochs],
    }


def smooth(values: Sequence[float], weight: float = 0.9) -> list[float]:
    """Exponential moving average, debiased as in TensorBoard so the curve starts at the
    data rather than at 0; per-batch objectives are too noisy to read on a projector."""
    if not 0 <= weight < 1:
        raise ValueError(f"the smoothing weight must be in [0, 1), got {weight}.")
    out: list[float] = []
    average, decay = 0.0, 1.0
    for value in values:
        average = weight * average + (1 - weight) * value
        decay *= weight
        out.append(average / (1 - decay))
    return out


@dataclass(frozen=True)
class TrainingCurves:
    """Per-step metrics ready to draw: smoothed at full resolution, then thinned."""

    step: list[int]
    relaxed: list[float]
    unrelaxed: list[float]
    kl: list[float]
    reconstruction: list[float]
    tau: list[float]


def training_curves(steps: Sequence[StepMetrics], weight: float = 0.9, max_points: int = 500) -> TrainingCurves:
    """Smooth every step, then keep at most about max_points evenly spaced ones (always the
    first and the newest), so a page polling a long run draws a bounded number of points."""
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}.")
    n = len(steps)
    keep = list(range(0, n, math.ceil(n / max_points) or 1))
    if n and keep[-1] != n - 1:
        keep.append(n - 1)

    def series(name: str) -> list[float]:
        full = smooth([getattr(s, name) for s in steps], weight)
        return [full[i] for i in keep]

    return TrainingCurves(
        [steps[i].step for i in keep], series("relaxed"), series("unrelaxed"), series("kl"),
        series("reconstruction"), [steps[i].tau for i in keep],
    )
