"""The run store: records at start, per epoch and at the end; crashes; the quota; CLI runs
listed by the app after a restart."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from core.runtime.jobs import Status
from core.store.compare import compare_runs
from core.store.runs import RunStore
from core.training.__main__ import main as train_cli
from core.training.config import TrainConfig
from core.training.loop import EpochMetrics, Trainer
from core.training.record import RunRecorder
from core.training.run import TrainingRun
from tests.apptest import REPO
from tests.test_page_compare import table_text

TINY = {"epochs": 1, "train_subset": 200, "test_subset": 100, "batch_size": 50}


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    monkeypatch.setenv("GUMBEL_LAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("GUMBEL_LAB_RUNS_MAX_COUNT", raising=False)
    monkeypatch.delenv("GUMBEL_LAB_RUNS_MAX_MB", raising=False)
    return RunStore()


def _train(store: RunStore, mnist, name: str, source: str = "cli", group: str | None = None, status="finished"):
    trainer = Trainer(TrainConfig.from_settings(TINY), *mnist)
    recorder = RunRecorder(store.path_for(source, name, group), {"name": name}, store)
    recorder.start(trainer)
    assert store.get(recorder.path.relative_to(store.root).with_suffix("").as_posix()).status == "running"
    epochs = [e for e in trainer.events() if not hasattr(e, "images_per_second")]
    recorder.epoch(trainer, epochs)
    recorder.end(trainer, epochs, status)
    return recorder


def test_a_run_is_recorded_from_start_to_end(store, mnist):
    recorder = _train(store, mnist, "a")
    (record,) = store.records()
    assert record.run_id == "cli/a" and record.status == "finished" and record.has_weights
    assert record.metadata["history"][0]["epoch"] == 1 and record.metadata["final_metrics"]["test"] > 0
    assert record.metadata["pid"] == os.getpid() and "started_at" in record.metadata
    assert record.label == "a (CLI)" and recorder.notices == []
    # The seed is recorded once, in the run's settings, and read back from there.
    assert "seed" not in record.metadata and record.metadata["train_config"]["seed"] == 0
    assert compare_runs({"a": ("cli", record.metadata)}).rows[0]["seed"] == 0


def test_a_run_records_what_it_did_and_compare_shows_it_beside_what_it_was_asked(store, mnist):
    """τ changed to 0.5 after step 2, stopped after the first of 3 epochs (4 steps of 50 images)."""
    trainer = Trainer(TrainConfig.from_settings(TINY | {"epochs": 3}), *mnist)
    recorder = RunRecorder(store.path_for("cli", "early"), {"name": "early"}, store)
    recorder.start(trainer)
    epochs: list[EpochMetrics] = []
    for event in trainer.events():
        if trainer.step == 2 and not trainer.changes:
            trainer.change("tau", 0.5)
        if isinstance(event, EpochMetrics):
            epochs.append(event)
            break  # the lecturer pressed Stop
    recorder.end(trainer, epochs, Status.STOPPED)
    (record,) = store.records()
    assert (record.metadata["epochs"], record.metadata["steps"], record.metadata["final_tau"]) == (1, 4, 0.5)
    assert record.metadata["final_lr"] == 1e-3 and record.metadata["train_config"]["tau"] == 1.0
    (row,) = compare_runs({"early": ("cli", record.metadata)}).rows
    assert (row["epochs"], row["epochs_done"], row["steps"]) == (3, 1, 4)  # asked, then did
    assert (row["tau"], row["final_tau"], row["changes"]) == (1.0, 0.5, "τ → 0.5 after step 2")
    at = AppTest.from_file(str(REPO / "views/compare.py"), default_timeout=60)
    at.query_params["compare_runs"] = record.run_id
    at.run()
    assert not at.exception and not at.error
    shown = table_text(at)
    assert [shown[("early (CLI)", c)] for c in ("epochs", "epochs_done", "tau", "final_tau")] == ["3", "1", "1", "0.5"]
    assert shown[("early (CLI)", "changes")] == "τ → 0.5 after step 2"
    assert list(_columns(at))[:4] == ["source", "relaxed", "unrelaxed", "test"]  # results first, on screen


def _columns(at):
    return pa.ipc.open_stream(at.dataframe[0].proto.arrow_data.styler.display_values).read_all().schema.names


def test_a_running_record_whose_process_is_gone_lists_as_failed(store):
    path = store.path_for("sweeps", "t1", "s")
    store.begin(path, {"name": "t1"})
    side = json.loads(path.with_suffix(".json").read_text())
    path.with_suffix(".json").write_text(json.dumps(side | {"pid": 2**22 + 12345}))  # no such process
    (record,) = store.records()
    assert record.status == "failed" and "ended unexpectedly" in record.error
    assert not record.has_weights and store.models() == []


def test_a_record_nested_too_deep_to_parse_is_skipped(store):
    """JSON nested past Python's parser raised RecursionError, which would take every page's run
    list down with it."""
    path = store.path_for("cli", "good")
    store.begin(path, {"name": "good"})
    (path.parent / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert [r.run_id for r in store.records()] == ["cli/good"]


def test_records_read_in_the_status_vocabulary_old_words_included(store):
    """A sweep's old word "cancelled" reads as stopped; a record that has not ended (paused) and
    whose process is gone as failed; a word that is no status as failed, saying so."""
    for name, word in [("old", "cancelled"), ("paused", "paused"), ("odd", "exploded")]:
        store.close(store.path_for("sweeps", name, "s"), word)
    records = {r.name: r for r in store.records()}
    assert all(type(r.status) is Status for r in records.values())
    assert records["old"].status == Status.STOPPED and records["old"].error is None
    assert records["paused"].status == Status.FAILED and "ended unexpectedly" in records["paused"].error
    assert records["odd"].status == Status.FAILED and "'exploded' is not a job status" in records["odd"].error
    rows = compare_runs({"a": ("sweeps", {"status": "cancelled"}), "b": ("shipped", {})}).rows
    assert [r["status"] for r in rows] == [Status.STOPPED, Status.FINISHED]


def test_a_killed_training_process_leaves_a_failed_record_and_no_model(store, mnist):
    config = TrainConfig.from_settings(TINY | {"epochs": 500})
    folder = store.path_for("page", "x", "sess").parent
    run = TrainingRun(config, *mnist, checkpoint_dir=folder, name="killed", threads=1).start()
    deadline = time.monotonic() + 60
    while run.snapshot().step == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    os.kill(run.pid, signal.SIGKILL)
    assert run.join(30)
    assert run.snapshot().status == "failed"
    record = store.get("page/sess/killed")
    assert record is not None and record.status == "failed" and "ended unexpectedly" in record.error
    assert not record.has_weights


def test_the_quota_evicts_the_oldest_unpinned_runs_and_says_so(store, mnist, monkeypatch):
    for name in ("a", "b", "c"):
        _train(store, mnist, name)
    store.pin("cli/a")
    monkeypatch.setenv("GUMBEL_LAB_RUNS_MAX_COUNT", "3")
    store = RunStore()  # a store reads its quota from the environment when it is made
    recorder = _train(store, mnist, "d")
    assert [r.name for r in store.records()] == ["a", "c", "d"]  # a pinned, b the oldest unpinned
    assert len(recorder.notices) == 1 and "cli/b" in recorder.notices[0]
    assert "more than 3 runs" in recorder.notices[0]
    assert len(store.enforce_quota(max_mb=1e-6)) == 2 and [r.name for r in store.records()] == ["a"]


def test_cli_runs_land_in_the_store_and_the_app_lists_them_after_a_restart(store, data_root, capsys):
    args = ["--epochs", "1", "--max-steps", "3", "--train-subset", "300", "--quiet", "--name", "from-cli"]
    assert train_cli([*args, "--data-root", str(data_root)]) == 0
    (record,) = store.records()
    assert record.run_id == "cli/from-cli" and record.status == "finished"
    assert record.metadata["command"].startswith("python -m core.training --epochs 1")
    _train(store, (mnist_of(data_root)), "trial-1", "sweeps", "grid")
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()  # a fresh server state
    assert not app.exception
    options = app.sidebar.selectbox(key="model_label").options
    assert "from-cli (CLI)" in options and "trial-1 (sweep grid)" in options
    shipped = [o for o in options if o.endswith("(shipped)")]
    assert options[: len(shipped)] == shipped  # shipped first, then the store's runs


def mnist_of(root):
    from core.data import load_mnist

    return load_mnist("train", root), load_mnist("test", root)


def test_the_default_store_is_the_runs_folder_beside_the_code(monkeypatch):
    """Without $GUMBEL_LAB_RUNS the store is ./runs at the repository's root, not inside core/."""
    monkeypatch.delenv("GUMBEL_LAB_RUNS", raising=False)
    assert RunStore().root == Path(__file__).resolve().parent.parent / "runs"
