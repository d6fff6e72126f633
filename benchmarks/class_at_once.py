"""A class at once (issue 26): N visitors press Start within a few seconds, on a Ray cluster.

    python -m benchmarks.class_at_once [--visitors 30] [--within 10] [--limit 2] [--worker-cpus 2]
                                       [--epochs 1] [--data tiny] [--deadline 1800] [--seed 0]

Starts a simulated two-node Ray cluster on this machine (`core.sweeps.ray_backend.simulated_cluster`: a head with
no CPUs, one worker node with --worker-cpus CPUs, loopback only, the worker's runs folder its
own) and plays the server: each visitor is a thread that, at a seeded random moment within
--within seconds, makes the run the Train page makes (`RayTrainingRun` in the server's
`RunSlots` line of --limit slots, preset faithful, --data, --epochs) and polls its snapshot
twice a second as the page's fragment does (which keeps its place in line), until it ends.
The server's run objects are driven directly, not through 30 browsers: 30 headless Chromiums
would need far more than this machine's two shared cores and would measure the browsers.

It prints how many runs finished, the errors, the longest and median wait in line (seen by the
polls, so to 0.5 s) and from Start to the first step, the server's CPU seconds and resident
memory (this process: the run objects, their threads and Ray's driver; after one warm-up run,
so Ray's start-up is not counted) in all and per run, the cluster's processes apart, the CPU
model and the load average before and after (the machine may be shared), and whether the
worker's runs folder stayed empty. The exit status is 1 when a run did not finish.
Not run in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import resource
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ray

from benchmarks.live_server import rss_mb, tree_rss_mb
from core.data import load_mnist
from core.runtime.jobs import Status
from core.runtime.slots import RunSlots
from core.sweeps.grid import SUBSETS
from core.sweeps.ray_backend import simulated_cluster
from core.training.config import TrainConfig
from core.training.remote import RayTrainingRun

POLL_SECONDS = 0.5  # the Train page's fragment


@dataclass
class Visit:
    """One visitor's run as its page saw it."""

    index: int
    queued_for: float = 0.0
    first_step_after: float | None = None
    status: Status = Status.QUEUED
    error: str | None = None
    seen_places: list[int] = field(default_factory=list)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()} x {os.cpu_count()}"
    return platform.processor() or "unknown"


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def server_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def visit(visit: Visit, delay: float, make: Callable[[str], RayTrainingRun], deadline: float) -> None:
    """Wait `delay`, press Start, and poll like the page until the run ends."""
    time.sleep(delay)
    pressed = time.monotonic()
    run = make(f"visitor-{visit.index:03d}").start()
    while time.monotonic() < deadline:
        snap = run.snapshot()
        now = time.monotonic() - pressed
        if snap.status == Status.QUEUED:
            visit.queued_for = now
            if snap.place:
                visit.seen_places.append(snap.place.position)
        elif snap.step > 0 and visit.first_step_after is None:
            visit.first_step_after = now
        if snap.done:
            visit.status, visit.error = snap.status, snap.error
            return
        time.sleep(POLL_SECONDS)
    run.stop()
    visit.error = "did not end before the deadline"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=30)
    parser.add_argument(
        "--within", type=float, default=10.0, help="every visitor presses Start within this many seconds"
    )
    parser.add_argument("--limit", type=int, default=2, help="the server's run slots (GUMBEL_LAB_MAX_RUNS)")
    parser.add_argument("--worker-cpus", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data", choices=tuple(SUBSETS), default="tiny")
    parser.add_argument("--deadline", type=float, default=1800.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    train_subset, test_subset = SUBSETS[args.data]
    config = TrainConfig(epochs=args.epochs, train_subset=train_subset, test_subset=test_subset)
    train, test = load_mnist("train"), load_mnist("test")
    print(f"CPU: {cpu_model()}; load average before: {load_average()}")
    print(
        f"{args.visitors} visitors within {args.within:g} s, {args.limit} slot(s), "
        f"worker node {args.worker_cpus} CPU(s), faithful model, {args.data} data, {args.epochs} epoch(s) a run"
    )
    with tempfile.TemporaryDirectory(prefix="class-at-once-") as folder:
        server_runs, worker_runs = Path(folder) / "server-runs", Path(folder) / "worker-runs"
        worker_runs.mkdir()
        started = time.monotonic()
        with contextlib.ExitStack() as ending:
            cluster = simulated_cluster(
                2, args.worker_cpus, head_cpus=0, worker_env={"GUMBEL_LAB_RUNS": str(worker_runs)}
            )
            ending.callback(cluster.shutdown)
            ending.callback(ray.shutdown)  # first: the driver leaves, then the nodes end
            print(f"cluster up in {time.monotonic() - started:.0f} s at {cluster.address}")
            slots = RunSlots(args.limit)

            def make(name: str) -> RayTrainingRun:
                return RayTrainingRun(
                    config, train, test, address=cluster.address, checkpoint_dir=server_runs, name=name, slots=slots
                )

            warm = time.monotonic()
            warm_up = make("warm-up").start()
            warm_up.join(args.deadline)
            print(
                f"warm-up run: {warm_up.snapshot().status} in {time.monotonic() - warm:.0f} s (Ray joined, data sent)"
            )

            cpu_before, rss_before = server_cpu_seconds(), rss_mb(os.getpid())
            rng = random.Random(args.seed)
            visits = [Visit(i) for i in range(args.visitors)]
            deadline = time.monotonic() + args.deadline
            threads = [
                threading.Thread(target=visit, args=(v, rng.uniform(0, args.within), make, deadline), daemon=True)
                for v in visits
            ]
            began = time.monotonic()
            for thread in threads:
                thread.start()
            peak_rss, peak_cluster = rss_before, 0.0
            while any(t.is_alive() for t in threads):
                own = rss_mb(os.getpid())
                peak_rss = max(peak_rss, own)
                peak_cluster = max(peak_cluster, tree_rss_mb(os.getpid())[0] - own)
                time.sleep(1.0)
            wall = time.monotonic() - began
            cpu = server_cpu_seconds() - cpu_before
            rss_after = rss_mb(os.getpid())
            nodes = {json.loads(side.read_text())["node"]["id"] for side in server_runs.glob("visitor-*.json")}
            saved = len(list(server_runs.glob("visitor-*.pt")))
            worker_empty = not any(worker_runs.rglob("*"))
            (worker,) = cluster.worker_nodes
            worker_node = worker.node_id

    finished = [v for v in visits if v.status == Status.FINISHED]
    errors = [f"visitor {v.index}: {v.status} {v.error}" for v in visits if v.status != Status.FINISHED]
    waits = [v.queued_for for v in visits]
    firsts = [v.first_step_after for v in visits if v.first_step_after is not None]
    print(f"finished: {len(finished)} of {args.visitors} in {wall:.0f} s; errors: {len(errors)}")
    for line in errors:
        print(f"  {line}")
    print(f"wait in line: longest {max(waits):.1f} s, median {statistics.median(waits):.1f} s")
    if firsts:
        print(f"Start to first step: longest {max(firsts):.1f} s, median {statistics.median(firsts):.1f} s")
    print(
        f"server (this process): {cpu:.1f} CPU s in all, {cpu / args.visitors:.2f} CPU s a run; "
        f"RSS {rss_before:.0f} MB before, {peak_rss:.0f} MB peak, {rss_after:.0f} MB after "
        f"({(peak_rss - rss_before):.0f} MB for {args.visitors} runs at once or in line)"
    )
    print(f"cluster processes on this machine: {peak_cluster:.0f} MB resident at the peak")
    print(
        f"in the server's runs folder: {saved} models; trained on the worker node only: {nodes == {worker_node}}; "
        f"the worker's own runs folder empty: {worker_empty}"
    )
    print(f"load average after: {load_average()}")
    raise SystemExit(0 if len(finished) == args.visitors else 1)


if __name__ == "__main__":
    main()
