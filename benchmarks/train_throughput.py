"""Training throughput of our step against the textbook loop, and our sampler against torch's.

    python -m benchmarks.train_throughput [--steps N] [--warmup N] [--chunk N] [--threads N]

(a) ours: `core.training.Trainer.train_step` on batches of the full training set drawn by
    `core.data.batch_indices`, exactly as `Trainer.events()` runs them (its per-epoch test
    evaluation is left out), relaxed estimator, unrelaxed objective included.
(b) baseline, the common textbook way (`benchmarks.textbook`): torchvision MNIST + ToTensor
    through a shuffling DataLoader, the same network, torch.rand Gumbel-Softmax, sigmoid +
    binary_cross_entropy + KL, default Adam, then a second full forward pass without gradients
    on a hard one-hot sample for the unrelaxed objective, and `.item()` on both losses.
Both run batch 100 at tau 1 on one process, warmed up, timed in alternating chunks.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.busy_core import start_burner
from benchmarks.textbook import BATCH, TAU, textbook_loader, textbook_model, textbook_step
from core.data import batch_indices, load_mnist, resolve_data_root
from core.gumbel import gumbel_softmax
from core.runtime.device import PRECISIONS, describe_cpu
from core.runtime.threads import ThreadPolicy
from core.training.config import TrainConfig
from core.training.loop import Trainer


def our_steps(trainer: Trainer):
    """An endless stream of our training steps on the trainer's device, one per next()."""
    while True:
        for idx in batch_indices(trainer.x_train.shape[0], BATCH, generator=trainer.shuffle, device=trainer.device):
            yield trainer.train_step(trainer.batch(idx), TAU)


def baseline_steps(root: Path):
    """The textbook loop, one training step per next()."""
    loader = textbook_loader(root)
    model, optimizer = textbook_model()
    while True:
        for data, _ in loader:
            yield textbook_step(model, optimizer, data.view(-1, 784))


def run_for(steps, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        next(steps)
    return time.perf_counter() - started


def sampler_microseconds(sample, logits: torch.Tensor, calls: int = 100, repeats: int = 31) -> tuple[float, float]:
    """Median and fastest per-call time over repeats (the fastest shows the cost on a busy machine)."""
    for _ in range(calls):
        sample(logits)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            sample(logits)
        times.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="timed steps for each side")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps for each side first")
    parser.add_argument("--chunk", type=int, default=20, help="steps per side before switching")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads for both sides (default: ours follows core.runtime.threads' auto policy, "
        "the baseline torch's default of every core, as its users run it)",
    )
    parser.add_argument(
        "--competing-load",
        action="store_true",
        help="keep one core busy with another process throughout (bounded in time), as a browser would",
    )
    parser.add_argument(
        "--precision", choices=PRECISIONS, default="auto", help="our step's matrix products (the baseline: float32)"
    )
    args = parser.parse_args()
    if min(args.steps, args.warmup, args.chunk, args.threads or 1) < 1:
        parser.error("--steps, --warmup, --chunk and --threads must be at least 1")
    burner = start_burner() if args.competing_load else None
    try:
        measure(args)
    finally:
        if burner is not None:
            burner.terminate()


def measure(args: argparse.Namespace) -> None:
    policy = ThreadPolicy(args.threads)
    policy.start()  # loading the data is its first measuring interval
    baseline_threads = args.threads or torch.get_num_threads()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(describe_cpu())
    print(f"load average {load}")

    root = resolve_data_root()
    config = TrainConfig(epochs=1, batch_size=BATCH, precision=args.precision)
    trainer = Trainer(config, load_mnist("train", root), load_mnist("test", root))
    ours, baseline = our_steps(trainer), baseline_steps(root)
    policy.choose()
    run_for(ours, args.warmup)
    torch.set_num_threads(baseline_threads)
    run_for(baseline, args.warmup)

    seconds = {"ours": 0.0, "baseline": 0.0}
    used: list[int] = []
    done = 0
    while done < args.steps:
        n = min(args.chunk, args.steps - done)
        policy.recheck()
        torch.set_num_threads(policy.threads)
        used.append(policy.threads)
        seconds["ours"] += run_for(ours, n)
        torch.set_num_threads(baseline_threads)
        seconds["baseline"] += run_for(baseline, n)
        done += n

    rate = {k: args.steps * BATCH / v for k, v in seconds.items()}
    print(
        f"training step (precision {trainer.precision_choice.describe()}), batch {BATCH}, "
        f"{args.steps} timed steps each after {args.warmup} warm-up, alternating in chunks of {args.chunk}"
        f"{', one core kept busy by another process' if args.competing_load else ''}; torch threads: "
        f"ours {'/'.join(map(str, sorted(set(used))))} ({'fixed' if args.threads else 'auto policy'}), "
        f"baseline {baseline_threads}:"
    )
    for name, label in (("ours", "ours (Trainer)"), ("baseline", "textbook baseline")):
        print(f"  {label:<18} {rate[name]:8.0f} images/s  {1000 * seconds[name] / args.steps:7.2f} ms/step")
    print(f"  ratio ours / baseline: {rate['ours'] / rate['baseline']:.2f}x")

    logits = torch.randn(100, 30, 10, generator=torch.Generator().manual_seed(0))
    print("sampler on a 100x30x10 float32 batch, us per call, median (fastest) of 31 repeats of 100 calls:")
    for hard in (False, True):
        ours_us = sampler_microseconds(lambda z, hard=hard: gumbel_softmax(z, TAU, hard=hard), logits)
        torch_us = sampler_microseconds(lambda z, hard=hard: F.gumbel_softmax(z, tau=TAU, hard=hard), logits)
        print(
            f"  {'hard' if hard else 'soft'}: core.gumbel.gumbel_softmax {ours_us[0]:7.1f} ({ours_us[1]:6.1f}), "
            f"torch.nn.functional.gumbel_softmax {torch_us[0]:7.1f} ({torch_us[1]:6.1f}), "
            f"ratio torch / ours {torch_us[0] / ours_us[0]:.2f}x ({torch_us[1] / ours_us[1]:.2f}x)"
        )


if __name__ == "__main__":
    main()
