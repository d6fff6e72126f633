"""The thread policy's decisions on faked CPU counters, its overrides, and that the count it
chooses reaches the CLI's and the page run's records. No timing here."""

from __future__ import annotations

import json

import pytest
import torch

from core.runtime.threads import (
    CHECK_SECONDS,
    ENV,
    MIN_SAMPLE_SECONDS,
    CpuSample,
    ThreadPolicy,
    parse_threads,
    read_sample,
    requested_threads,
)
from core.training.__main__ import main as train_cli
from core.training.config import TrainConfig
from core.training.run import TrainingRun

TICKS = 100  # per core over one faked interval


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """The policy sets torch's count for the calling thread: put the test process's back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


class FakeMachine:
    """Counters that advance by one interval of TICKS per core per sample, with the given use."""

    def __init__(self, cores: int = 2) -> None:
        self.cores, self.now = cores, CpuSample(0, 0, 0.0)
        self.time, self.slept = 0.0, 0.0
        self.others, self.own = 0.0, 0.0  # cores' worth of use in the next interval

    def sample(self, cores: list[int]) -> CpuSample:
        busy = round((self.others + self.own) * TICKS)
        self.now = CpuSample(self.now.busy + busy, self.now.total + self.cores * TICKS, self.now.own + self.own * TICKS)
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.time += seconds

    def policy(self, requested: int | None = None, ceiling: int | None = None) -> ThreadPolicy:
        return ThreadPolicy(
            requested,
            ceiling,
            cores=list(range(self.cores)),
            sample=self.sample,
            clock=lambda: self.time,
            sleep=self.sleep,
        )


@pytest.mark.parametrize(
    "others, own, cores, expected",
    [
        (0.0, 0.0, 2, 2),  # both idle
        (1.0, 0.0, 2, 1),  # one busy
        (2.0, 0.0, 2, 1),  # both busy: never fewer than one
        (0.1, 0.0, 2, 2),  # a little background work leaves both free enough
        (0.5, 0.0, 2, 1),  # half a core taken: a second thread would wait for it
        (0.0, 2.0, 2, 2),  # this process's own use is free for it
        (1.0, 0.0, 8, 7),
    ],
)
def test_auto_counts_the_cores_others_leave_free(others, own, cores, expected):
    machine = FakeMachine(cores)
    policy = machine.policy()
    policy.start()
    machine.others, machine.own = others, own
    assert policy.choose() == expected == torch.get_num_threads()


def test_choose_waits_out_a_short_first_interval_only():
    machine = FakeMachine()
    policy = machine.policy()
    policy.start()
    policy.choose()
    assert machine.slept == pytest.approx(MIN_SAMPLE_SECONDS)
    machine.slept = 0.0
    policy = machine.policy()
    policy.start()
    machine.time += 1.0  # the data took a second to load
    policy.choose()
    assert machine.slept == 0.0


def test_a_running_loop_follows_a_competitor_that_comes_and_goes():
    machine = FakeMachine()
    policy = machine.policy()
    policy.start()
    assert policy.choose() == 2
    seen = []
    for step in policy.follow(range(5)):
        seen.append(torch.get_num_threads())
        # the use during this step, which the re-count after it measures: a competitor in steps 1-2
        machine.others, machine.own = (1.0, 1.3) if step in (1, 2) else (0.0, 2.0)
        machine.time += CHECK_SECONDS / 2 if step == 4 else CHECK_SECONDS * 1.01
    assert seen == [2, 2, 1, 1, 2]
    machine.others = 1.0
    assert not policy.recheck()  # too soon after the last count: nothing read


def test_ceiling_and_fixed_counts():
    machine = FakeMachine(4)
    assert machine.policy(ceiling=2).choose() == 2
    fixed = machine.policy(3)
    assert fixed.choose() == 3 and fixed.describe() == "3 (fixed)"
    machine.others, machine.time = 4.0, 10.0
    assert not fixed.recheck() and torch.get_num_threads() == 3


def test_without_proc_stat_auto_leaves_a_core():
    policy = ThreadPolicy(cores=[0, 1, 2, 3], sample=lambda cores: None, sleep=lambda s: None)
    assert policy.choose() == 3 and "no /proc/stat" in policy.describe()


def test_read_sample_sums_the_usable_cores(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text(
        "cpu  30 0 10 100 0 0 0 0 0 0\n"
        "cpu0 10 0 5 50 5 0 0 0 0 0\n"
        "cpu1 20 0 5 50 0 0 0 1 0 0\n"
        "cpu2 99 0 0 0 0 0 0 0 0 0\n"
        "intr 12345\n"
    )
    sample = read_sample([0, 1], stat)
    assert sample is not None and (sample.busy, sample.total) == (41, 146)
    assert read_sample([0], tmp_path / "missing") is None


@pytest.mark.parametrize("text, expected", [("auto", None), (" AUTO ", None), ("1", 1), ("12", 12)])
def test_parse_threads(text, expected):
    assert parse_threads(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "two", ""])
def test_parse_threads_rejects_with_a_message(text):
    with pytest.raises(ValueError, match=r"--threads must be 'auto' or a whole number"):
        parse_threads(text)


def test_the_flag_beats_the_environment_which_beats_auto(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert requested_threads() is None
    monkeypatch.setenv(ENV, "3")
    assert requested_threads() == 3 and requested_threads("auto") is None and requested_threads("1") == 1
    monkeypatch.setenv(ENV, "lots")
    with pytest.raises(ValueError, match=r"\$GUMBEL_LAB_THREADS must be"):
        requested_threads()


TINY = ["--epochs", "1", "--max-steps", "2", "--train-subset", "200", "--quiet"]


@pytest.mark.parametrize("flag, env, recorded", [(["--threads", "1"], "2", "1 (fixed)"), ([], "1", "1 (fixed)")])
def test_the_cli_count_reaches_the_record(flag, env, recorded, data_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(ENV, env)
    assert train_cli([*TINY, *flag, "--out", str(tmp_path / "m")]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["threads"] == recorded
    assert f"threads {recorded}" in capsys.readouterr().err


@pytest.mark.parametrize("flag, env, words", [(["--threads", "0"], "auto", "--threads"), ([], "x", ENV)])
def test_the_cli_rejects_a_bad_count_in_one_line(flag, env, words, monkeypatch, capsys):
    monkeypatch.setenv(ENV, env)
    assert train_cli([*TINY, *flag]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error:") and words in line


@pytest.mark.parametrize("threads, recorded", [(1, "1 (fixed)"), (None, "1 (auto: ")])
def test_a_page_run_records_the_count_its_process_chose(threads, recorded, mnist, tmp_path):
    config = TrainConfig.from_settings({"epochs": 1, "max_steps": 2, "train_subset": 200, "test_subset": 100})
    run = TrainingRun(config, *mnist, checkpoint_dir=tmp_path, name="r", threads=threads, max_threads=1).start()
    assert run.join(120) and run.snapshot().status == "finished"
    assert json.loads((tmp_path / "r.json").read_text())["threads"].startswith(recorded)
