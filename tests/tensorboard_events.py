"""A run's TensorBoard log read back with tensorboard's own EventAccumulator, and checked against
the run's JSON record, for the TensorBoard tests of every kind of run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, metadata
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from core.training.tensorboard_log import EPOCH_SCALARS


@dataclass(frozen=True)
class RunLog:
    scalars: dict[str, list[tuple[int, float]]]  # tag -> (step, value), in order
    hparams: dict[str, object]  # the session start's hyperparameters
    status: str | None  # the session end's status (STATUS_SUCCESS ...), None when it has not ended
    event_files: int


def read_log(folder: Path) -> RunLog:
    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    scalars = {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}
    content = accumulator.PluginTagToContent(metadata.PLUGIN_NAME)
    start = HParamsPluginData.FromString(content[metadata.SESSION_START_INFO_TAG]).session_start_info
    hparams = {name: getattr(value, value.WhichOneof("kind")) for name, value in start.hparams.items()}
    status = None
    if metadata.SESSION_END_INFO_TAG in content:
        end = HParamsPluginData.FromString(content[metadata.SESSION_END_INFO_TAG]).session_end_info
        status = api_pb2.Status.Name(end.status)
    return RunLog(scalars, hparams, status, len(list(folder.glob("events.out.tfevents.*"))))


def assert_log_matches_record(folder: Path, record: dict) -> RunLog:
    """The log in `folder` has one point per recorded epoch of every per-epoch scalar, with the
    record's values (float32 in TensorBoard), the record's settings as hyperparameters and its
    final metrics."""
    log = read_log(folder)
    history = record["history"]
    assert history, "a run with no epoch says nothing about its log"
    for tag, field in EPOCH_SCALARS.items():
        points = log.scalars[tag]
        assert [step for step, _ in points] == [h["epoch"] for h in history], tag
        assert [value for _, value in points] == pytest.approx([h[field] for h in history], rel=1e-6), tag
    config = dict(record["train_config"])
    model = config.pop("model")
    expected = {name: value for name, value in config.items() if value is not None}
    expected |= {f"model.{name}": str(value) if isinstance(value, list) else value for name, value in model.items()}
    expected |= {"precision": record["precision"], "train_images": record["data"]["train_images"]}
    assert {name: log.hparams[name] for name in expected} == expected
    final = record["final_metrics"]
    assert log.scalars["final/test"] == [(record["epochs"], pytest.approx(final["test"], rel=1e-6))]
    return log
