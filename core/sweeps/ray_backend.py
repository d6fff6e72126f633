"""Where a sweep's trials (and a cluster's Train-page runs, `core.training.remote`) run: Ray,
started lazily on first use, and the small actor (`Board`) through which trials report
progress and learn that the sweep was stopped.

Locally Ray is sized to the machine's cores (`ray.init(num_cpus=os.cpu_count(),
include_dashboard=False, ...)`); with RAY_ADDRESS (or `address=`) set it joins that cluster,
shipping this repository as the trials' working directory."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

LOCAL_OBJECT_STORE_BYTES = 100 * 1024 * 1024
REPO = Path(__file__).resolve().parent.parent.parent

_ray_lock = threading.Lock()


def ray_address(address: str | None = None) -> str | None:
    """The cluster to use: `address`, else $RAY_ADDRESS, else None (a local Ray)."""
    return address or os.environ.get("RAY_ADDRESS") or None


def ensure_ray(address: str | None = None) -> str:
    """Start (or join) Ray on first use; returns where trials run, in words.

    Ray's local processes die with the *thread* that started them (a parent-death signal is
    tied to the forking thread), and a page's script thread or a sweep's driver thread ends;
    so Ray is started from a thread of its own that lives as long as the process."""
    import ray

    address = ray_address(address)
    with _ray_lock:
        if not ray.is_initialized():
            outcome: list[BaseException | None] = []
            ready = threading.Event()

            def host() -> None:
                try:
                    _init_ray(address)
                    outcome.append(None)
                except BaseException as err:
                    outcome.append(err)
                ready.set()
                threading.Event().wait()  # keep this thread, and Ray with it, for the process's life

            threading.Thread(target=host, name="ray-host", daemon=True).start()
            ready.wait()
            if outcome[0] is not None:
                raise outcome[0]
    resources = ray.cluster_resources()
    cpus, gpus = int(resources.get("CPU", 0)), int(resources.get("GPU", 0))
    kind = f"Ray cluster at {address}" if address else "local Ray"
    return f"{kind}, {cpus} CPU(s)" + (f", {gpus} GPU(s)" if gpus else "")


def _init_ray(address: str | None) -> None:
    import ray

    repo = str(REPO)
    if address:
        runtime_env = {"working_dir": repo, "excludes": ["runs", "data", "artifacts", ".git", "*.pt"]}
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        return
    ray.init(
        address="local",  # a Ray of our own, even when another local one runs beside it
        num_cpus=os.cpu_count() or 1,
        include_dashboard=False,
        object_store_memory=LOCAL_OBJECT_STORE_BYTES,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"PYTHONPATH": repo, "OMP_NUM_THREADS": "1"}},
    )


def node_description(device: str) -> dict:
    """Which Ray node this worker runs on, for a run's record: its id, address and host, and the
    device the run trains on there."""
    import socket

    import ray

    return {
        "id": ray.get_runtime_context().get_node_id(),
        "address": ray.util.get_node_ip_address(),
        "host": socket.gethostname(),
        "device": device,
    }


class _PutOnce:
    """Object references by key, for the Ray session they were put in."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.session: tuple[str, str] | None = None
        self.refs: dict[Hashable, tuple[Any, object]] = {}  # key -> (reference, what keeps the key's meaning)


_put_once = _PutOnce()


def put_once(key: Hashable, make: Callable[[], Any], keep: object = None) -> Any:
    """`make()` put into Ray's object store once per Ray session, shared by every task that
    reads it (a run's data travels to the cluster this way, never through a shared disk).
    `keep` is held as long as the object, for a key made of an object's id."""
    import ray

    context = ray.get_runtime_context()
    session = (context.get_job_id(), context.get_node_id())  # a job id alone repeats in a new Ray
    cache = _put_once
    with cache.lock:
        if cache.session != session:  # Ray was restarted: the old references are void
            cache.refs.clear()
            cache.session = session
        if key not in cache.refs:
            cache.refs[key] = (ray.put(make()), keep)
        return cache.refs[key][0]


def cluster_gpus() -> int:
    import ray

    return int(ray.cluster_resources().get("GPU", 0))


def board_class() -> Any:
    """The `Board` actor class, made on first use so that importing this module needs no Ray."""
    import ray

    @ray.remote(num_cpus=0)
    class Board:
        """Trials' live progress and the stop flag, shared by the driver and the trials."""

        def __init__(self) -> None:
            self.progress: dict[str, dict] = {}
            self.stop_asked = False

        def report(self, name: str, update: dict) -> None:
            entry = self.progress.setdefault(name, {"points": []})
            entry["points"].extend(update.pop("points", []))
            entry.update(update)

        def take(self) -> dict[str, dict]:
            """Everything new since the last take (points and a trial's start are handed over once)."""
            out = {name: dict(entry) for name, entry in self.progress.items()}
            for entry in self.progress.values():
                entry["points"] = []
                entry.pop("begin", None)
            return out

        def stop(self) -> None:
            self.stop_asked = True

        def stopped(self) -> bool:
            return self.stop_asked

    return Board


def ray_error(err: BaseException) -> str:
    """The trial's own error from a RayTaskError: its last line, not the whole traceback."""
    cause = getattr(err, "cause", None)
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__
