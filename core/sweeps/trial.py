"""The body of one trial, run inside a Ray worker: train on the data the driver put into Ray's
object store, report progress to the sweep's board, stop when the board says so, and hand the
run's record and weights back to the driver, which writes them into the server's run store
(the worker's disk is never used)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from core.data import MNISTSplit
from core.runtime.jobs import Status
from core.sweeps.grid import Trial

REPORT_SECONDS = 0.5  # how often a trial reports its steps and checks for a stop


def run_trial(trial: Trial, train: MNISTSplit, test: MNISTSplit, board: Any) -> dict:
    """One trial, inside a Ray worker: train with one thread, report; returns how it ended with
    its weights and `checkpoint_metadata` (None and {} when it took no step).

    One torch thread on one Ray CPU, whatever $GUMBEL_LAB_THREADS says (`core.runtime.threads`):
    trials x threads then never exceed the cores Ray was given, and a trial has no thread pool to
    wait for a core another process holds. Several one-thread trials use cores better than
    threads inside one trial (`benchmarks.sweep_speedup`). On a node with a GPU for it, it
    trains on CUDA."""
    import ray
    import torch

    from core.runtime.device import device_name
    from core.store.checkpoints import pack_weights
    from core.sweeps.ray_backend import node_description
    from core.training.loop import EpochMetrics, StepMetrics, Trainer
    from core.training.record import checkpoint_metadata, describe

    torch.set_num_threads(1)
    config = replace(trial.config, device="cuda") if ray.get_gpu_ids() else trial.config
    trainer = Trainer(config, train, test)
    started = time.perf_counter()
    begin = {"description": describe(trainer), "node": node_description(device_name(config.device))}
    board.report.remote(trial.name, {"status": Status.RUNNING, "total_steps": trainer.total_steps, "begin": begin})
    epochs: list[EpochMetrics] = []
    smoothed: float | None = None
    last_report = time.perf_counter()
    plotted = 0  # the step of the curve's last point
    status = Status.FINISHED
    for event in trainer.events():
        if isinstance(event, StepMetrics):
            smoothed = event.relaxed if smoothed is None else 0.9 * smoothed + 0.1 * event.relaxed
            now = time.perf_counter()
            if now - last_report < REPORT_SECONDS:
                continue
            update = {"step": event.step, "epoch": event.epoch, "relaxed": smoothed, "unrelaxed": event.unrelaxed}
            board.report.remote(trial.name, update | {"points": [(event.step, smoothed)], "elapsed": now - started})
            plotted, last_report = event.step, now
            if ray.get(board.stopped.remote()):
                status = Status.STOPPED
                break
        else:
            epochs.append(event)
            # Every report that moves the step also extends the curve: a short epoch may end
            # before the first timed report.
            point = [(event.step, smoothed)] if smoothed is not None and event.step > plotted else []
            board.report.remote(
                trial.name,
                {
                    "step": event.step,
                    "epoch": event.epoch,
                    "test": event.test,
                    "epochs": [e.__dict__ for e in epochs],
                    "points": point,
                    "elapsed": time.perf_counter() - started,
                },
            )
            plotted = max(plotted, event.step)
    took_a_step = trainer.step > 0
    return {
        "status": status,
        "step": trainer.step,
        "elapsed": time.perf_counter() - started,
        "test": epochs[-1].test if epochs else None,
        "weights": pack_weights(trainer.model) if took_a_step else None,
        "metadata": checkpoint_metadata(trainer, epochs) if took_a_step else {},
        "node": begin["node"],
    }
