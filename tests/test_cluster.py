"""Runs on a Ray cluster with no shared disk, on a simulated two-node cluster (core.sweeps.ray_backend:
a head with no CPUs, one worker node whose runs folder is its own; loopback only), started
once for this module: a Train-page run trains on the worker node and its page shows it live
(pause, a τ change, stop), and its record and weights land in the server's run store while the
worker's runs folder stays empty; a sweep trial does the same; killing the worker node fails
the run it trains with a message and frees its slot (last: the cluster has no worker after)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core.runtime.jobs import Status
from core.runtime.slots import RunSlots
from core.store.checkpoints import load_checkpoint
from core.store.runs import RunStore
from core.sweeps.driver import SweepRun
from core.sweeps.grid import expand_grid
from core.training.config import TrainConfig
from core.training.remote import RayTrainingRun
from core.vae import VAEConfig
from tests.apptest import REPO

START_SECONDS = 240.0  # a fresh Ray worker imports torch before its first step; CI's 2 cores are shared


@dataclass(frozen=True)
class SimulatedCluster:
    address: str  # what RAY_ADDRESS would say
    cluster: Any  # the ray.cluster_utils.Cluster
    worker: Any  # the worker node (its `node_id`)

    def kill_worker(self) -> None:
        """The worker node dies at once, as a machine that loses power: its processes are killed."""
        self.cluster.remove_node(self.worker, allow_graceful=False)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    ray = pytest.importorskip("ray")
    from core.sweeps.ray_backend import simulated_cluster

    worker_runs = tmp_path_factory.mktemp("worker-runs")
    if ray.is_initialized():
        ray.shutdown()  # another module's local Ray: the driver joins this cluster instead
    try:
        cluster = simulated_cluster(2, 2, head_cpus=0, worker_env={"GUMBEL_LAB_RUNS": str(worker_runs)})
    except Exception as err:  # no Ray on this machine, or its ports are refused
        pytest.skip(f"Ray could not start a simulated cluster here: {err}")
    try:
        (worker,) = cluster.worker_nodes
        yield SimulatedCluster(cluster.address, cluster, worker), worker_runs
    finally:
        ray.shutdown()
        cluster.shutdown()


def wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the run"
        time.sleep(0.1)


def nothing_in(folder: Path) -> bool:
    return not any(folder.rglob("*"))


def test_a_train_page_run_trains_on_the_worker_node_live_and_lands_in_the_servers_store(
    cluster, data_root, tmp_path, monkeypatch
):
    simulated, worker_runs = cluster
    monkeypatch.setenv("RAY_ADDRESS", simulated.address)
    monkeypatch.setenv("GUMBEL_LAB_RUNS", str(tmp_path / "server-runs"))
    at = AppTest.from_file(str(REPO / "views" / "train.py"), default_timeout=120).run()
    assert "Runs train on the Ray cluster" in " ".join(c.value for c in at.caption)
    at.selectbox(key="train_data").set_value("tiny")
    at.number_input(key="train_epochs").set_value(200)
    next(b for b in at.button if b.label == "Start training").click()
    at.run()
    run = at.session_state["train_run"]
    assert isinstance(run, RayTrainingRun) and not at.error
    try:
        wait_until(lambda: run.snapshot().preview is not None, START_SECONDS)
        first = run.snapshot()
        wait_until(lambda: run.snapshot().step > first.step)  # the live view grows
        at.run()
        assert "Ray node 127.0.0.1" in " ".join(c.value for c in at.caption)  # the page says where
        record = json.loads(run.record_path.with_suffix(".json").read_text())
        assert record["status"] == "running" and record["node"]["id"] == simulated.worker.node_id

        at.button(key="train_pause").click().run()
        time.sleep(2.0)  # the pause travels to the actor; steps already sent still land
        paused_at = run.snapshot().step
        time.sleep(1.0)
        assert run.snapshot().status == Status.PAUSED and run.snapshot().step == paused_at
        at.button(key="train_resume").click().run()
        at.number_input(key="train_live_tau").set_value(0.4)
        at.button(key="train_apply_change").click().run()
        wait_until(lambda: run.snapshot().changes)
        change = run.snapshot().changes[0]
        wait_until(lambda: run.snapshot().step > change.step + 1)
        assert all(s.tau == 0.4 for s in run.snapshot().steps if s.step > change.step)
        at.button(key="train_stop").click().run()
    finally:
        run.stop()
        assert run.join(60)
    at.run()
    snap = run.snapshot()
    assert snap.status == Status.STOPPED and "Stopped" in at.success[0].value and not at.exception
    assert snap.checkpoint == run.record_path and snap.checkpoint.parent.parent == tmp_path / "server-runs" / "page"
    saved = load_checkpoint(snap.checkpoint)
    assert saved.metadata["status"] == "stopped" and saved.metadata["steps"] == snap.step
    assert saved.metadata["node"]["id"] == simulated.worker.node_id != simulated.cluster.head_node.node_id
    assert [(c["name"], c["value"]) for c in saved.metadata["changes"]] == [("tau", 0.4)]
    assert nothing_in(worker_runs)  # the worker's own runs folder was never written


def test_a_sweep_trial_trains_on_the_worker_node_and_the_driver_writes_its_record(cluster, data_root, tmp_path):
    simulated, worker_runs = cluster
    store = RunStore(tmp_path / "server-runs")
    trials = expand_grid({"tau": [1.0]}, {"epochs": 2, "train_subset": 300, "test_subset": 100, "batch_size": 50})
    sweep = SweepRun(trials, "remote", store=store, parallel=1, address=simulated.address, data_root=data_root)
    assert sweep.start().join(START_SECONDS)
    snap = sweep.snapshot()
    assert snap.status == Status.FINISHED and snap.trials[0].status == Status.FINISHED, snap
    assert simulated.address in snap.where
    (record,) = store.records("sweeps", "remote")
    assert record.status == Status.FINISHED and record.metadata["node"]["id"] == simulated.worker.node_id
    assert [h["epoch"] for h in record.metadata["history"]] == [1, 2]
    assert load_checkpoint(record.path).metadata["final_metrics"]["step"] == 12
    assert nothing_in(worker_runs)


def test_killing_the_worker_node_fails_its_run_with_a_message_and_frees_its_slot(cluster, mnist, tmp_path):
    simulated, _ = cluster
    tiny = VAEConfig(latent_vars=4, classes=5, hidden=(32,))
    config = TrainConfig(model=tiny, epochs=100_000, batch_size=50, train_subset=500, test_subset=200)
    slots = RunSlots(1)
    run = RayTrainingRun(config, *mnist, address=simulated.address, slots=slots, checkpoint_dir=tmp_path, name="lost")
    run.start()
    waiting = RayTrainingRun(config, *mnist, address=simulated.address, slots=slots, name="waiting").start()
    try:
        wait_until(lambda: run.snapshot().step > 0, START_SECONDS)
        simulated.kill_worker()
        assert run.join(60)
        snap = run.snapshot()
        assert snap.status == Status.FAILED and "the Ray worker training it was lost" in snap.error, snap.error
        assert snap.checkpoint is None and not list(tmp_path.glob("*.pt"))
        record = json.loads((tmp_path / "lost.json").read_text())
        assert record["status"] == "failed" and "lost" in record["error"]
        wait_until(lambda: waiting.snapshot().status != Status.QUEUED)  # its slot went to the next in line
    finally:
        waiting.stop()
        assert waiting.join(60)
