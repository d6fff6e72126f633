"""Where a sweep's trials (and a cluster's Train-page runs, `core.training.remote`) run: Ray,
started lazily on first use, and the small actor (`Board`) through which trials report
progress and learn that the sweep was stopped.

Locally Ray is sized to the machine's cores (`ray.init(num_cpus=os.cpu_count(),
include_dashboard=False, ...)`) and listens on 127.0.0.1 only, unless $GUMBEL_LAB_RAY_HOST names
the machine's address for other machines to join it; with RAY_ADDRESS (or `address=`) set it joins
that cluster, shipping this repository as the trials' working directory. `simulated_cluster`
starts several nodes on this machine (tests, benchmarks), on the same address."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import threading
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any

LOCAL_OBJECT_STORE_BYTES = 100 * 1024 * 1024
REPO = Path(__file__).resolve().parent.parent.parent
RAY_HOST_ENV = "GUMBEL_LAB_RAY_HOST"
LOOPBACK = "127.0.0.1"

_ray_lock = threading.Lock()


def ray_address(address: str | None = None) -> str | None:
    """The cluster to use: `address`, else $RAY_ADDRESS, else None (a local Ray)."""
    return address or os.environ.get("RAY_ADDRESS") or None


def ray_host() -> str:
    """The address the Ray this process starts listens on: 127.0.0.1 (this machine only) unless
    $GUMBEL_LAB_RAY_HOST gives this machine's address on a network, for other machines to join."""
    raw = (os.environ.get(RAY_HOST_ENV) or "").strip()
    if not raw:
        return LOOPBACK
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        raise ValueError(
            f"{RAY_HOST_ENV}={raw!r} is not an IP address: leave it unset to keep Ray on {LOOPBACK}, "
            "or set it to this machine's address on the network its worker nodes reach (such as 10.0.0.5)."
        ) from None
    return LOOPBACK if address.is_loopback else str(address)


def is_loopback(address: str) -> bool:
    """Whether a Ray address ("127.0.0.1:6379", "localhost", "10.0.0.5:6379") is this machine's loopback."""
    if "://" in address:  # ray://: Ray Client, which does not go through Ray's address rewriting
        return False
    if address.startswith("["):  # [::1]:6379
        host = address[1 : address.find("]")]
    else:  # 127.0.0.1:6379, localhost, ::1
        host = address.rsplit(":", 1)[0] if address.count(":") == 1 else address
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def loopback_kept(keep: bool = True) -> Iterator[None]:
    """While Ray starts or connects, keep a loopback address loopback.

    On Linux `ray.init` replaces 127.0.0.1 — as `_node_ip_address`, and as the host of an address
    like 127.0.0.1:6379 — by the machine's network address (`ray._private.services.
    resolve_ip_for_localhost`), and Ray's servers then listen on every interface: they listen on
    127.0.0.1 alone only when the node's address is 127.0.0.1. Ray keeps loopback where its
    multi-node clusters are switched off (`ray_constants.ENABLE_RAY_CLUSTER`, off on Windows and
    macOS), so it is off for the start, and restored after it."""
    if not keep:
        yield
        return
    from ray._private import ray_constants

    previous = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = previous


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
        with loopback_kept(is_loopback(address)):  # a cluster on this machine's loopback (simulated_cluster)
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        return
    host = ray_host()
    with loopback_kept(host == LOOPBACK):
        ray.init(
            address="local",  # a Ray of our own, even when another local one runs beside it
            _node_ip_address=host,
            num_cpus=os.cpu_count() or 1,
            include_dashboard=False,
            object_store_memory=LOCAL_OBJECT_STORE_BYTES,
            log_to_driver=False,
            configure_logging=False,
            runtime_env={"env_vars": {"PYTHONPATH": repo, "OMP_NUM_THREADS": "1"}},
        )


# A simulated cluster's head checks its nodes every half second: a killed node is noticed within ~1.5 s.
HEALTH_CHECK = {"health_check_period_ms": 500, "health_check_failure_threshold": 3, "health_check_initial_delay_ms": 0}


def simulated_cluster(
    nodes: int = 2,
    cpus_per_node: int = 1,
    *,
    head_cpus: int | None = None,
    worker_env: dict[str, str] | None = None,
    **node_args: Any,
) -> Any:
    """A Ray cluster of `nodes` nodes on this machine (`ray.cluster_utils.Cluster`, for tests and
    benchmarks), every node on `ray_host()` (127.0.0.1 unless $GUMBEL_LAB_RAY_HOST says otherwise)
    and without a dashboard; join it with `ensure_ray(cluster.address)`, end it with `shutdown()`.
    The first node is the head: `head_cpus=0` keeps every task off it, so work lands on the other
    nodes, whose environment gains `worker_env` (a runs folder of their own, say); a killed node
    (`cluster.remove_node(node, allow_graceful=False)`) is noticed within about 1.5 s.
    `node_args` go to every node (`resources=`, `temp_dir=`, ...)."""
    if nodes < 1 or cpus_per_node < 1:
        raise ValueError(f"a cluster needs at least one node of one CPU, not {nodes} of {cpus_per_node}.")
    if head_cpus is not None and head_cpus < 0:
        raise ValueError(f"a head node has 0 or more CPUs, not {head_cpus}.")
    from ray.cluster_utils import Cluster

    host = ray_host()
    with loopback_kept(host == LOOPBACK):
        cluster = Cluster()
        for index in range(nodes):
            head = index == 0
            cluster.add_node(
                node_ip_address=host,
                num_cpus=cpus_per_node if not head or head_cpus is None else head_cpus,
                include_dashboard=False,
                **({"_system_config": HEALTH_CHECK} if head else {"env_vars": worker_env or {}}),
                **node_args,
            )
    return cluster


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
