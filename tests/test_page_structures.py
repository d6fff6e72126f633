"""The Subsets & permutations page: renders, reacts to widgets, shows errors, trains the sorter."""

from __future__ import annotations

import base64
import json

import numpy as np
from streamlit.testing.v1 import AppTest

from tests.apptest import bound, metric, run_page


def page(**query: str):
    return run_page("views/structures.py", **query)


def chart(at: AppTest, key: str) -> dict:
    """A chart's plotly spec, found by its element key."""
    for element in at.get("plotly_chart"):
        if element.proto.id.endswith(f"-{key}"):
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart with key {key!r}")


def array(values: list | dict) -> np.ndarray:
    """A trace's data: plotly sends numpy arrays as base64 ("bdata") with a dtype and shape."""
    if isinstance(values, list):
        return np.asarray(values)
    shape = [int(n) for n in str(values.get("shape", "-1")).split(",")]
    return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).reshape(shape)


def test_the_default_renders_every_section_and_mirrors_the_settings_in_the_url() -> None:
    at = page()
    assert not at.exception and not at.error
    assert [h.value for h in at.header] == [
        "k-subsets: Gumbel top-k and its relaxation",
        "Permutations: Gumbel-Sinkhorn",
        "A live task: learning to sort",
    ]
    assert len(at.get("plotly_chart")) == 4
    assert metric(at, "Sum of the relaxed k-hot") == "3.000"
    names = [trace["name"] for trace in chart(at, "inclusion")["data"]]
    assert names[0] == "exact inclusion probability"
    assert len(chart(at, "sinkhorn_grid")["data"]) == 9
    assert bound(at)["subsets_k"] == 3 and at.query_params["w"] == "6,4,3,2,1,1"  # the weights, by hand


def test_changing_k_and_tau_changes_what_is_shown() -> None:
    at = page()
    inclusion, gap = array(chart(at, "inclusion")["data"][0]["y"]), metric(at, "Gap to the hard k-hot")
    at.slider(key="subsets_k").set_value(4).run()
    assert not at.exception
    assert metric(at, "Sum of the relaxed k-hot") == "4.000"
    assert not np.allclose(array(chart(at, "inclusion")["data"][0]["y"]), inclusion)
    assert bound(at)["subsets_k"] == 4
    at.select_slider(key="subsets_tau").set_value(0.01).run()
    assert metric(at, "Gap to the hard k-hot") != gap
    assert float(metric(at, "Gap to the hard k-hot")) < 0.01


def test_the_permutation_grid_follows_its_controls() -> None:
    at = page()
    at.button_group(key="perm_iters").set_value([5, 50]).run()
    at.slider(key="perm_n").set_value(3).run()
    assert not at.exception
    grid = chart(at, "sinkhorn_grid")
    assert len(grid["data"]) == 6 and array(grid["data"][0]["z"]).shape == (3, 3)
    assert bound(at)["perm_iters"] == [5, 50] and bound(at)["perm_n"] == 3


def test_settings_come_from_the_url_and_many_items_fall_back_to_monte_carlo() -> None:
    at = page(n="18", k="5", tau="0.1")
    assert not at.exception and not at.error
    assert metric(at, "Sum of the relaxed k-hot") == "5.000"
    assert chart(at, "inclusion")["data"][0]["name"].startswith("Monte Carlo estimate")
    assert any("too many to enumerate" in info.value for info in at.info)


def test_bad_input_shows_an_error_not_an_exception() -> None:
    at = page()
    assert at.slider(key="subsets_k").max == 6  # k is bounded by the number of items
    at.slider(key="subsets_k").set_value(9).run()  # past its bound, as a stale session could hold
    assert not at.exception and not at.error and at.slider(key="subsets_k").value <= 6
    at.slider(key="subsets_k").set_value(3).run()
    for i in range(6):
        at.slider(key=f"subsets_w{i}").set_value(0.0 if i else 1.0)
    at.run()
    assert not at.exception
    assert any("only 1 of the 6 items" in e.value for e in at.error)
    at.button_group(key="perm_taus").set_value([]).run()
    assert not at.exception
    assert any("at least one temperature" in e.value for e in at.error)


def test_lowering_the_number_of_items_lowers_k_with_it() -> None:
    at = page()
    at.slider(key="subsets_k").set_value(5).run()
    at.slider(key="subsets_n").set_value(4).run()
    assert not at.exception and not at.error
    assert at.slider(key="subsets_k").value == 4


def test_train_runs_the_sorting_task_and_shows_its_accuracy() -> None:
    at = page(sn="5", steps="50")
    assert any("Press Train" in info.value for info in at.info)
    at.button[0].click().run()  # starts the run off the script thread
    assert not at.exception and not at.error
    worker = at.session_state["sort_run"][0]
    assert worker.join(120)
    at.run()  # the page picks up the finished run
    assert not at.exception and not at.error
    assert "sort_run" not in at.session_state
    assert float(metric(at, "Element accuracy").rstrip("%")) > 50
    assert metric(at, "Steps") == "50"
    assert array(chart(at, "sort_progress")["data"][0]["x"]).shape == (6,)
    hard = array(chart(at, "sort_hard")["data"][0]["z"])
    assert hard.shape == (5, 5) and (hard.sum(axis=0) == 1).all() and (hard.sum(axis=1) == 1).all()


def test_the_sorter_trains_off_the_script_thread_and_stops() -> None:
    at = page(sn="8", steps="500")
    at.button[0].click().run()
    assert not at.exception and not at.error
    worker = at.session_state["sort_run"][0]
    assert [b.label for b in at.button if b.label == "Stop"] == ["Stop"] or worker.done
    worker.stop()
    assert worker.join(30)
    at.run()
    assert not at.exception and not at.error
    assert int(metric(at, "Steps")) < 500
