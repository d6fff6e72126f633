"""Home, Temperature and Latent editor headless (AppTest): they render, and widgets change what is shown."""

import pytest
from streamlit.testing.v1 import AppTest

from core.store.checkpoints import save_checkpoint
from core.vae import CategoricalVAE
from tests.apptest import run_page
from ui import models


def run(page: str, **query) -> AppTest:
    app = run_page(page, **query)
    assert not app.exception, app.exception
    return app


def chart_specs(app: AppTest) -> list[str]:
    return [chart.proto.spec for chart in app.get("plotly_chart")]


def pictures(app: AppTest) -> dict[str, str]:
    """Caption -> media URL of every st.image; the URL names a hash of the picture's bytes."""
    return {caption: url for image in app.get("image") for caption, url in zip(image.captions, image.value)}


def test_app_opens_on_home_with_the_sidebar():
    app = run("app.py")
    assert app.title[0].value == "Gumbel Lab"
    assert app.sidebar.selectbox[0].label == "Device"
    assert "CPU" in app.caption[0].value or "GPU" in app.caption[0].value
    assert len(chart_specs(app)) == 1


def test_temperature_logit_slider_changes_the_charts():
    app = run("views/temperature.py")
    before = chart_specs(app)
    assert len(before) == 5  # means, samples, curve, frequencies, simplex (3 classes)
    app.slider(key="logit_0").set_value(-4.0).run()
    after = chart_specs(app)
    assert all(a != b for a, b in zip(after[:2], before[:2]))
    assert app.query_params["logits"].startswith("-4")


def test_temperature_preset_and_classes_set_the_sliders():
    app = run("views/temperature.py")
    app.slider(key="classes").set_value(5).run()
    app.selectbox(key="preset").set_value("peaked").run()
    assert [app.slider(key=f"logit_{i}").value for i in range(5)] == [2.0, 0.0, 0.0, 0.0, 0.0]
    assert any("simplex" in info.value for info in app.info)  # the simplex view needs 3 classes


def test_temperature_reads_a_bookmarked_view():
    app = run("views/temperature.py", k="4", preset="uniform", taus="0.5,2", seed="7", logits="1,2,3,4")
    assert app.slider(key="classes").value == 4
    assert sorted(app.button_group(key="taus").value) == [0.5, 2.0]
    assert app.slider(key="logit_3").value == 4.0
    assert app.number_input(key="seed").value == 7


def test_temperature_ignores_malformed_url_values():
    app = run("views/temperature.py", k="eleven", taus="hot", seed="x")
    assert app.slider(key="classes").value == 3
    assert app.number_input(key="seed").value == 0


def test_temperature_without_temperatures_warns():
    app = run("views/temperature.py")
    app.button_group(key="taus").set_value([]).run()
    assert not app.exception
    assert app.warning and "at least one temperature" in app.warning[0].value


@pytest.fixture
def one_model(tmp_path, monkeypatch):
    save_checkpoint(CategoricalVAE(), tmp_path / "best.pt", {"name": "best"})
    monkeypatch.setattr(models, "SHIPPED_DIR", tmp_path)
    return tmp_path / "best.pt"


def test_latent_editor_class_change_redraws_the_digit(one_model):
    app = run("views/latent_editor.py")
    digit_before = pictures(app)["Decoded digit"]
    current = app.segmented_control(key="editor_class").value
    app.segmented_control(key="editor_class").set_value((current + 1) % 10).run()
    assert not app.exception
    assert pictures(app)["Decoded digit"] != digit_before
    assert app.query_params["code"][0] == str((current + 1) % 10)


def test_latent_editor_variable_and_randomize(one_model):
    app = run("views/latent_editor.py")
    app.number_input(key="editor_variable").set_value(7).run()
    assert "variable 7" in app.tabs[0].label
    assert any(caption.startswith("Variable 7 set to each class") for caption in pictures(app))
    code_before = app.query_params["code"]
    app.button[2].click().run()  # Randomize
    assert app.query_params["code"] != code_before
    assert app.query_params["code"][7] != code_before[7]


def test_latent_editor_encodes_a_test_digit(one_model, data_root):
    app = run("views/latent_editor.py")
    app.number_input[1].set_value(3).run()
    app.button[1].click().run()
    assert not app.exception
    assert "test digit #3" in app.caption[0].value
    assert len(chart_specs(app)) == 2  # grid, probabilities
    captions = list(pictures(app))  # original, decoding, sweep, interpolation
    assert captions[:2] == ["Original", "Decoded digit"] and len(captions) == 4


def test_latent_editor_opens_a_bookmarked_code(one_model):
    code = "0123456789" * 3
    app = run("views/latent_editor.py", code=code, var="4")
    assert app.query_params["code"] == code
    assert app.segmented_control(key="editor_class").value == 4


def test_latent_editor_without_models_explains(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "SHIPPED_DIR", tmp_path)
    app = run("views/latent_editor.py")
    assert "No model" in app.info[0].value


def test_latent_editor_shows_a_broken_model_as_an_error(tmp_path, monkeypatch):
    (tmp_path / "best.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setattr(models, "SHIPPED_DIR", tmp_path)
    app = run("views/latent_editor.py")
    assert "not a valid Gumbel Lab checkpoint" in app.error[0].value
