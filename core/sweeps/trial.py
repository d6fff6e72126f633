"""The body of one trial, run inside a Ray worker: train, report progress to the sweep's board,
stop when the board says so, and record the run in the store like any other run."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

from core.runtime.jobs import Status
from core.store.runs import RunStore
from core.sweeps.grid import Trial

REPORT_SECONDS = 0.5  # how often a trial reports its steps and checks for a stop


def run_trial(trial: Trial, path: str, metadata: dict, data_root: str | None, board: Any, store: RunStore) -> dict:
    """One trial, inside a Ray worker: train with one thread, report, record in the store.

    One torch thread on one Ray CPU, whatever $GUMBEL_LAB_THREADS says (`core.runtime.threads`):
    trials x threads then never exceed the cores Ray was given, and a trial has no thread pool to
    wait for a core another process holds. Several one-thread trials use cores better than
    threads inside one trial (`benchmarks.sweep_speedup`)."""
    import ray
    import torch

    from core.data import load_mnist
    from core.training.loop import EpochMetrics, StepMetrics, Trainer
    from core.training.record import RunRecorder

    torch.set_num_threads(1)
    recorder = RunRecorder(Path(path), metadata | {"host": socket.gethostname()}, store)
    try:
        trainer = Trainer(trial.config, load_mnist("train", data_root), load_mnist("test", data_root))
        recorder.start(trainer)
        started = time.perf_counter()
        board.report.remote(trial.name, {"status": Status.RUNNING, "total_steps": trainer.total_steps})
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
                recorder.epoch(trainer, epochs)
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
        saved = recorder.end(trainer, epochs, status)
        final = {"step": trainer.step, "elapsed": time.perf_counter() - started, "status": status}
        test = epochs[-1].test if epochs else None
        return final | {"path": str(saved) if saved else None, "test": test, "notices": recorder.notices}
    except Exception as err:
        recorder.fail(f"{type(err).__name__}: {err}")
        raise
