"""Training on a GPU, end to end and per step: the reference script's preset for `--epochs` epochs.

    python -m benchmarks.gpu_epochs [--epochs 10] [--steps 300] [--variants eager autograd bf16 compiled graphed]

Needs a CUDA device (`--device cpu` runs the same code on a CPU, for a dry run). Each
variant is measured twice: per step (`--steps` timed `Trainer.train_step` calls after a
warm-up, synchronised at both ends) and end to end (a fresh `Trainer` stepped through
`Trainer.events()` for `--epochs` epochs, its per-epoch test pass included, as the CLI runs).
Variants: eager float32 (the hand-written backward pass, as the CLI runs it); the same through
autograd; eager bfloat16 autocast (`precision="bf16"`, autograd); the encoder and the decoder
through `torch.compile` (autograd); the same with mode="reduce-overhead" (CUDA graphs). A
variant that fails prints its error and the others go on. Never part of the tests.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from benchmarks.train_throughput import our_steps, run_for
from core.data import MNISTSplit, load_mnist
from core.runtime.device import describe_cpu, device_name
from core.training.config import TrainConfig
from core.training.loop import EpochMetrics, Trainer

VARIANTS = ("eager", "autograd", "bf16", "compiled", "graphed")


def prepare(trainer: Trainer, variant: str) -> None:
    """Apply a variant to a fresh trainer (compilation happens lazily, at the first steps)."""
    if variant != "eager":  # compiled modules only run where autograd calls them
        trainer.handwritten = False
    if variant in ("compiled", "graphed"):
        mode = "reduce-overhead" if variant == "graphed" else "default"
        trainer.model.encoder = torch.compile(trainer.model.encoder, mode=mode)  # type: ignore[assignment]
        trainer.model.decoder = torch.compile(trainer.model.decoder, mode=mode)  # type: ignore[assignment]


def config_for(variant: str, args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs,
        device=args.device,
        precision="bf16" if variant == "bf16" else "fp32",
        train_subset=args.train_subset,
        test_subset=args.test_subset,
    )


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def per_step(make: Callable[[], Trainer], steps: int, warmup: int) -> tuple[float, float]:
    """Seconds of the warm-up (compilation shows here) and ms per timed step."""
    trainer = make()
    device = str(trainer.device)
    stream = our_steps(trainer)
    started = time.perf_counter()
    run_for(stream, warmup)
    synchronize(device)
    warm = time.perf_counter() - started
    started = time.perf_counter()
    run_for(stream, steps)
    synchronize(device)
    return warm, 1000 * (time.perf_counter() - started) / steps


def end_to_end(make: Callable[[], Trainer]) -> tuple[float, int, EpochMetrics]:
    """Wall seconds, images trained and the last epoch's metrics of a whole run."""
    started = time.perf_counter()
    trainer = make()
    last = None
    for event in trainer.events():
        if isinstance(event, EpochMetrics):
            last = event
    synchronize(str(trainer.device))
    assert last is not None
    return time.perf_counter() - started, trainer.step * trainer.config.batch_size, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=300, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=50, help="untimed steps first (compilation happens here)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--train-subset", type=int, default=None, help="for a dry run: the first N images")
    parser.add_argument("--test-subset", type=int, default=None)
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("no CUDA device here; this benchmark is for a GPU machine (--device cpu for a dry run)")

    train: MNISTSplit = load_mnist("train", download=False)
    test: MNISTSplit = load_mnist("test", download=False)
    print(describe_cpu())
    print(f"torch {torch.__version__} on {device_name(args.device)}; seed preset, batch 100, {args.epochs} epochs")
    print(f"{'variant':<10} {'warm-up s':>9} {'ms/step':>8} {'images/s':>9} {'run s':>7} {'run img/s':>9} {'test':>7}")
    for variant in args.variants:

        def make(variant: str = variant) -> Trainer:
            trainer = Trainer(config_for(variant, args), train, test)
            prepare(trainer, variant)
            return trainer

        try:
            warm, ms = per_step(make, args.steps, args.warmup)
            seconds, images, last = end_to_end(make)
        except Exception as err:  # a variant this torch or device cannot run: say so, go on
            print(f"{variant:<10} failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
            continue
        print(
            f"{variant:<10} {warm:9.1f} {ms:8.3f} {100_000 / ms:9.0f} {seconds:7.1f} {images / seconds:9.0f} "
            f"{last.test:7.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
