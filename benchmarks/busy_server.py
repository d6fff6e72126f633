"""Two live training runs beside a busy page server (issue 16): images/s alone against busy.

    python -m benchmarks.busy_server [--alone S] [--busy S] [--pages N] [--every S]

What the server does when three visitors train at once, in one process: two runs of the
Train page's `data=tiny` setting (the reference script's model, batch 100) train while `--pages` page
threads each rerun the live area every `--every` seconds, as the fragment does: a snapshot,
the curves, the two plotly figures built and serialised, the preview figures, then the full
garbage collection Streamlit runs after every script run when `runner.postScriptGC` is on
(the shipped .streamlit/config.toml turns it off; `--post-script-gc` turns it back on).
Each run trains alone for `--alone` seconds (the baseline), then both train beside the pages
for `--busy` seconds, then each alone again: the baseline is the mean of the two, as other
work on the machine drifts.

It prints each run's images/s alone and busy, their ratio, and the longest time a run's
step counter, as its page sees it, did not move while busy (from the run's start). Local only: no server, no network.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field

import plotly.io as pio
import torch
from streamlit import config as streamlit_config

from core.data import load_mnist
from core.figures.training import diagnostics_figure, objectives_figure, prior_samples_figure, reconstructions_figure
from core.runtime.device import describe_cpu
from core.training.config import TrainConfig
from core.training.curves import training_curves
from core.training.run import TrainingRun

SETTLE = 3.0  # seconds: the first epoch and the run's start are not its speed


@dataclass
class Trace:
    """A run's step counter as a page sees it, sampled over time."""

    times: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)

    def images_per_second(self, batch: int) -> float:
        """Steps from SETTLE seconds after the first step to the end, in images per second."""
        moving = [i for i, s in enumerate(self.steps) if s > 0]
        if not moving:
            return 0.0
        begin = next((i for i in moving if self.times[i] >= self.times[moving[0]] + SETTLE), moving[0])
        seconds = self.times[-1] - self.times[begin]
        return (self.steps[-1] - self.steps[begin]) * batch / seconds if seconds > 0 else 0.0

    def longest_stall(self) -> float:
        """The longest stretch in which the step counter did not move, its start-up included."""
        longest, since = 0.0, self.times[0]
        for t, step, previous in zip(self.times[1:], self.steps[1:], self.steps[:-1]):
            if step != previous:
                since = t
            longest = max(longest, t - since)
        return longest


def config(seed: int) -> TrainConfig:
    """The Train page's `data=tiny` run, long enough never to end by itself."""
    return TrainConfig(epochs=100_000, seed=seed, train_subset=1000, test_subset=500)


def watch(runs: list[TrainingRun], seconds: float) -> list[Trace]:
    """Sample each run's step every 50 ms for `seconds`."""
    traces = [Trace() for _ in runs]
    deadline = time.perf_counter() + seconds
    while (now := time.perf_counter()) < deadline:
        for run, trace in zip(runs, traces):
            trace.times.append(now)
            trace.steps.append(run.snapshot().step)
        time.sleep(0.05)
    return traces


def page(run: TrainingRun, every: float, collect: bool, stop: threading.Event) -> None:
    """One visitor's live area: rerun every `every` seconds until told to stop."""
    while not stop.is_set():
        began = time.perf_counter()
        snap = run.snapshot()
        if snap.steps:
            curves = training_curves(snap.steps)
            pio.to_json(objectives_figure(curves, snap.epochs, snap.total_steps, revision=run.name))
            pio.to_json(diagnostics_figure(curves, snap.total_steps, revision=run.name))
        if snap.preview is not None:
            pio.to_json(reconstructions_figure(snap.preview))
            pio.to_json(prior_samples_figure(snap.preview))
        if collect:
            gc.collect(2)
        stop.wait(max(0.0, every - (time.perf_counter() - began)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alone", type=float, default=10.0, help="seconds each run trains alone, twice")
    parser.add_argument("--busy", type=float, default=30.0, help="seconds both train beside the pages")
    parser.add_argument("--pages", type=int, default=6, help="page threads rerunning the live area")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between a page's reruns")
    parser.add_argument(
        "--post-script-gc",
        action=argparse.BooleanOptionalAction,
        default=streamlit_config.get_option("runner.postScriptGC"),
        help="a full garbage collection after each rerun (default: as .streamlit/config.toml says)",
    )
    args = parser.parse_args()
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # as app.py leaves a core for the page
    train, test = load_mnist("train", download=False), load_mnist("test", download=False)
    batch = config(0).batch_size
    print(describe_cpu())
    print(f"{args.pages} pages every {args.every:g} s, post-script GC {'on' if args.post_script_gc else 'off'}")

    with tempfile.TemporaryDirectory() as folder:

        def start(seed: int) -> TrainingRun:
            return TrainingRun(config(seed), train, test, checkpoint_dir=folder, name=f"run{seed}").start()

        def end(runs: list[TrainingRun]) -> None:
            for run in runs:
                run.stop()
            for run in runs:
                run.join(60)

        def alone() -> list[float]:
            speeds = []
            for seed in (1, 2):
                run = start(seed)
                speeds.append(watch([run], args.alone)[0].images_per_second(batch))
                end([run])
            return speeds

        before = alone()
        runs = [start(1), start(2)]
        stop = threading.Event()
        work = (args.every, args.post_script_gc, stop)
        pages = [threading.Thread(target=page, args=(runs[i % 2], *work), daemon=True) for i in range(args.pages)]
        for thread in pages:
            thread.start()
        traces = watch(runs, args.busy)
        stop.set()
        for thread in pages:
            thread.join()
        end(runs)
        after = alone()

    print(f"{'run':<6}{'alone img/s':>13}{'busy img/s':>12}{'ratio':>8}{'longest stall':>15}")
    for seed, first, last, trace in zip((1, 2), before, after, traces):
        solo = (first + last) / 2
        busy = trace.images_per_second(batch)
        ratio = busy / solo if solo else 0.0
        print(f"run{seed:<3}{solo:>13,.0f}{busy:>12,.0f}{ratio:>8.0%}{trace.longest_stall():>13.1f} s")


if __name__ == "__main__":
    main()
