"""A Train-page run on a Ray cluster: the same `LiveRun` a page watches, trained by a Ray actor
on a cluster node (on a GPU when the cluster has them) instead of a local process.

Everything travels through Ray, nothing through a shared disk: the data goes out once through
Ray's object store (`put_once`), the actor (`RemoteTraining`) keeps what it reports in an
outbox the server empties every POLL_SECONDS and takes pause / resume / stop / τ and
learning-rate changes as method calls, and when the run ends it hands back the checkpoint's
bytes and metadata, which the server writes into its own run store (`RunRecorder.save`). The
record names the node that trained it. A node that dies, or an actor that does, fails the
run with Ray's reason, and the run's slot is freed like any other's.

Ray is imported only when such a run starts; nothing starts Ray before."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import asdict, replace
from typing import Any, Unpack

from core.data import MNISTSplit
from core.runtime.jobs import Status
from core.sweeps.ray_backend import cluster_gpus, ensure_ray, node_description, put_once, ray_address, ray_error
from core.training.config import TrainConfig
from core.training.live import POLL_SECONDS, LiveRun, RunOptions
from core.training.record import RunRecorder

STOP_GRACE_SECONDS = 30.0  # a stopped run that has not saved and ended by then is killed, unsaved


def lost_reason(err: BaseException) -> str:
    """Why Ray says a worker is gone: an actor's death says so on its last line ("The actor died
    because its node has died..."); a result lost with its node says only what was lost."""
    import ray

    if isinstance(err, ray.exceptions.RayActorError):
        lines = [line for line in str(err).strip().splitlines() if line.strip()]
        return lines[-1].strip() if lines else type(err).__name__
    return f"{type(err).__name__}: its node went down"


class RemoteTraining:
    """The actor's body: `train` runs in one of the actor's two threads while the other answers
    the server's `take` and `control` calls; it is also the reporter's `Controls`."""

    def __init__(self) -> None:
        self._outbox: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self._changes: queue.SimpleQueue[tuple[str, float]] = queue.SimpleQueue()

    def train(self, config: TrainConfig, train: MNISTSplit, test: MNISTSplit, preview_x: Any) -> dict:
        """Train to the end or a stop; returns the status, the checkpoint's bytes and metadata."""
        import ray
        import torch

        from core.runtime.device import device_name
        from core.store.checkpoints import pack_weights
        from core.training.loop import Trainer
        from core.training.record import checkpoint_metadata, describe
        from core.training.reporter import report_training

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
        torch.set_num_threads(max(1, int(cpus)))
        config = replace(config, device="cuda" if ray.get_gpu_ids() else "cpu")  # this node's, not the server's
        trainer = Trainer(config, train, test)
        self._send(("begin", describe(trainer), node_description(device_name(config.device))))
        status, epochs = report_training(trainer, trainer.events(), preview_x, self._send, self)
        if trainer.step == 0:
            return {"status": status, "weights": None, "metadata": {}}
        metadata = checkpoint_metadata(trainer, epochs)
        return {"status": status, "weights": pack_weights(trainer.model), "metadata": metadata}

    def take(self) -> list[tuple[Any, ...]]:
        """Everything reported since the last take, oldest first."""
        with self._lock:
            out, self._outbox = self._outbox, []
        return out

    def control(self, what: str, value: float | None = None) -> None:
        if what == "stop":
            self._stop.set()
            self._resume.set()
        elif what == "pause":
            self._resume.clear()
        elif what == "resume":
            self._resume.set()
        elif value is not None:  # "tau" or "lr"
            self._changes.put((what, value))

    # --- Controls (core.training.reporter), read by `train` between steps -------------------

    def stopped(self) -> bool:
        return self._stop.is_set()

    def paused(self) -> bool:
        return not self._resume.is_set()

    def wait_while_paused(self) -> None:
        self._resume.wait()

    def changes(self) -> list[tuple[str, float]]:
        made = []
        while not self._changes.empty():
            made.append(self._changes.get())
        return made

    def _send(self, message: tuple[Any, ...]) -> None:
        with self._lock:
            self._outbox.append(message)


def _shared(split: MNISTSplit, n: int | None) -> Any:
    """The first `n` examples of `split` in Ray's object store, once for every run on them."""

    def first() -> MNISTSplit:
        part = split.subset(n)  # a view: cloned, or the whole split's storage would travel
        return MNISTSplit(part.images.clone(), part.labels.clone())

    return put_once(("split", id(split), n), first, keep=split)


class RayTrainingRun(LiveRun):
    """A training run on a Ray cluster ($RAY_ADDRESS, or `address`), watched like a local one.

    Once the run has its slot, this object's thread joins Ray (`ensure_ray`), starts a
    `RemoteTraining` actor with one CPU (and one GPU where the cluster has them), relays the
    page's controls to it and applies what it reports. The server writes the record: when the
    actor reports its start (with the node it runs on), after every epoch, and at the end with
    the weights the actor hands back."""

    def __init__(
        self,
        config: TrainConfig,
        train: MNISTSplit,
        test: MNISTSplit,
        *,
        address: str | None = None,
        preview_digits: int = 8,
        **options: Unpack[RunOptions],
    ) -> None:
        events = threading.Event(), threading.Event()
        super().__init__(config, train_images=len(train), stop_flag=events[0], resume_flag=events[1], **options)
        self.address = ray_address(address)
        self._inputs: tuple[MNISTSplit, MNISTSplit, Any] | None = (
            train,
            test,
            test.subset(config.test_subset).pixels()[:preview_digits],
        )
        self._changes_out: queue.SimpleQueue[tuple[str, float]] = queue.SimpleQueue()
        path = self.record_path
        self._recorder = RunRecorder(path, {"name": self.name, **self.metadata}) if path else None

    def _send_change(self, name: str, value: float) -> None:
        self._changes_out.put((name, value))

    def _close(self) -> None:
        self._inputs = None

    def _train(self) -> None:
        import ray

        lost = (  # the worker, its node, or what it had sent are gone
            ray.exceptions.RayActorError,
            ray.exceptions.ObjectLostError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.WorkerCrashedError,
        )
        actor: Any = None
        try:
            try:
                ensure_ray(self.address)
            except Exception as err:
                self._failed(f"could not reach Ray ({ray_error(err)})")
                return
            gpus = 1 if cluster_gpus() > 0 else 0
            options = {"max_concurrency": 2, "max_restarts": 0, "num_cpus": 1, "num_gpus": gpus}
            actor = ray.remote(RemoteTraining).options(**options).remote()
            assert self._inputs is not None
            train, test, preview_x = self._inputs
            result = actor.train.remote(
                self.config, _shared(train, self.config.train_subset), _shared(test, None), preview_x
            )
            self._inputs = None
            self._watch(actor, result)
        except lost as err:
            self._failed(f"the Ray worker training it was lost ({lost_reason(err)})")
        except Exception as err:  # the training itself raised (a RayTaskError), or Ray did
            self._failed(ray_error(err))
        finally:
            if actor is not None:
                ray.kill(actor)

    def _watch(self, actor: Any, result: Any) -> None:
        """Relay controls and apply reports until the actor's `train` returns, then save."""
        import ray

        take = actor.take.remote()
        paused_sent, stop_sent_at = False, None
        while True:
            finished, _ = ray.wait([result], timeout=POLL_SECONDS)
            self._check_abandoned()
            if self._stop_asked.is_set() and stop_sent_at is None:
                if self._step == 0:  # nothing trained to save (the actor may not even be placed yet)
                    self._end_unsaved(Status.STOPPED, "stopped before its first step; nothing to save")
                    return
                actor.control.remote("stop")
                stop_sent_at = time.perf_counter()
            elif stop_sent_at is not None and time.perf_counter() - stop_sent_at > STOP_GRACE_SECONDS:
                ray.kill(actor)
                self._end_unsaved(Status.STOPPED, "force-stopped: it did not stop within the grace period")
                return
            paused = not self._resume.is_set()
            if paused != paused_sent:
                actor.control.remote("pause" if paused else "resume")
                paused_sent = paused
            while not self._changes_out.empty():
                actor.control.remote(*self._changes_out.get())
            if finished or ray.wait([take], timeout=0)[0]:
                self._receive(ray.get(take))
                take = actor.take.remote()
            if finished:
                break
        self._receive(ray.get(take))  # what it sent just before it returned
        self._save(ray.get(result))

    def _receive(self, messages: list[tuple[Any, ...]]) -> None:
        for message in messages:
            if message[0] == "begin":
                _, description, node = message
                if self._recorder:
                    self._recorder.metadata |= {"node": node, "device": node["device"]}
                    self._recorder.begin(description)
                self._apply(("where", f"Ray node {node['address']} ({node['host']})"))
                continue
            self._apply(message)
            if message[0] == "epoch" and self._recorder:
                self._recorder.progress([asdict(e) for e in self._epochs])

    def _save(self, result: dict) -> None:
        status = Status(result["status"])
        saved = self._recorder.save(result["weights"], result["metadata"], status) if self._recorder else None
        if self._recorder and self._recorder.notices:
            self._apply(("notices", self._recorder.notices))
        self._apply(("end", status, saved))

    def _end_unsaved(self, status: Status, error: str) -> None:
        if self._recorder:
            self._recorder.store.close(self._recorder.path, status, error=error)
        self._apply(("end", status, None))

    def _failed(self, error: str) -> None:
        if self._recorder:
            self._recorder.fail(error)
        self._fail(error)
