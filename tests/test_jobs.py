"""One job lifecycle: the same checks against every kind of job — a page's background task (a
thread), a training run (a process) and a sweep (Ray, one tiny trial a sweep; Ray starts once,
for this module's sweep cases only). A job that finishes ends finished, done and joined; a stop
ends a working job stopped within seconds; a job whose work raises ends failed with its
message; every snapshot's status is a `Status`."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from core.runtime.background import BackgroundWorker
from core.runtime.jobs import Job, Status
from core.store.runs import RunStore
from core.sweeps import driver
from core.sweeps.grid import expand_grid
from core.training.config import TrainConfig
from core.training.loop import Trainer
from core.training.run import TrainingRun
from core.vae import VAEConfig
from tests.apptest import REPO

STOP_SECONDS = 10.0  # a stop takes effect between steps; this bounds it generously under load
FAILURE = "exploded on purpose"


@dataclass(frozen=True)
class Kind:
    """How to make each job the checks need, for one kind of job."""

    make: Callable[[str, pytest.MonkeyPatch], Job]  # "finishes", "endless" or "fails"; not started
    working: Callable[[Job], bool]  # it has done some of its work
    finish_seconds: float


def _explode(*args, **kwargs):
    raise RuntimeError(FAILURE)


def _thread_kind() -> Kind:
    def counting(limit: int, pause: float = 0.0) -> Iterator[int]:
        for i in range(limit):
            time.sleep(pause)
            yield i

    def failing() -> Iterator[int]:
        yield 0
        _explode()

    def make(what: str, monkeypatch: pytest.MonkeyPatch) -> Job:
        source = {"finishes": lambda: counting(5), "endless": lambda: counting(10**9, 0.01), "fails": failing}
        return BackgroundWorker(source[what])

    return Kind(make, lambda job: len(job.snapshot().items) > 0, 10.0)


def _process_kind(mnist) -> Kind:
    tiny = VAEConfig(latent_vars=4, classes=5, hidden=(32,))
    settings = {"model": tiny, "epochs": 1, "batch_size": 50, "train_subset": 500, "test_subset": 200}

    def make(what: str, monkeypatch: pytest.MonkeyPatch) -> Job:
        if what == "fails":
            monkeypatch.setattr(Trainer, "train_step", _explode)  # the forked process inherits it
        config = TrainConfig(**settings | {"epochs": 100_000 if what == "endless" else 1})
        return TrainingRun(config, *mnist, threads=1)

    return Kind(make, lambda job: job.snapshot().step > 0, 60.0)


def _ray_kind(data_root, store: RunStore) -> Kind:
    tiny = {"epochs": 1, "train_subset": 300, "test_subset": 100, "batch_size": 50}

    def make(what: str, monkeypatch: pytest.MonkeyPatch) -> Job:
        if what == "fails":
            monkeypatch.setattr(driver, "ensure_ray", _explode)  # the driver's own work raises
        trials = expand_grid({"tau": [1.0]}, tiny | {"epochs": 500 if what == "endless" else 1})
        return driver.SweepRun(trials, f"jobs-{what}", store=store, parallel=1, data_root=data_root)

    return Kind(make, lambda job: any(t.step > 0 for t in job.snapshot().trials), 240.0)


@pytest.fixture(scope="module", params=["thread", "process", pytest.param("ray", marks=pytest.mark.slow)])
def kind(request, tmp_path_factory) -> Iterator[Kind]:
    """Module-scoped, so pytest runs each kind's checks together and Ray's only after the others."""
    if request.param == "thread":
        yield _thread_kind()
    elif request.param == "process":
        yield _process_kind(request.getfixturevalue("mnist"))
    else:
        ray = pytest.importorskip("ray")
        yield _ray_kind(request.getfixturevalue("data_root"), RunStore(tmp_path_factory.mktemp("runs")))
        ray.shutdown()


def _assert_status(job: Job, expected: Status) -> None:
    snap = job.snapshot()
    assert type(snap.status) is Status and snap.status == expected, snap
    assert snap.done == job.done == expected.ended


def test_a_job_is_queued_until_started_and_finishes_done_and_joined(kind, monkeypatch):
    job = kind.make("finishes", monkeypatch)
    assert isinstance(job, Job)
    _assert_status(job, Status.QUEUED)
    assert job.start() is job
    assert job.join(kind.finish_seconds)
    _assert_status(job, Status.FINISHED)
    assert job.snapshot().error is None


def test_stop_ends_a_working_job_stopped_within_seconds(kind, monkeypatch):
    job = kind.make("endless", monkeypatch).start()
    try:
        deadline = time.monotonic() + kind.finish_seconds
        while not kind.working(job):
            assert time.monotonic() < deadline and not job.done, job.snapshot()
            time.sleep(0.05)
        _assert_status(job, Status.RUNNING)
        assert not job.join(0.2)  # it would go on
    finally:
        job.stop()
        assert job.join(STOP_SECONDS)
    _assert_status(job, Status.STOPPED)
    assert job.snapshot().error is None


def test_a_job_whose_work_raises_fails_with_its_message(kind, monkeypatch):
    job = kind.make("fails", monkeypatch).start()
    assert job.join(kind.finish_seconds)
    _assert_status(job, Status.FAILED)
    assert FAILURE in job.snapshot().error


def test_status_words_old_and_new():
    assert [str(s) for s in Status] == ["queued", "running", "paused", "stopped", "finished", "failed"]
    assert [s for s in Status if s.ended] == [Status.STOPPED, Status.FINISHED, Status.FAILED]
    assert Status.read("cancelled") is Status.STOPPED and Status.read(" Finished ") is Status.FINISHED
    assert Status.read("skipped") is Status.FINISHED and Status.read("pending") is Status.QUEUED
    with pytest.raises(ValueError, match="'exploded' is not a job status"):
        Status.read("exploded")


def test_the_old_sweep_command_still_runs():
    done = subprocess.run(
        [sys.executable, "-m", "core.sweep", "--tau", "-1"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "temperature" in done.stderr, done.stderr
