"""TensorBoard: every run writes its per-epoch scalars and its hyperparameters beside its record,
read back here with tensorboard's own EventAccumulator (the CLI's and a sweep trial's logs are
checked in test_cli.py and test_sweep.py). A folder that cannot be written costs a warning, never
the run."""

from __future__ import annotations

import json
import logging

import pytest

from core.runtime.jobs import Status
from core.store.checkpoints import metadata_path
from core.store.runs import RunStore, tensorboard_dir
from core.training.config import TrainConfig
from core.training.loop import EpochMetrics, Trainer
from core.training.record import RunRecorder
from core.training.run import TrainingRun
from core.vae import VAEConfig
from tests.tensorboard_events import assert_log_matches_record, read_log
from tests.test_training import one_thread  # noqa: F401  (autouse: tiny models on one thread)

TINY = {"epochs": 2, "train_subset": 200, "test_subset": 100, "batch_size": 50}


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    monkeypatch.delenv("GUMBEL_LAB_RUNS_MAX_COUNT", raising=False)
    monkeypatch.delenv("GUMBEL_LAB_RUNS_MAX_MB", raising=False)
    return RunStore(tmp_path / "runs")


def _record(path) -> dict:
    return json.loads(metadata_path(path).read_text())


def _run(store: RunStore, mnist, name: str, stop_at: int | None = None, **settings) -> RunRecorder:
    """A recorded tiny run (4 steps an epoch), finished, or stopped after step `stop_at`."""
    trainer = Trainer(TrainConfig.from_settings(TINY | settings), *mnist)
    recorder = RunRecorder(store.path_for("cli", name), {"name": name, "preset": "faithful"}, store)
    recorder.start(trainer)
    epochs: list[EpochMetrics] = []
    for event in trainer.events():
        if isinstance(event, EpochMetrics):
            epochs.append(event)
            recorder.epoch(trainer, epochs)
        elif event.step == stop_at:
            break
    recorder.end(trainer, epochs, Status.FINISHED if stop_at is None else Status.STOPPED)
    return recorder


def test_a_recorded_run_logs_every_epoch_and_its_hyperparameters(store, mnist):
    recorder = _run(store, mnist, "a", tau=0.7, lr=3e-3)
    folder = tensorboard_dir(recorder.path)
    assert folder == store.root / "cli" / "a"  # beside a.pt and a.json: TensorBoard names it cli/a
    log = assert_log_matches_record(folder, _record(recorder.path))
    assert log.scalars["schedule/tau"] == [(1, pytest.approx(0.7)), (2, pytest.approx(0.7))]
    assert log.scalars["schedule/lr"] == [(1, pytest.approx(3e-3)), (2, pytest.approx(3e-3))]
    assert log.hparams["tau"] == pytest.approx(0.7) and log.hparams["estimator"] == "gumbel_softmax"
    assert log.hparams["preset"] == "faithful" and log.hparams["model.relu_logits"] is True
    assert "max_steps" not in log.hparams  # unset settings are left out
    assert log.status == "STATUS_SUCCESS" and log.event_files == 1


def test_a_train_page_run_logs_from_its_own_process(mnist, tmp_path):
    config = TrainConfig(model=VAEConfig(latent_vars=4, classes=5, hidden=(32,)), **TINY)
    run = TrainingRun(config, *mnist, checkpoint_dir=tmp_path, name="page").start()
    assert run.join(120)
    assert run.snapshot().status == Status.FINISHED
    log = assert_log_matches_record(tmp_path / "page", _record(tmp_path / "page.pt"))
    assert log.hparams["model.hidden"] == "[32]" and log.status == "STATUS_SUCCESS"


def test_a_failed_run_ends_its_session_failed(store, mnist):
    trainer = Trainer(TrainConfig.from_settings(TINY), *mnist)
    recorder = RunRecorder(store.path_for("cli", "broken"), {"name": "broken"}, store)
    recorder.start(trainer)
    recorder.fail("RuntimeError: out of memory")
    log = read_log(tensorboard_dir(recorder.path))
    assert log.status == "STATUS_FAILURE" and log.scalars == {} and log.hparams["epochs"] == 2


def test_a_run_stopped_mid_epoch_logs_its_final_metrics_where_it_stopped(store, mnist):
    recorder = _run(store, mnist, "cut", stop_at=6)  # in the 2nd epoch
    record = _record(recorder.path)
    log = read_log(tensorboard_dir(recorder.path))
    assert [step for step, _ in log.scalars["objective/test"]] == [1]
    assert record["final_metrics"]["step"] == 6 and "relaxed" not in record["final_metrics"]
    assert log.scalars["final/test"] == [(2, pytest.approx(record["final_metrics"]["test"], rel=1e-6))]
    assert log.scalars["final/test_kl"] == [(2, pytest.approx(record["final_metrics"]["test_kl"], rel=1e-6))]
    assert "final/relaxed" not in log.scalars  # measured over no whole epoch
    assert log.status == "STATUS_SUCCESS"  # a stopped run ended well: it saved its model


def test_a_folder_that_cannot_be_written_costs_a_warning_not_the_run(store, mnist, caplog):
    path = store.path_for("cli", "blocked")
    path.parent.mkdir(parents=True)
    tensorboard_dir(path).write_text("not a folder")  # where the log's folder would go
    with caplog.at_level(logging.WARNING, logger="core.training.tensorboard_log"):
        recorder = _run(store, mnist, "blocked")
    assert recorder.path.is_file() and _record(recorder.path)["status"] == Status.FINISHED
    assert len(_record(recorder.path)["history"]) == 2
    assert tensorboard_dir(path).read_text() == "not a folder"
    (warning,) = [r for r in caplog.records if r.name == "core.training.tensorboard_log"]
    assert "No TensorBoard log for run blocked" in warning.message and "goes on without it" in warning.message


def test_a_rerun_starts_its_log_afresh_and_the_quota_deletes_it(store, mnist):
    _run(store, mnist, "a")
    first = read_log(tensorboard_dir(store.path_for("cli", "a")))
    _run(store, mnist, "a", seed=1)
    again = read_log(tensorboard_dir(store.path_for("cli", "a")))
    assert again.event_files == 1 and len(again.scalars["objective/test"]) == 2
    assert again.hparams["seed"] == 1 and again.scalars["objective/test"] != first.scalars["objective/test"]
    record = store.get("cli/a")
    assert (
        record is not None
        and record.size_bytes() > record.path.stat().st_size + metadata_path(record.path).stat().st_size
    )
    store.max_count = 1
    _run(store, mnist, "b")
    assert [r.run_id for r in store.records()] == ["cli/b"]
    assert (
        not tensorboard_dir(store.path_for("cli", "a")).exists()
        and tensorboard_dir(store.path_for("cli", "b")).is_dir()
    )
