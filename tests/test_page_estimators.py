"""The Gradient estimators page: renders, reacts to widgets, shows errors, degrades without a model."""

from __future__ import annotations

import json

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.names import SHORT_LABELS
from core.store.checkpoints import save_checkpoint
from core.vae import CategoricalVAE, VAEConfig
from tests.apptest import bound, metric, run_page
from ui import models


def page(**query: str):
    return run_page("views/estimators.py", **query)


def first_trace_y(at: AppTest) -> list[float]:
    return json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["y"]


@pytest.fixture
def no_models(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "SHIPPED_DIR", tmp_path / "none")


@pytest.fixture
def small_model(tmp_path, monkeypatch, data_root):
    torch.manual_seed(0)
    save_checkpoint(CategoricalVAE(VAEConfig(latent_vars=3, classes=4, hidden=(16,))), tmp_path / "best.pt")
    monkeypatch.setattr(models, "SHIPPED_DIR", tmp_path)


def test_the_default_renders_figures_and_mirrors_the_settings_in_the_url() -> None:
    at = page()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2
    assert float(metric(at, "Exact gradient norm ‖∇‖")) > 0
    # The lowest MSE is the metric's value, a number; the estimator that reached it is named below
    # (a name as the value was cut to "Plain …" in presenter view).
    lowest = next(m for m in at.metric if m.label == "Lowest MSE")
    assert float(lowest.value) > 0 and lowest.delta.split(",")[0] in SHORT_LABELS.values()
    assert bound(at)["est_preset"] == "quadratic" and bound(at)["est_classes"] == 10
    assert not at.query_params  # defaults are left out of the URL


def test_changing_the_classes_changes_the_numbers_and_the_figure() -> None:
    at = page(N="200")
    norm, curve = metric(at, "Exact gradient norm ‖∇‖"), first_trace_y(at)
    at.slider(key="est_classes").set_value(4).run()
    assert not at.exception
    assert metric(at, "Exact gradient norm ‖∇‖") != norm
    assert first_trace_y(at) != curve
    assert bound(at)["est_classes"] == 4


def test_the_url_sets_the_widgets() -> None:
    at = page(preset="reward", K="6", V="2", N="200", tau="0.5,2.0")
    assert not at.exception
    assert at.slider(key="est_classes").value == 6
    assert at.select_slider(key="est_taus").value == (0.5, 2.0)
    assert at.radio(key="est_preset").value == "reward"
    assert at.query_params["est_classes"] == "6" and at.query_params["est_taus"] == ["0.5", "2"]  # today's names


def test_bad_input_shows_an_error_not_a_traceback() -> None:
    at = page(N="200", K="20", V="5")
    assert not at.exception
    assert "too many to enumerate" in at.error[0].value
    at = page(preset="reward", K="5", reward="7", N="200")
    assert not at.exception
    assert "rewarded class" in at.error[0].value


def test_the_decoder_preset_says_when_no_model_is_available(no_models) -> None:
    at = page(preset="decoder")
    assert not at.exception
    assert "No trained model" in at.info[0].value
    assert not at.get("plotly_chart")


def test_the_decoder_preset_differentiates_a_model_on_a_test_digit(small_model) -> None:
    at = page(preset="decoder", N="200", var="2")
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 2
    norm = metric(at, "Exact gradient norm ‖∇‖")
    at.number_input(key="est_variable").set_value(1).run()
    assert metric(at, "Exact gradient norm ‖∇‖") != norm
    at.number_input(key="est_variable").set_value(3).run()
    assert not at.exception
    assert "between 0 and 2" in at.error[0].value
