"""A Ray cluster simulated on this machine, for the tests and the benchmark of cluster runs
(`ray.cluster_utils.Cluster`): a head node with no CPUs, so every run and trial lands on a
worker node, and one worker node with its own processes and its own environment (a different
runs folder, say), all bound to 127.0.0.1 so nothing is offered to the network. Node deaths
are noticed within about a second (a tight health check), so a killed node fails its runs
promptly. The driver (this process) is connected to it on entry and disconnected on exit.

Ray rewrites a loopback address to the machine's network address before connecting unless told
this machine is not part of a multi-node cluster (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, read by
Ray at import); both are set for the cluster's life and put back after."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

LOOPBACK = "127.0.0.1"
SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
HEALTH_CHECK = {"health_check_period_ms": 500, "health_check_failure_threshold": 3, "health_check_initial_delay_ms": 0}


@dataclass(frozen=True)
class SimulatedCluster:
    address: str  # what RAY_ADDRESS would say
    cluster: Any  # the ray.cluster_utils.Cluster
    worker: Any  # the worker node (its `node_id`; `kill_worker` removes it)

    def kill_worker(self) -> None:
        """The worker node dies at once, as a machine that loses power: its processes are killed."""
        self.cluster.remove_node(self.worker, allow_graceful=False)


@contextmanager
def simulated_cluster(worker_cpus: int = 2, worker_env: dict[str, str] | None = None) -> Iterator[SimulatedCluster]:
    """A head node (no CPUs) and a worker node with `worker_cpus` CPUs and `worker_env` added to
    its environment, on loopback; yields once both are up, shuts Ray and the nodes down after."""
    previous = os.environ.get(SINGLE_MACHINE_ENV)
    os.environ[SINGLE_MACHINE_ENV] = "0"
    import ray
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    was_enabled, ray_constants.ENABLE_RAY_CLUSTER = ray_constants.ENABLE_RAY_CLUSTER, False
    if ray.is_initialized():
        ray.shutdown()  # another module's local Ray: the driver joins this cluster instead
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "node_ip_address": LOOPBACK,
            "include_dashboard": False,
            "_system_config": HEALTH_CHECK,
        },
    )
    try:
        worker = cluster.add_node(num_cpus=worker_cpus, node_ip_address=LOOPBACK, env_vars=worker_env or {})
        yield SimulatedCluster(cluster.address, cluster, worker)
    finally:
        ray.shutdown()
        cluster.shutdown()
        ray_constants.ENABLE_RAY_CLUSTER = was_enabled
        if previous is None:
            os.environ.pop(SINGLE_MACHINE_ENV, None)
        else:
            os.environ[SINGLE_MACHINE_ENV] = previous
