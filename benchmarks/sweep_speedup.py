"""A 4-trial sweep on local Ray against the same 4 runs one after another in this process.

    python -m benchmarks.sweep_speedup [--epochs N] [--data tiny|demo]

The grid is τ ∈ {0.5, 1} × {Gumbel-Softmax, straight-through} on the tiny subset (1k / 500
images, 20 epochs = 200 steps a trial by default). Baseline, after loading MNIST and a warm-up:
the four `Trainer.events()` loops back to back in this process, with one torch thread (a
trial's own setting) and with torch on all cores (what a single process would do). Ray:
`SweepRun` with one trial per core, timed cold (its first sweep starts Ray) and warm (a second
sweep on the running Ray). Prints each wall time and the ratios, with the core count.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace

import torch

from core.data import load_mnist
from core.runtime.device import describe_cpu
from core.runtime.jobs import Status
from core.store.runs import RunStore
from core.sweeps.driver import SweepRun
from core.sweeps.grid import SUBSETS, expand_grid
from core.training.loop import Trainer


def sequential(trials, threads: int) -> float:
    torch.set_num_threads(threads)
    train, test = load_mnist("train"), load_mnist("test")
    for _ in Trainer(replace(trials[0].config, max_steps=5), train, test).events():  # warm up
        pass
    started = time.perf_counter()
    for trial in trials:
        for _ in Trainer(trial.config, train, test).events():
            pass
    return time.perf_counter() - started


def on_ray(trials, store: RunStore, name: str) -> float:
    started = time.perf_counter()
    sweep = SweepRun(trials, name, store=store, parallel=os.cpu_count())
    sweep.start().join()
    snap = sweep.snapshot()
    if snap.error or snap.count(Status.FINISHED) != len(trials):
        raise RuntimeError(f"the sweep did not finish: {snap.error or [t.status for t in snap.trials]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--data", choices=["tiny", "demo"], default="tiny")
    args = parser.parse_args()
    train_subset, test_subset = SUBSETS[args.data]
    fixed = {"epochs": args.epochs, "train_subset": train_subset, "test_subset": test_subset}
    trials = expand_grid({"tau": [0.5, 1.0], "estimator": ["gumbel_softmax", "straight_through"]}, fixed)
    cores = os.cpu_count() or 1
    print(describe_cpu())
    print(f"{len(trials)} trials, {args.epochs} epochs on {args.data}; {cores} cores")
    with tempfile.TemporaryDirectory() as root:
        store = RunStore(root)
        single = sequential(trials, 1)
        print(f"one after another, 1 torch thread:    {single:6.1f} s")
        one_after_another = sequential(trials, cores)
        print(f"one after another, {cores} torch threads:   {one_after_another:6.1f} s")
        cold = on_ray(trials, store, "cold")
        print(f"local Ray, first sweep (starts Ray):  {cold:6.1f} s")
        warm = on_ray(trials, store, "warm")
        print(f"local Ray, second sweep (warm):       {warm:6.1f} s")
    print(
        f"ratio sequential/Ray on {cores} cores: {one_after_another / warm:.2f}x warm, "
        f"{one_after_another / cold:.2f}x including Ray's start "
        f"(against 1-thread sequential: {single / warm:.2f}x warm)"
    )


if __name__ == "__main__":
    main()
