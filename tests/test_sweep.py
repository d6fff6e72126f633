"""Sweeps: grid expansion (no Ray), and through a local Ray: a 4-trial tiny sweep writes 4 runs,
a stop ends a running sweep within seconds. Ray starts once, for this module's Ray tests only."""

from __future__ import annotations

import time

import pytest

from core.runtime.jobs import Status
from core.runtime.slots import RunSlots
from core.store.runs import RunStore, tensorboard_dir
from core.sweeps.__main__ import build_parser, main, results_table, trials_from_args
from core.sweeps.driver import SweepRun
from core.sweeps.grid import expand_grid, trial_name, varying
from tests.tensorboard_events import assert_log_matches_record

TINY = {"epochs": 1, "train_subset": 300, "test_subset": 100, "batch_size": 50}


def test_the_grid_expands_to_every_combination_seeds_last():
    trials = expand_grid({"tau": [0.5, 1], "estimator": ["relaxed", "straight_through"], "seed": [0, 1]}, TINY)
    assert len(trials) == 8 and len({t.name for t in trials}) == 8
    assert [t.settings["seed"] for t in trials] == [0] * 4 + [1] * 4  # a sweep cut short has every setting once
    assert trials[0].config.estimator == "gumbel_softmax" and trials[0].config.epochs == 1  # the old name works
    assert trials[0].name == "gumbel_softmax_tau0.5_const_lr0.001_faithful_s0"
    assert varying(trials) == ["estimator", "tau", "seed"]


def test_fixed_options_reach_every_trial():
    args = build_parser().parse_args(
        ["--tau", "0.5", "1", "--data", "tiny", "--precision", "bf16", "--binarize", "static"]
    )
    trials = trials_from_args(args)
    assert len(trials) == 2
    assert {(t.config.precision, t.config.binarize) for t in trials} == {("bf16", "static")}
    assert trials_from_args(build_parser().parse_args([]))[0].config.precision == "auto"


def test_a_bad_grid_is_refused_with_a_message():
    with pytest.raises(ValueError, match="temperature"):
        expand_grid({"tau": [0.5, 0]}, TINY)
    with pytest.raises(ValueError, match="cannot vary"):
        expand_grid({"batch_size": [10]}, TINY)
    with pytest.raises(ValueError, match="at most"):
        expand_grid({"seed": list(range(1000))}, TINY)
    assert main(["--tau", "-1"]) == 2


def test_names_are_stable_for_resume():
    settings = {"estimator": "relaxed", "tau": 2.0, "anneal": True, "lr": 0.01, "preset": "linear", "seed": 3}
    assert trial_name(settings) == "gumbel_softmax_tau2_anneal_lr0.01_linear_s3"


def test_a_sweep_that_finds_every_slot_busy_waits_in_line_and_can_leave_it(store):
    """The app's local sweep shares the server's run slots: with the only slot held by a
    visitor's run, the sweep is queued (no Ray started for it) and a stop takes it out of line."""
    slots = RunSlots(1)
    visitor = slots.request("visitor")
    sweep = SweepRun(expand_grid({"tau": [0.5, 1.0]}, TINY), "waits", store=store, parallel=2, slots=slots).start()
    snap = sweep.snapshot()
    assert snap.status == Status.QUEUED and snap.place.position == 1 and snap.where == ""
    assert slots.view().waiting == ("sweep waits",)
    sweep.stop()
    assert slots.view().waiting == ()  # out of line at once
    assert sweep.join(10)
    snap = sweep.snapshot()
    assert snap.status == Status.STOPPED and [t.status for t in snap.trials] == [Status.STOPPED] * 2
    assert not any(t.launched for t in snap.trials) and store.records() == []
    assert visitor.granted and slots.view().busy == 1


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    yield
    ray.shutdown()


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    monkeypatch.setenv("GUMBEL_LAB_RUNS", str(tmp_path / "runs"))
    return RunStore()


@pytest.mark.slow
def test_a_four_trial_sweep_on_local_ray_writes_four_runs(local_ray, store, data_root):
    trials = expand_grid({"tau": [0.5, 1.0], "estimator": ["gumbel_softmax", "straight_through"]}, TINY)
    sweep = SweepRun(trials, "four", store=store, parallel=2, data_root=data_root).start()
    assert sweep.join(240)
    snap = sweep.snapshot()
    assert snap.status == "finished" and snap.error is None, snap
    assert [t.status for t in snap.trials] == ["finished"] * 4
    assert all(t.test is not None and t.progress == 1.0 for t in snap.trials)
    assert "local Ray" in snap.where
    records = store.records("sweeps", "four")
    assert sorted(r.name for r in records) == sorted(t.name for t in trials)
    assert all(r.status == "finished" and r.has_weights and r.metadata["sweep"] == "four" for r in records)
    assert all(len(r.metadata["history"]) == 1 for r in records)
    for record in records:  # each trial's TensorBoard log, beside its record
        assert assert_log_matches_record(tensorboard_dir(record.path), record.metadata).status == "STATUS_SUCCESS"
    assert "straight_through" in results_table(snap)
    # resume: every trial is already finished, so nothing runs again
    again = SweepRun(trials, "four", store=store, data_root=data_root, resume=True).start()
    assert again.join(60)
    resumed = again.snapshot().trials
    assert [t.status for t in resumed] == [Status.FINISHED] * 4 and all(t.resumed and not t.launched for t in resumed)


@pytest.mark.slow
def test_stop_ends_a_running_sweep_within_seconds(local_ray, store, data_root):
    trials = expand_grid({"tau": [0.5, 1.0, 2.0]}, TINY | {"epochs": 500})
    sweep = SweepRun(trials, "stopped", store=store, parallel=2, data_root=data_root).start()
    deadline = time.monotonic() + 120
    while not any(t.step > 0 for t in sweep.snapshot().trials):
        assert time.monotonic() < deadline and not sweep.done, sweep.snapshot()
        time.sleep(0.2)
    assert any(t.points for t in sweep.snapshot().trials)  # the live curve grows
    asked = time.monotonic()
    sweep.stop()
    assert sweep.join(15)
    took = time.monotonic() - asked
    snap = sweep.snapshot()
    assert snap.status == Status.STOPPED and took < 8, took
    assert [t.status for t in snap.trials] == [Status.STOPPED] * 3
    assert [t.launched for t in snap.trials] == [True, True, False]  # the third never started
    assert [t.saved for t in snap.trials] == [True, True, False]
    stopped = [r for r in store.records("sweeps", "stopped")]
    assert len(stopped) == 2 and all(r.status == Status.STOPPED for r in stopped)


@pytest.mark.slow
def test_a_failed_trial_is_reported_with_its_error_and_the_others_go_on(local_ray, store, data_root):
    good, bad = expand_grid({"tau": [0.5, 1.0]}, TINY)
    object.__setattr__(bad.config, "lr", -1.0)  # past validation: Adam refuses it inside the worker
    sweep = SweepRun([bad, good], "broken", store=store, parallel=2, data_root=data_root).start()
    assert sweep.join(120)
    failed, finished = sweep.snapshot().trials
    assert failed.status == "failed" and "learning rate" in failed.error.lower()
    assert finished.status == "finished"
    record = store.get(f"sweeps/broken/{bad.name}")
    assert record.status == "failed" and "learning rate" in record.error.lower() and not record.has_weights


@pytest.mark.slow
def test_the_cli_prints_trial_lines_and_a_table_and_the_quota_speaks(local_ray, store, data_root, capsys, monkeypatch):
    monkeypatch.setenv("GUMBEL_LAB_RUNS_MAX_COUNT", "1")
    args = ["--tau", "0.5", "1", "--estimator", "relaxed", "--epochs", "1", "--data", "tiny", "--name", "cli"]
    assert main([*args, "--data-root", str(data_root), "--parallel", "1"]) == 0
    out, err = capsys.readouterr()
    assert "[1/2] gumbel_softmax_tau0.5" in out and "[2/2] gumbel_softmax_tau1" in out
    assert "2 finished" in out and out.strip().splitlines()[-3].split()[:2] == ["tau", "status"]
    assert "Deleted run sweeps/cli/gumbel_softmax_tau0.5" in err  # the quota kept one run, and said so
    (kept,) = store.records()
    assert kept.name.startswith("gumbel_softmax_tau1") and kept.metadata["command"].startswith("python -m core.sweeps ")
