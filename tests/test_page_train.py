"""The Train page with AppTest: form defaults, URL settings, starting, controlling and ending
a run, missing data and the server's line of runs. AppTest runs the live fragment once per
script run (never on its timer), so each `run()` below is one redraw."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.training.run import TrainingRun
from tests.apptest import bound

PAGE = str(Path(__file__).resolve().parent.parent / "views" / "train.py")
TIMEOUT = 60
STALL_SECONDS = 3.0  # ui/runs.py: no step for this long and the page says the run waits


@pytest.fixture
def runs_dir(tmp_path, monkeypatch, data_root) -> Path:
    """Checkpoints go to a temporary folder, and every run a test starts is stopped after it."""
    monkeypatch.setenv("GUMBEL_LAB_RUNS", str(tmp_path / "runs"))
    started: list[TrainingRun] = []
    monkeypatch.setattr(TrainingRun, "start", _recording(TrainingRun.start, started))
    yield tmp_path / "runs"
    for run in started:
        run.stop()
        assert run.join(30)


def _recording(start, started: list):
    def wrapper(self):
        result = start(self)
        started.append(self)
        return result

    return wrapper


def _wait(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the run"
        time.sleep(0.05)


def _page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=TIMEOUT)


def _start(at: AppTest, **widgets) -> AppTest:
    """Fill the form (a tiny subset unless told otherwise) and press Start."""
    widgets.setdefault("data", "tiny")
    for name, value in widgets.items():
        _widget(at, name).set_value(value)
    next(b for b in at.button if b.label == "Start training").click()
    return at.run()


def _widget(at: AppTest, name: str):
    key = f"train_{name}"
    for kind in ("selectbox", "radio", "number_input", "checkbox"):
        found = [w for w in getattr(at, kind) if w.key == key]
        if found:
            return found[0]
    raise KeyError(key)


def test_renders_the_form_with_the_seed_preset(runs_dir):
    at = _page().run()
    assert not at.exception
    values = {
        name: _widget(at, name).value
        for name in ("preset", "estimator", "tau", "anneal", "epochs", "batch", "lr", "seed", "data", "rao")
    }
    assert values == {
        "preset": "faithful",
        "estimator": "gumbel_softmax",
        "tau": 1.0,
        "anneal": False,
        "epochs": 10,
        "batch": 100,
        "lr": 1e-3,
        "seed": 0,
        "data": "demo",
        "rao": 10,
    }
    assert _widget(at, "device").value in ("cpu", "cuda")
    assert _widget(at, "precision").value == "auto"
    assert any("Start training" in b.label for b in at.button)
    assert "Start training" in at.info[0].value
    assert bound(at)["train_estimator"] == "gumbel_softmax" and bound(at)["train_epochs"] == 10
    assert not at.query_params  # defaults are left out of the URL


def test_an_old_url_with_the_old_estimator_name_still_opens(runs_dir):
    at = _page()
    at.query_params.update(estimator="relaxed")
    at.run()
    assert not at.exception
    assert _widget(at, "estimator").value == "gumbel_softmax"


def test_url_settings_fill_the_form_and_bad_ones_fall_back(runs_dir):
    at = _page()
    at.query_params.update(preset="linear", estimator="straight_through", tau="100", epochs="two", data="tiny")
    at.run()
    assert not at.exception
    assert _widget(at, "preset").value == "linear"
    assert _widget(at, "estimator").value == "straight_through"
    assert _widget(at, "tau").value == 10.0  # clamped to the widget's bounds
    assert _widget(at, "epochs").value == 10  # malformed: the preset's value
    assert _widget(at, "data").value == "tiny"


def test_bookmarks_with_the_longer_names_of_older_versions_still_open(runs_dir):
    at = _page()
    at.query_params.update(
        preset="Jang et al. 2017 (20 × 10)",
        binarize="Grey levels (as the reference script)",
        precision="Auto (measured on this machine)",
    )
    at.run()
    assert not at.exception and not at.warning
    assert _widget(at, "preset").value == "jang"
    assert _widget(at, "binarize").value == "none" and _widget(at, "precision").value == "auto"


def test_start_builds_the_config_from_the_form_and_saves_a_model(runs_dir):
    at = _start(_page().run(), preset="linear", estimator="straight_through", anneal=True, epochs=1, seed=3)
    assert not at.exception and not at.error
    run = at.session_state["train_run"]
    assert isinstance(run, TrainingRun)
    config = run.config
    assert not config.model.relu_logits and config.estimator == "straight_through" and config.seed == 3
    assert config.anneal_rate > 0 and config.epochs == 1
    assert (config.train_subset, config.test_subset) == (1000, 500)
    assert "Straight-through" in " ".join(c.value for c in at.caption)  # the run's summary says what runs
    assert bound(at)["train_estimator"] == "straight_through"
    assert run.join(30)
    at.run()
    snap = run.snapshot()
    assert snap.status == "finished" and snap.checkpoint.exists()
    assert snap.checkpoint.parent.parent == runs_dir / "page"  # one folder per browser session
    assert snap.checkpoint in at.session_state["trained_models"]  # offered in the sidebar and the editor
    assert "Finished" in at.success[0].value and snap.checkpoint.stem in at.success[0].value
    assert str(runs_dir) not in at.success[0].value  # the run's name, never the server's folder
    assert len(at.get("plotly_chart")) == 4  # curves, diagnostics, reconstructions, prior samples


def test_pause_resume_and_stop(runs_dir):
    at = _start(_page().run(), epochs=200)
    run = at.session_state["train_run"]
    assert not any(b.label == "Start training" and not b.disabled for b in at.button)  # one run per session
    at.button(key="train_pause").click().run()
    assert run.snapshot().status == "paused"
    at.button(key="train_resume").click().run()
    assert run.snapshot().status == "running"
    at.button(key="train_stop").click().run()
    assert run.join(30)
    at.run()
    snap = run.snapshot()
    assert snap.status == "stopped" and snap.checkpoint.exists()
    assert "Stopped" in at.success[0].value
    assert not at.exception


def test_missing_data_says_where_to_put_it(runs_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GUMBEL_LAB_DATA", str(tmp_path / "empty"))
    at = _page().run()
    assert not at.exception
    assert "MNIST is not available" in at.error[0].value
    assert str((tmp_path / "empty" / "MNIST" / "raw").resolve()) in at.error[0].value


def test_a_run_past_the_servers_limit_waits_in_line_and_can_leave_it(runs_dir, monkeypatch):
    """No refusal: the second visitor's run waits, the page says its place, the lecturer's line
    lists both runs, and Leave the line takes it out."""
    monkeypatch.setenv("GUMBEL_LAB_MAX_RUNS", "1")
    first = _start(_page().run(), epochs=200)
    first.session_state["train_run"].pause()
    second = _start(_page().run())
    assert not second.exception and not second.error
    run = second.session_state["train_run"]
    assert run.snapshot().status == "queued"
    assert "1st in line" in second.info[0].value and "starts by itself" in second.info[0].value
    assert any("Server: training 1 of 1 at once · 1 waiting" in e.label for e in second.expander)
    assert any(f"1. {run.name} (waiting)" in m.value for m in second.markdown)
    assert not any(b.label == "Start training" and not b.disabled for b in second.button)
    second.button(key="train_leave").click().run()
    assert run.join(30)
    second.run()
    snap = run.snapshot()
    assert snap.status == "stopped" and not snap.began
    assert "left the server's line before its turn: you left it" in second.info[0].value
    assert not second.exception and not second.error


def test_a_failed_run_shows_its_error(runs_dir, monkeypatch):
    def broken(self, *args):
        raise RuntimeError("out of memory")

    monkeypatch.setattr("core.training.loop.Trainer.__init__", broken)
    at = _start(_page().run())
    run = at.session_state["train_run"]
    assert run.join(30)
    at.run()
    assert not at.exception
    assert "The run failed: RuntimeError: out of memory" in at.error[0].value
    assert not any(b.disabled for b in at.button if b.label == "Start training")  # free to start again


def test_an_abandoned_run_says_so_when_its_owner_comes_back(runs_dir, monkeypatch):
    monkeypatch.setenv("GUMBEL_LAB_ABANDON_SECONDS", "1")
    at = _start(_page().run(), epochs=200)
    run = at.session_state["train_run"]
    assert run.join(30)  # the page was not rerun: nobody polled the run
    at.run()
    snap = run.snapshot()
    assert snap.status == "stopped" and snap.abandoned and snap.checkpoint.exists()
    assert "no page watched it" in at.warning[0].value
    assert "Stopped" in at.success[0].value
    assert not any(b.disabled for b in at.button if b.label == "Start training")


def test_a_run_that_ends_while_the_page_draws_is_drawn_from_one_snapshot(runs_dir):
    """The run may end between the page's snapshot and its next look at the run: the page must
    draw what the snapshot says (still running), never an ending without its checkpoint."""
    at = _start(_page().run(), epochs=200)
    run = at.session_state["train_run"]
    _wait(lambda: run.snapshot().step > 0)
    running = run.snapshot()
    run.stop()
    assert run.join(30) and run.done
    run.snapshot = lambda: running  # the snapshot the page took just before the end arrived
    at.run()
    assert not any("before its first step" in info.value for info in at.info)
    assert at.button(key="train_stop")  # still drawn as the live run it was; the next redraw ends it
    del run.snapshot
    at.run()
    assert "Stopped" in at.success[0].value
    assert not at.exception


def test_a_run_that_gets_no_cpu_says_it_waits(runs_dir):
    at = _start(_page().run(), epochs=200)
    run = at.session_state["train_run"]
    _wait(lambda: run.snapshot().step > 0)
    os.kill(run.pid, signal.SIGSTOP)  # what a starved run looks like from the page: no steps
    try:
        time.sleep(STALL_SECONDS + 0.5)
        at.run()
    finally:
        os.kill(run.pid, signal.SIGCONT)
    text = at.get("progress")[0].proto.text
    assert re.match(r"Waiting for CPU: no step for \d+ s · Epoch \d+ of 200 · step [\d,]+ of", text), text


def test_binarized_data_and_reinforce_reach_the_run(runs_dir):
    """The Pixels option and the score-function estimator go from the form into the run's config."""
    at = _page()
    at.query_params.update(binarize="dynamic")
    at.run()
    assert _widget(at, "binarize").value == "dynamic"
    at = _start(at, preset="jang", estimator="score_function", epochs=1)
    assert not at.exception and not at.error
    run = at.session_state["train_run"]
    config = run.config
    assert (config.binarize, config.estimator, config.model.latent_vars) == ("dynamic", "score_function", 20)
    assert bound(at)["train_binarize"] == "dynamic"
    assert run.join(60)
    assert run.snapshot().status == "finished"


def test_precision_reaches_the_run_and_its_device_line_says_which_and_why(runs_dir):
    """The form's precision (from the URL here) goes into the run's config; once the run has
    decided, the line under the run's name gives the precision its products use, and why."""
    at = _page()
    at.query_params.update(precision="fp32")
    at.run()
    assert _widget(at, "precision").value == "fp32"
    at = _start(at, epochs=1)
    assert not at.exception and not at.error
    run = at.session_state["train_run"]
    assert run.config.precision == "fp32" and at.query_params["train_precision"] == "float32"
    assert run.join(60)
    at.run()
    assert run.snapshot().precision == "fp32 (asked for)"
    assert any("precision fp32 (asked for)" in c.value for c in at.caption)


def test_tau_and_lr_change_mid_run_from_the_page(runs_dir):
    at = _start(_page().run(), epochs=200)
    run = at.session_state["train_run"]
    _wait(lambda: run.snapshot().step >= 2)
    at.run()
    at.number_input(key="train_live_tau").set_value(0.4)
    at.number_input(key="train_live_lr").set_value(3e-4)
    at.button(key="train_apply_change").click().run()
    assert not at.exception
    _wait(lambda: len(run.snapshot().changes) == 2)
    change = run.snapshot().changes[-1]
    _wait(lambda: run.snapshot().step > change.step + 1)
    assert run.snapshot().status == "running"  # no pause, no restart
    later = [s for s in run.snapshot().steps if s.step > change.step]
    assert later and all((s.tau, s.lr) == (0.4, 3e-4) for s in later)
    at.run()
    assert len(at.latex) >= 3  # relaxed vs exact, the VAE objective, the diagnostics
    shapes = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["shapes"]
    assert any(shape["x0"] == change.step for shape in shapes)  # the chart marks the moment
    notes = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["annotations"]
    assert any("τ → 0.4" in note["text"] for note in notes)


def _seen_epoch(at: AppTest) -> int:
    return int(next(m for m in (c.value for c in at.caption) if m.startswith("After epoch")).split()[2].rstrip(":"))


def test_a_new_epoch_redraws_the_page_at_once_only_for_the_first_preview(runs_dir):
    """A tiny run ends an epoch every fraction of a second; redrawing the whole page for each
    kept the Stop button out of reach. The first digits replace the placeholder at once; a
    later epoch waits its turn, drawn at the next page run."""
    at = _start(_page().run(), epochs=200)
    run = at.session_state["train_run"]
    _wait(lambda: run.snapshot().preview is not None and run.snapshot().preview.epoch >= 1)
    first = run.snapshot()
    _wait(lambda: run.snapshot().preview.epoch > first.preview.epoch)
    second = run.snapshot()
    run.stop()
    assert run.join(30)
    no_preview = dataclasses.replace(first, preview=None)

    def sequence(before, after):
        calls = iter([before])  # the page's own snapshot; the live fragment's come after it
        return lambda: next(calls, after)

    run.snapshot = sequence(no_preview, first)
    at.run()
    assert _seen_epoch(at) == first.preview.epoch  # the page reran for its first preview
    run.snapshot = sequence(first, second)
    at.run()
    assert not at.exception
    assert _seen_epoch(at) == first.preview.epoch  # not rebuilt for the newer epoch yet
    run.snapshot = lambda: second
    at.run()
    assert _seen_epoch(at) == second.preview.epoch
