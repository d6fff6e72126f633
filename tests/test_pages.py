"""Home, Temperature and Latent editor headless (AppTest): they render, and widgets change what is shown.

The browser components' own drawing is tested in Chromium (tests/test_browser_components.py);
here, what the server sends them and does with what they report."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from browser import components as browser
from core.store.checkpoints import save_checkpoint
from core.vae import CategoricalVAE, VAEConfig
from tests.apptest import bound, browser_report, run_page
from ui import models


def run(page: str, **query) -> AppTest:
    app = run_page(page, **query)
    assert not app.exception, app.exception
    return app


def chart_specs(app: AppTest) -> list[str]:
    return [chart.proto.spec for chart in app.get("plotly_chart")]


def component_data(app: AppTest) -> tuple[dict, bytes]:
    """The header and payload the page's browser component was sent on the last run."""
    (proto,) = [e.proto for e in app.get("bidi_component") if e.proto.component_name.startswith("gumbel_lab")]
    if proto.WhichOneof("data") == "bytes":
        return browser.unpack_message(proto.bytes)
    return json.loads(proto.json), b""


def pictures(app: AppTest) -> dict[str, str]:
    """Caption -> media URL of every st.image; the URL names a hash of the picture's bytes."""
    return {caption: url for image in app.get("image") for caption, url in zip(image.captions, image.value)}


def test_app_opens_on_home_with_the_sidebar():
    app = run("app.py")
    assert app.title[0].value == "Gumbel Lab"
    assert app.sidebar.selectbox[0].label == "Device"
    assert "CPU" in app.caption[0].value or "GPU" in app.caption[0].value
    assert len(chart_specs(app)) == 1


def test_temperature_reported_logits_change_the_check_and_the_url():
    """Logits the browser reports on release reach the server's Gumbel-max check and the URL."""
    app = run("views/temperature.py")
    before = chart_specs(app)
    assert len(before) == 1  # the Gumbel-max check; the relaxed samples are drawn in the browser
    header, _ = component_data(app)
    assert header["logits"] == [1.0, 1.0, -1.0] and header["taus"] == [0.1, 0.5, 1.0, 5.0]
    app.session_state["logit_0"] = -4.0
    app.run()
    assert chart_specs(app) != before
    assert app.query_params["logits"].startswith("-4")
    assert component_data(app)[0]["version"] == header["version"]  # the browser keeps its own logits


def test_temperature_takes_the_logits_and_tau_the_browser_reports():
    app = run("views/temperature.py")
    before = chart_specs(app)
    browser_report(app, "gumbel_lab_temperature", "edit", {"logits": [-4.0, 1.0, 0.5], "tau": 0.05})
    assert not app.exception and not app.error
    assert app.query_params["logits"] == "-4,1,0.5" and app.query_params["tau"] == "0.05"
    assert chart_specs(app) != before


@pytest.mark.parametrize(
    "report",
    [{"logits": [1.0, 2.0], "tau": 1.0}, {"logits": [9.0, 0.0, 0.0], "tau": 1.0}, {"logits": "1,2,3"}, None],
)
def test_temperature_refuses_a_hostile_report_with_a_message(report):
    app = run("views/temperature.py")
    browser_report(app, "gumbel_lab_temperature", "edit", report)
    assert not app.exception and "the browser" in app.error[0].value
    assert app.query_params["logits"] == "1,1,-1"  # unchanged


def test_temperature_preset_and_classes_set_the_sliders():
    app = run("views/temperature.py")
    version = component_data(app)[0]["version"]
    app.slider(key="classes").set_value(5).run()
    app.selectbox(key="preset").set_value("peaked").run()
    header, _ = component_data(app)
    assert header["logits"] == [2.0, 0.0, 0.0, 0.0, 0.0]
    assert [app.session_state[f"logit_{i}"] for i in range(5)] == [2.0, 0.0, 0.0, 0.0, 0.0]
    assert header["version"] > version  # set on the server: the browser's sliders take them


def test_temperature_reads_a_bookmarked_view():
    app = run("views/temperature.py", k="4", preset="uniform", taus="0.5,2", seed="7", logits="1,2,3,4", tau="0.3")
    assert app.slider(key="classes").value == 4
    assert sorted(app.button_group(key="taus").value) == [0.5, 2.0]
    header, _ = component_data(app)
    assert header["logits"] == [1.0, 2.0, 3.0, 4.0] and header["taus"] == [0.5, 2.0]
    assert header["tau"] == 0.3 and header["seed"] == 7
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


def test_latent_editor_class_change_reaches_the_browser(one_model):
    """A class picked in the server's controls goes to the browser as a new code, which it takes."""
    app = run("views/latent_editor.py")
    header, _ = component_data(app)
    path_before = next(url for caption, url in pictures(app).items() if caption.startswith("From this code"))
    current = app.segmented_control(key="editor_class").value
    app.segmented_control(key="editor_class").set_value((current + 1) % 10).run()
    assert not app.exception
    after, _ = component_data(app)
    assert after["positions"][0] == (current + 1) % 10 and after["positions"][1:] == header["positions"][1:]
    assert after["version"] > header["version"]
    assert next(url for caption, url in pictures(app).items() if caption.startswith("From this code")) != path_before
    assert app.query_params["code"][0] == str((current + 1) % 10)


def test_latent_editor_takes_the_code_the_browser_reports(one_model):
    """A drag's soft code, the selection, τ and noise seed reach the session, the strips and the URL."""
    app = run("views/latent_editor.py")
    header, _ = component_data(app)
    positions = [float(c) for c in "0123456789" * 3]
    positions[7] = 4.25
    edit = {"positions": positions, "variable": 7, "tau": 0.2, "seed": 5}
    browser_report(app, "gumbel_lab_latent_editor", "edit", edit)
    assert not app.exception and not app.error
    query = app.query_params
    assert query["code"] == "0123456" + "4" + "89" + "0123456789" * 2 and query["mix"] == "7:4.25"
    assert bound(app)["editor_variable"] == 7 and query["tau"] == "0.2" and query["noise"] == "5"
    assert app.segmented_control(key="editor_class").value == 4 and "variable 7" in app.tabs[0].label
    after, payload = component_data(app)
    assert after["positions"] == positions and after["version"] == header["version"] and payload == b""


@pytest.mark.parametrize(
    "report",
    [
        {"positions": [0.0] * 29, "variable": 0, "tau": 1.0, "seed": 0},
        {"positions": [0.0] * 29 + [12.0], "variable": 0, "tau": 1.0, "seed": 0},
        {"positions": [0.0] * 30, "variable": 30, "tau": 1.0, "seed": 0},
        {"positions": [0.0] * 30, "variable": 0, "tau": "<b>1</b>", "seed": 0},
        "<script>alert(1)</script>",
    ],
)
def test_latent_editor_refuses_a_hostile_report_with_a_message(one_model, report):
    app = run("views/latent_editor.py")
    code = app.query_params["code"]
    browser_report(app, "gumbel_lab_latent_editor", "edit", report)
    assert not app.exception and "the browser" in app.error[0].value
    assert app.query_params["code"] == code


def test_latent_editor_sends_the_decoder_again_when_the_browser_lacks_it(one_model):
    app = run("views/latent_editor.py")
    header, payload = component_data(app)
    app.run()
    assert component_data(app)[1] == b""
    browser_report(app, "gumbel_lab_latent_editor", "missing", header["model"])
    assert component_data(app)[1] == payload


def test_latent_editor_sends_the_decoder_once_per_session(one_model):
    """The weights travel with the first run; later runs of the same session send only the code."""
    app = run("views/latent_editor.py")
    header, payload = component_data(app)
    assert header["dtype"] in (16, 32) and len(payload) == header["bytes"] > 0
    assert header["sizes"] == [300, 256, 512, 784] and header["side"] == 28
    app.number_input(key="editor_variable").set_value(3).run()
    again, payload = component_data(app)
    assert payload == b"" and again["model"] == header["model"] and again["variable"] == 3


def test_latent_editor_falls_back_to_the_server_for_a_large_model(tmp_path, monkeypatch):
    save_checkpoint(CategoricalVAE(VAEConfig(hidden=(16, 8))), tmp_path / "best.pt", {"name": "best"})
    monkeypatch.setattr(models, "SHIPPED_DIR", tmp_path)
    monkeypatch.setattr(browser, "MAX_DECODER_PARAMETERS", 100)
    app = run("views/latent_editor.py")
    assert not [e for e in app.get("bidi_component") if e.proto.component_name.startswith("gumbel_lab")]
    assert any("drawn on the server" in info.value for info in app.info)
    assert "Decoded digit" in pictures(app) and len(chart_specs(app)) == 1  # the server's grid


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
    assert len(chart_specs(app)) == 1  # probabilities; the grid is drawn in the browser
    assert len(pictures(app)) == 2  # sweep, interpolation; the browser draws the original and its decoding
    header, _ = component_data(app)
    assert len(header["original"]) == 784 and 0 <= min(header["original"]) <= max(header["original"]) <= 1
    assert len(header["posterior"]) == 300 and max(header["posterior"]) <= 0  # log q(z | x)


def test_latent_editor_opens_a_bookmarked_code(one_model):
    code = "0123456789" * 3
    app = run("views/latent_editor.py", code=code, var="4")
    assert app.query_params["code"] == code
    assert app.segmented_control(key="editor_class").value == 4


def test_latent_editor_opens_a_bookmarked_soft_code(one_model):
    """A soft variable, Play's τ and noise seed come back from the URL to the browser."""
    code = "0123456789" * 3
    app = run("views/latent_editor.py", code=code, mix="4:4.5,7:2.25,99:1.5,3:9", tau="0.3", noise="12")
    header, _ = component_data(app)
    expected = [float(c) for c in code]
    expected[4], expected[7] = 4.5, 2.25  # variable 99 does not exist; 3:9 is a whole class, not a mix
    assert header["positions"] == expected and header["tau"] == 0.3 and header["seed"] == 12
    assert app.query_params["code"][4] == "5" and app.query_params["code"][7] == "2"  # the nearest classes
    assert app.query_params["mix"] == "4:4.5,7:2.25"


def test_latent_editor_without_models_explains(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "SHIPPED_DIR", tmp_path)
    app = run("views/latent_editor.py")
    assert "No model" in app.info[0].value


def test_latent_editor_shows_a_broken_model_as_an_error(tmp_path, monkeypatch):
    (tmp_path / "best.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setattr(models, "SHIPPED_DIR", tmp_path)
    app = run("views/latent_editor.py")
    assert "not a valid Gumbel Lab checkpoint" in app.error[0].value
