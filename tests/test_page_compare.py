"""The Compare page: chosen runs overlaid (trace count and names), the URL round trip, the table."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from core.figures.compare import PANELS, comparison_figure, setting_text
from core.store.checkpoints import FORMAT, atomic_write_json
from core.store.compare import compare_runs
from core.store.runs import RunStore
from tests.apptest import bound, run_page

PAGE = "views/compare.py"


def _record(
    store: RunStore, source: str, name: str, group: str | None = None, tau: float = 1.0, anneal_rate: float = 0.0
) -> str:
    path = store.path_for(source, name, group)
    history = [{"epoch": e, "relaxed": 150 - e, "unrelaxed": 160 - e, "test": 158 - e, "tau": tau} for e in (1, 2)]
    config = {"estimator": "gumbel_softmax", "tau": tau, "lr": 1e-3, "batch_size": 100, "epochs": 2, "seed": 0}
    config["anneal_rate"] = anneal_rate
    atomic_write_json(
        path.with_suffix(".json"),
        {"format": FORMAT, "status": "finished", "history": history, "final_metrics": history[-1]}
        | {"train_config": config, "epochs": 2, "steps": 20, "started_at": f"2026-01-01T00:00:0{len(name)}"},
    )
    return path.relative_to(store.root).with_suffix("").as_posix()


def table_text(at) -> dict[tuple[str, str], str]:
    """The table's cells as the page shows them: the styler's display values, by (run, column)."""
    frame = pa.ipc.open_stream(at.dataframe[0].proto.arrow_data.styler.display_values).read_all().to_pandas()
    return {(str(row), str(column)): str(frame.loc[row, column]) for row in frame.index for column in frame.columns}


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    monkeypatch.setenv("GUMBEL_LAB_RUNS", str(tmp_path / "runs"))
    return RunStore()


def test_the_comparison_flags_the_settings_that_differ():
    a = {"train_config": {"tau": 0.5, "lr": 1e-3}, "history": [{"epoch": 1, "test": 150.0}]}
    b = {"train_config": {"tau": 2.0, "lr": 1e-3}, "history": [{"epoch": 1, "test": 140.0}]}
    comparison = compare_runs({"a": ("cli", a), "b": ("sweeps", b)})
    assert comparison.differing == ["tau"] and [r["test"] for r in comparison.rows] == [150.0, 140.0]
    assert comparison.csv().splitlines()[0].startswith("run,source,relaxed,unrelaxed,test,status,epochs_done")
    fig = comparison_figure(comparison.labels, comparison.histories)
    assert len(fig.data) == 2 * len(PANELS) and [t.name for t in fig.data if t.showlegend] == ["a", "b"]


def test_settings_differ_by_value_and_read_by_kind():
    slow = {"train_config": {"anneal_rate": 3e-5, "lr": 1e-3, "seed": 0, "batch_size": 100}}
    constant = {"train_config": {"anneal_rate": 0.0, "lr": 0.001, "seed": 0, "batch_size": 100}}
    whole = {"train_config": {"anneal_rate": 0, "lr": 0.001, "seed": 0, "batch_size": 100.0}}
    assert compare_runs({"a": ("cli", slow), "b": ("cli", constant)}).differing == ["anneal_rate"]
    assert compare_runs({"b": ("cli", constant), "c": ("cli", whole)}).differing == []  # 0 is 0.0
    texts = [setting_text(v) for v in (3e-5, 0.0, 0, 100.0, 12345, 0.001, 126.71, "faithful", None)]
    assert texts == ["3e-05", "0", "0", "100", "12345", "0.001", "127", "faithful", "—"]


def test_the_table_shows_each_setting_by_its_kind_and_highlights_what_differs(store):
    ids = [_record(store, "cli", "alpha", anneal_rate=3e-5), _record(store, "cli", "beta", anneal_rate=0.0)]
    at = run_page(PAGE, compare_runs=ids)
    assert not at.exception and not at.error
    shown = table_text(at)
    assert [shown[("alpha (CLI)", "anneal_rate")], shown[("beta (CLI)", "anneal_rate")]] == ["3e-05", "0"]
    assert shown[("alpha (CLI)", "seed")] == "0" and shown[("alpha (CLI)", "lr")] == "0.001"
    assert "anneal_rate" in at.caption[-1].value and "tau" not in at.caption[-1].value


def test_the_page_overlays_the_runs_in_the_url_and_writes_them_back(store):
    ids = [_record(store, "cli", "alpha", tau=0.5), _record(store, "sweeps", "t-2", "grid", tau=2.0)]
    at = run_page(PAGE, runs=",".join([*ids, "shipped/best", "cli/nonexistent"]))
    assert not at.exception and not at.error
    chosen = ["shipped/best", *ids]  # unknown runs dropped; in the picker's order: shipped first
    assert at.multiselect(key="compare_runs").value == chosen
    (chart,) = at.get("plotly_chart")
    figure = json.loads(chart.proto.spec)
    names = [t["name"] for t in figure["data"] if t.get("showlegend")]
    assert len(figure["data"]) == 3 * len(PANELS)
    assert names == ["best (shipped)", "alpha (CLI)", "t-2 (sweep grid)"]
    assert at.query_params["compare_runs"] == chosen  # today's `runs=a,b` bookmark, in the bound form
    assert "tau" in at.caption[-1].value  # the differing settings are named and highlighted
    assert at.get("download_button")


def test_changing_the_selection_changes_the_bound_value_and_draws_in_the_pickers_order(store):
    first = _record(store, "cli", "alpha")
    at = run_page(PAGE, compare_runs=first)
    at.multiselect(key="compare_runs").select("shipped/faithful").run()
    assert bound(at)["compare_runs"] == [first, "shipped/faithful"]  # the browser writes it into the URL
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(figure["data"]) == 2 * len(PANELS)
    assert [t["name"] for t in figure["data"] if t.get("showlegend")] == ["faithful (shipped)", "alpha (CLI)"]


def test_an_empty_selection_says_what_to_do(store):
    at = run_page(PAGE)
    at.multiselect(key="compare_runs").set_value([]).run()
    assert not at.exception and "Pick one or more runs" in at.info[0].value


def test_presenter_view_reaches_the_comparison(store):
    def font(at) -> float:
        return json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["font"]["size"]

    assert font(run_page(PAGE, presenter="on")) > font(run_page(PAGE))


def test_the_page_opens_on_the_grey_level_models_and_warns_when_pixels_are_mixed(store):
    at = run_page(PAGE)
    assert at.multiselect(key="compare_runs").value == ["shipped/best", "shipped/faithful"]  # not the binarized one
    assert not at.warning
    at.multiselect(key="compare_runs").select("shipped/binarized").run()
    assert not at.exception
    assert any("binarized MNIST and some on grey levels" in w.value for w in at.warning)
