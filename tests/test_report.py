"""The grey-level results table (`scripts.report`): rows whose runs are not on this machine are kept
from docs/results.json, and the IS-1000 column says where a figure comes from. Nothing trains."""

import json

from scripts import report


def row(test: float, **extra: float) -> dict:
    return {"relaxed": 1.0, "unrelaxed": 2.0, "test": test, "negative_elbo": 3.0, "nll": 4.0} | extra


def test_runs_found_here_replace_their_row_and_the_others_stay(tmp_path, monkeypatch):
    kept = {"faithful": [row(126.0)], "linear": [row(127.0)], "retired": [row(1.0)]}
    monkeypatch.setattr(report, "RESULTS_JSON", tmp_path / "results.json")
    (tmp_path / "results.json").write_text(json.dumps(kept))
    found = {"faithful": [row(120.0), row(121.0)]}
    assert report.merged(found) == {"faithful": found["faithful"], "linear": kept["linear"]}


def test_the_is1000_cell_is_the_seeds_or_else_the_shipped_seed_scored_on_the_same_images():
    images = report.IS1000_IMAGES
    shipped = {"faithful": {"nll_1000": 105.974, "nll_1000_images": images}, "best": {"nll_1000": 101.2}}
    runs = [row(1.0, nll_1000=100.0), row(1.0, nll_1000=102.0)]
    assert report.is1000_text("faithful", runs, shipped) == "101.00 ± 1.41"
    assert report.is1000_text("faithful", [row(1.0)], shipped) == "105.97 (the shipped seed)"
    assert report.is1000_text("best", [row(1.0)], shipped) == ""  # scored on other images: not this column
    assert report.is1000_text("linear", [row(1.0)], shipped) == ""  # not shipped
