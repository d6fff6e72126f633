"""The Sweep page's static parts (AppTest runs no fragments): the form, and no Ray until a sweep starts."""

from __future__ import annotations

import sys

from core.sweeps.grid import MAX_TRIALS
from core.training.config import ESTIMATORS
from core.vae import PRESETS
from tests.apptest import bound, run_page


def test_the_form_renders_without_starting_ray(tmp_path, monkeypatch):
    monkeypatch.setenv("GUMBEL_LAB_RUNS", str(tmp_path / "runs"))
    at = run_page("views/sweep.py")
    assert not at.exception and not at.error
    assert at.button_group(key="sweep_tau").value == [0.5, 1.0]
    assert "Start sweep" in [b.label for b in at.get("form_submit_button")]
    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized()  # the page does not wait for Ray


def test_the_grid_lives_in_the_url(tmp_path, monkeypatch):
    monkeypatch.setenv("GUMBEL_LAB_RUNS", str(tmp_path / "runs"))
    grid = {"sweep_tau", "sweep_est", "sweep_anneal", "sweep_lr", "sweep_preset", "sweep_seeds", "sweep_epochs"}
    assert set(bound(run_page("views/sweep.py"))) == grid | {"sweep_data"}
    at = run_page(
        "views/sweep.py",
        sweep_tau=["0.2", "2"],
        sweep_est="Straight-through",
        sweep_seeds="inf",  # a whole-number widget's URL value that stops Streamlit 1.67's page: dropped
        sweep_epochs="1e9",  # beyond the widget's range: the largest it takes
        sweep_data="Quick demo (5k / 1k)",
    )
    assert not at.exception and not at.error
    assert at.button_group(key="sweep_tau").value == [0.2, 2.0]
    assert at.button_group(key="sweep_est").value == ["straight_through"]
    assert at.number_input(key="sweep_seeds").value == 1 and at.number_input(key="sweep_epochs").value == 100
    assert at.selectbox(key="sweep_data").value == "demo"


def test_an_axis_with_every_toggle_off_is_refused_with_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("GUMBEL_LAB_RUNS", str(tmp_path / "runs"))
    at = run_page("views/sweep.py")
    at.button_group(key="sweep_est").set_value([])
    at.button_group(key="sweep_lr").set_value([])
    at.get("form_submit_button")[0].click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Choose at least an estimator and a learning rate to sweep."]
    assert "sweep_run" not in at.session_state  # nothing started, not the defaults swept unasked


def test_a_grid_past_the_trial_limit_is_refused_and_the_message_stays(tmp_path, monkeypatch):
    monkeypatch.setenv("GUMBEL_LAB_RUNS", str(tmp_path / "runs"))
    at = run_page("views/sweep.py")
    at.button_group(key="sweep_tau").set_value([0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0])
    at.button_group(key="sweep_est").set_value(list(ESTIMATORS))
    at.button_group(key="sweep_lr").set_value([1e-4, 3e-4, 1e-3, 3e-3])
    at.button_group(key="sweep_preset").set_value(list(PRESETS))  # 7 x 6 x 4 x 3 = 504 trials
    at.get("form_submit_button")[0].click().run()
    assert not at.exception
    assert any(f"a sweep runs at most {MAX_TRIALS}" in e.value for e in at.error)  # not wiped by a rerun
    assert "sweep_run" not in at.session_state
