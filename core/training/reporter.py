"""The training loop as a live run sees it, wherever the run trains: steps sent in batches,
an epoch's metrics with its preview images, τ and learning-rate changes applied between
steps, pause and stop honoured between steps. The local process (`core.training.run`) and
the Ray actor (`core.training.remote`) run this same function; only how a message travels
(a pipe, an actor's outbox) and where the controls come from differ.

Messages are tuples `(kind, *payload)`, which `core.training.live.LiveRun` applies:
("total", steps, precision described), ("steps", [StepMetrics]), ("epoch", EpochMetrics, (originals,
reconstructions, prior samples) as numpy arrays), ("change", Change)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from core.runtime.jobs import Status
from core.training.live import FLUSH_SECONDS, make_preview
from core.training.loop import EpochMetrics, StepMetrics, Trainer

Send = Callable[[tuple[Any, ...]], None]


class Controls(Protocol):
    """What the page asked of the run, as the training side sees it between steps."""

    def stopped(self) -> bool:
        """Stop now (asked to, or the server that watches the run has gone)."""
        ...

    def paused(self) -> bool: ...

    def wait_while_paused(self) -> None:
        """Return once resumed or stopped."""
        ...

    def changes(self) -> list[tuple[str, float]]:
        """The τ and learning-rate values asked for since the last call, oldest first."""
        ...


def report_training(
    trainer: Trainer,
    events: Iterable[StepMetrics | EpochMetrics],
    preview_x: Any,
    send: Send,
    controls: Controls,
    on_epoch: Callable[[list[EpochMetrics]], None] | None = None,
) -> tuple[Status, list[EpochMetrics]]:
    """Drive `events` (the trainer's, perhaps wrapped) to the end or a stop, sending what a page
    draws; returns how it ended and every epoch's metrics. `on_epoch` runs after each epoch
    (a local run records it in the store there)."""
    send(("total", trainer.total_steps, trainer.precision_choice.describe()))
    epochs: list[EpochMetrics] = []
    pending: list[StepMetrics] = []
    flushed = time.perf_counter()

    def flush() -> None:
        nonlocal pending, flushed
        if pending:
            send(("steps", pending))
        pending, flushed = [], time.perf_counter()

    for event in events:
        if isinstance(event, StepMetrics):
            pending.append(event)
            if time.perf_counter() - flushed >= FLUSH_SECONDS:
                flush()
        else:
            flush()
            epochs.append(event)
            if on_epoch is not None:
                on_epoch(epochs)
            preview = make_preview(trainer.model, preview_x, event.epoch, seed=trainer.config.stream_seed("preview"))
            images = (preview.originals, preview.reconstructions, preview.prior_samples)
            send(("epoch", event, tuple(t.numpy() for t in images)))
        for name, value in controls.changes():
            flush()  # the steps before it first, so the page sees them in order
            send(("change", trainer.change(name, value)))
        if controls.paused():
            flush()
            controls.wait_while_paused()
        if controls.stopped():
            break
    flush()
    return (Status.STOPPED if controls.stopped() else Status.FINISHED), epochs
