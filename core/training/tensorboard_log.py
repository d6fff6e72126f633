"""A run's TensorBoard log: scalars per epoch and its hyperparameters (the HParams plugin), in a
folder beside its record in the run store (`core.store.runs.tensorboard_dir`), so that
`tensorboard --logdir runs` shows every run — Train page, CLI, sweep trial — under its run id.

Written with PyTorch's own `torch.utils.tensorboard.SummaryWriter`, imported when a run starts so
that importing this module (and the CLI's `--help`) stays light. TensorBoard is a view on a run,
never a reason for it to fail: when its folder cannot be written, or tensorboard is missing, the
run logs one warning and trains on without it."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from core.runtime.jobs import Status
from core.store.runs import remove_tensorboard, tensorboard_dir

log = logging.getLogger(__name__)

# The scalars written once per epoch (step = the epoch): TensorBoard tag -> EpochMetrics field.
EPOCH_SCALARS: dict[str, str] = {
    "objective/relaxed": "relaxed",
    "objective/unrelaxed": "unrelaxed",
    "objective/test": "test",
    "kl/train": "kl",
    "kl/test": "test_kl",
    "reconstruction/train": "reconstruction",
    "reconstruction/test": "test_reconstruction",
    "schedule/tau": "tau",
    "schedule/lr": "lr",
}
# The run's final metrics (its checkpoint's final_metrics), written once at the end as final/<name>;
# with the per-epoch scalars they are the HParams table's metric columns.
FINAL_METRICS = ("relaxed", "unrelaxed", "test", "test_kl")

HParams = Mapping[str, bool | int | float | str]


def _session_start(hparams: HParams) -> Any:
    """The HParams plugin's session start: the run's hyperparameters, from now. (tensorboard's own
    builders in `plugins.hparams.summary` import TensorFlow; these protos do not.)"""
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    start = plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
    for name, value in hparams.items():
        if isinstance(value, bool):  # before int: a bool is an int to Python
            start.hparams[name].bool_value = value
        elif isinstance(value, (int, float)):
            start.hparams[name].number_value = value
        else:
            start.hparams[name].string_value = str(value)
    return _plugin_summary(metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=start))


def _session_end(status: Status) -> Any:
    """The HParams plugin's session end: how the run ended (a stopped run ended well, with its model)."""
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    if status in (Status.FINISHED, Status.STOPPED):
        word = api_pb2.STATUS_SUCCESS
    else:
        word = api_pb2.STATUS_FAILURE if status == Status.FAILED else api_pb2.STATUS_UNKNOWN
    end = plugin_data_pb2.SessionEndInfo(status=word, end_time_secs=time.time())
    return _plugin_summary(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end))


def _plugin_summary(tag: str, data: Any) -> Any:
    """A summary holding the HParams plugin's `data` under `tag`, as TensorBoard reads it."""
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import metadata

    summary = Summary()
    summary.value.add(tag=tag, metadata=metadata.create_summary_metadata(data), tensor=metadata.NULL_TENSOR)
    return summary


class TensorBoardLog:
    """The TensorBoard events of the run whose record is `record_path` (its `.pt`)."""

    def __init__(self, record_path: Path) -> None:
        self.record_path = record_path
        self.folder = tensorboard_dir(record_path)
        self._writer: Any = None  # a SummaryWriter while the log is open
        self._epochs_written = 0

    def start(self, hparams: HParams) -> None:
        """Open a fresh log (a rerun under the same name starts afresh) and write the run's
        hyperparameters as the HParams plugin's session start. No experiment summary is written:
        TensorBoard then builds one from every run's hyperparameters, whatever each run has."""
        try:
            remove_tensorboard(self.record_path)
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.folder))
        except Exception as err:  # a view on the run, never a reason for it to fail
            self._give_up(err)
            return
        self._write(lambda writer: writer.file_writer.add_summary(_session_start(hparams)))

    def epochs(self, history: Sequence[Mapping[str, Any]]) -> None:
        """Write the scalars of every epoch in `history` (each `EpochMetrics` as a dict, as a run's
        record keeps them; a run on a Ray worker sends no more) not written yet."""

        def write(writer: Any) -> None:
            for metrics in history[self._epochs_written :]:
                for tag, field in EPOCH_SCALARS.items():
                    writer.add_scalar(tag, metrics[field], metrics["epoch"])
            self._epochs_written = len(history)

        self._write(write)

    def end(self, status: Status, final: Mapping[str, Any] | None = None, epoch: int = 0) -> None:
        """Write the final metrics (at step `epoch`) and how the run ended, and close the log."""

        def write(writer: Any) -> None:
            for name in FINAL_METRICS:
                value = (final or {}).get(name)
                if isinstance(value, (int, float)):
                    writer.add_scalar(f"final/{name}", value, epoch)
            writer.file_writer.add_summary(_session_end(status))

        self._write(write)
        self._close()

    def _write(self, write: Callable[[Any], None]) -> None:
        if self._writer is None:
            return
        try:
            write(self._writer)
            self._writer.flush()  # the events on disk now, for a TensorBoard watching a live run
        except Exception as err:  # a view on the run, never a reason for it to fail
            self._give_up(err)

    def _give_up(self, err: Exception) -> None:
        log.warning(
            "No TensorBoard log for run %s in %s (the run goes on without it): %s: %s",
            self.record_path.stem,
            self.folder,
            type(err).__name__,
            err,
        )
        self._close()

    def _close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(Exception):  # what failed to write is already reported
                writer.close()
