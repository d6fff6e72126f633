"""The Graphs page: renders, takes its settings from the URL and writes them back, survives
hostile URLs, shows bad input as a message, and learns off the script thread."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import bound, run_page
from tests.test_page_structures import array, chart

PAGE = "views/graphs.py"
CHARTS = ("tree_draw", "tree_edges", "tree_probabilities", "graph_draw", "graph_edges")


def page(**query: str) -> AppTest:
    return run_page(PAGE, **query)


def test_the_default_renders_every_section_and_mirrors_the_settings_in_the_url() -> None:
    at = page()
    assert not at.exception and not at.error
    assert [h.value for h in at.header] == [
        "Spanning trees",
        "Edge-independent graphs",
        "A live task: recovering a planted tree",
    ]
    for key in CHARTS:
        assert chart(at, key)["data"]
    assert any("NOT" in c.value.upper() and "P(T) ∝ ∏ w_e" in c.value for c in at.caption)
    assert chart(at, "tree_probabilities")["data"][1]["name"] == "Gibbs P(T), exact (enumeration)"
    assert bound(at) == {
        "graphs_n": 6,
        "graphs_preset": "planted_tree",
        "graphs_seed": 0,
        "graphs_taus": [0.1, 0.5, 2.0],
        "graphs_draws": 1000,
        "graphs_steps": 200,
        "graphs_learn_tau": 0.5,
    }
    assert dict(at.query_params) == {}  # defaults are left out of the URL


def test_url_settings_fill_the_widgets_and_round_trip() -> None:
    query = dict(n="8", preset="two_clusters", seed="7", taus="0.2,1,5", draws="200", steps="100", ltau="1")
    at = page(**query)
    assert not at.exception and not at.error
    assert at.slider(key="graphs_n").value == 8
    assert at.selectbox(key="graphs_preset").value == "two_clusters"
    assert at.number_input(key="graphs_seed").value == 7
    assert at.button_group(key="graphs_taus").value == [0.2, 1.0, 5.0]
    assert at.selectbox(key="graphs_draws").value == 200
    assert at.select_slider(key="graphs_steps").value == 100
    assert at.select_slider(key="graphs_learn_tau").value == 1.0
    assert chart(at, "tree_probabilities")["data"][1]["name"] == "Gibbs P(T), Monte Carlo"
    assert len(chart(at, "tree_draw")["layout"]["annotations"]) == 4
    url = {
        "graphs_n": "8",
        "graphs_preset": "Two clusters",
        "graphs_seed": "7",
        "graphs_taus": ["0.2", "1", "5"],
        "graphs_draws": "200",
        "graphs_steps": "100",
        "graphs_learn_tau": "1",
    }
    assert dict(at.query_params) == url  # today's bookmark, in the bound names and forms
    again = page(**url)
    assert dict(again.query_params) == url and bound(again) == bound(at)


@pytest.mark.parametrize(
    "query",
    [
        dict(n="99999999999999999999", taus="0,abc,1e999", preset="<script>alert(1)</script>"),
        dict(n="-3", seed="-1", draws="1e999", steps="NaN", ltau="inf"),
        dict(n="٣", taus=",,,", preset="", seed="9" * 40),
    ],
)
def test_hostile_urls_give_a_page_not_a_traceback(query: dict[str, str]) -> None:
    at = page(**query)
    assert not at.exception and not at.error
    assert 3 <= at.slider(key="graphs_n").value <= 10
    assert at.selectbox(key="graphs_preset").value in ("uniform", "planted_tree", "two_clusters", "random")
    assert at.button_group(key="graphs_taus").value


def test_moving_tau_changes_the_drawing_and_the_url() -> None:
    at = page()
    before = chart(at, "tree_draw")
    at.button_group(key="graphs_taus").set_value([0.05, 2.0]).run()
    assert not at.exception
    after = chart(at, "tree_draw")
    assert [a["text"] for a in after["layout"]["annotations"]] == [
        "perturb-and-max tree",
        "relaxed, τ = 0.05",
        "relaxed, τ = 2",
    ]
    assert after != before and bound(at)["graphs_taus"] == [0.05, 2.0]


def test_no_temperature_is_a_message_not_a_traceback() -> None:
    at = page()
    at.button_group(key="graphs_taus").set_value([]).run()
    assert not at.exception
    assert len(at.error) == 1 and "temperature" in at.error[0].value
    assert at.header[0].value == "A live task: recovering a planted tree"


def test_training_runs_off_the_script_thread_and_draws_a_curve_per_estimator() -> None:
    at = page(n="5", steps="50")
    assert not at.exception
    at.button[0].click().run()  # Train
    assert not at.exception
    worker, config = at.session_state["graphs_worker"]
    assert worker.join(120) and config.steps == 50
    at.run()
    assert not at.exception and not at.error
    curves = chart(at, "learning_curves")
    assert [a["text"] for a in curves["layout"]["annotations"]] == [
        "Matrix-tree relaxation",
        "Straight-through",
        "Score function (Wilson)",
    ]
    steps = [array(trace["x"]).tolist() for trace in curves["data"][::2]]
    assert steps == [[0, 10, 20, 30, 40, 50]] * 3
    assert "finished" in at.get("progress")[0].proto.text


def test_stop_ends_a_run_early() -> None:
    at = page(n="10", steps="500")
    at.button[0].click().run()
    worker, _ = at.session_state["graphs_worker"]
    worker.stop()
    assert worker.join(30)
    assert worker.snapshot().status == "stopped"
    at.run()
    assert not at.exception and "stopped" in at.get("progress")[0].proto.text
