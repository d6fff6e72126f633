"""The converged Jang et al. protocol's scripts: the commands `scripts.reproduce_jang --converged`
runs, and the table and figure `scripts.report_jang --converged` makes from run records written
here (which runs count, the seeds' statistics, issue 25's bars). Nothing trains."""

import json
import os
import subprocess
import sys

import pytest

from core.figures.compare import bound_curves_figure
from core.store.checkpoints import checkpoint_path, metadata_path
from core.training.resume import state_path
from scripts import report_jang
from scripts.reproduce_jang import (
    CONVERGED,
    CONVERGED_ROWS,
    SEEDS,
    claim,
    command,
    grid_rows,
    marker_path,
    run_path,
    shown_path,
)


def run(nll: float, steps: int = 50_000, best: int = 30_000) -> dict:
    selection = {"best_step": best, "validation_bound": nll + 1}
    return {"nll": nll, "nll_se": 0.01, "steps": steps, "wall_seconds": 600.0, "selection": selection}


def test_the_table_lists_every_row_and_says_which_bars_are_met_and_by_how_much_others_miss():
    results = {
        "gumbel_softmax": [run(92.5), run(92.9), run(93.1)],  # mean 92.83 <= 93.0
        "straight_through": [run(94.0), run(95.0)],  # mean 94.5: 1.5 above 93.0
        "gumbel_rao": [run(93.0), run(93.2)],  # 1.4 below ST-GS, spread 0.71
        "muprop": [run(101.0, steps=20_000, best=7_500)],
    }
    lines = report_jang.converged_table(results, CONVERGED_ROWS, 10_000).splitlines()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in lines[2:] if line.startswith("| ")}
    assert len(rows) == len(CONVERGED_ROWS)
    assert rows["Gumbel-Softmax"].endswith("| 101.5 | ≤ 93.0 | met |")
    assert "92.83 ± 0.31" in rows["Gumbel-Softmax"] and "50,000 (30,000, 30,000, 30,000)" in rows["Gumbel-Softmax"]
    assert rows["Straight-through Gumbel-Softmax"].endswith("| missed by 1.50 on 2 of 3 seeds |")
    assert "+1.40 below ST-GS, spread 0.71: met on 2 of 3 seeds" in rows["Gumbel-Rao (10 draws)"]
    assert rows["MuProp, leave-one-out baseline (4 samples)"].endswith("| 107.0 | ≤ 102.0 | met on 1 of 3 seeds |")
    assert "| 0 | not run yet |" in rows["Score function, leave-one-out baseline (4 samples)"]
    assert "≤ 105.9" in rows["Straight-through, plain"] and "≤ 102.8" in rows["Straight-through, slope-annealed"]


def test_gumbel_rao_within_the_spread_of_straight_through_gumbel_softmax_misses():
    results = {"straight_through": [run(94.0), run(95.0)], "gumbel_rao": [run(94.0), run(94.4)]}
    assert report_jang.verdict("gumbel_rao", [94.0, 94.4], results).endswith(": missed on 2 of 3 seeds")


def record(path, status: str, history: list[dict]) -> None:
    meta = {"format": "gumbel-lab/checkpoint/1", "status": status, "steps": history[-1]["step"], "history": history}
    meta |= {"train_config": {"seed": 0}, "wall_seconds": 60.0, "selection": {"best_step": 5, "validation_bound": 99.0}}
    meta |= {"final_metrics": {"test": 110.0}}
    path.with_suffix(".json").write_text(json.dumps(meta))


def test_the_report_scores_finished_runs_and_draws_every_runs_test_bounds(tmp_path, monkeypatch, mnist, capsys):
    page = tmp_path / "jang.md"
    page.write_text("before\n<!-- jang-converged:start -->\nold\n<!-- jang-converged:end -->\nafter\n")
    monkeypatch.setattr(report_jang, "CONVERGED_RUNS", tmp_path)
    monkeypatch.setattr(report_jang, "JANG_PAGE", page)
    monkeypatch.setattr(report_jang, "CONVERGED_JSON", tmp_path / "converged.json")
    scored, drawn = [], {}
    monkeypatch.setattr(report_jang, "bounds", lambda path, x: scored.append((path.stem, x.shape[0])) or run(95.0))

    class Figure:
        def write_image(self, path, **_):
            drawn["path"] = path

    def figure(curves, references, title):
        drawn.update(curves=curves, references=references)
        return Figure()

    monkeypatch.setattr(report_jang, "bound_curves_figure", figure)
    shipped = []
    monkeypatch.setattr(report_jang, "ship_binarized", lambda runs, x: shipped.append([r["run"] for r in runs]))
    history = [{"step": 5, "test_bound": 100.0}, {"step": 10, "test_bound": None}, {"step": 15, "test_bound": 98.0}]
    record(tmp_path / "gumbel_softmax-s0.pt", "finished", history)
    record(tmp_path / "gumbel_softmax-s1.pt", "stopped", history[:1])
    record(tmp_path / "muprop-s0.pt", "stopped", history)
    record(tmp_path / "muprop-r0.0001-n500-s0.pt", "finished", history)  # a grid run: its name holds a dot
    (tmp_path / "gumbel_softmax-s0.is1000-n100.json").write_text(json.dumps(run(95.0)))  # a cached bound
    assert report_jang.converged_report(images=100) == 0
    assert "is1000" not in capsys.readouterr().out  # a cache is not a run
    assert scored == [("gumbel_softmax-s0", 100), ("muprop-r0.0001-n500-s0", 100)]  # finished runs, asked images
    assert drawn["curves"] == {
        "Gumbel-Softmax": [[(5, 100.0), (15, 98.0)], [(5, 100.0)]],
        "MuProp, leave-one-out baseline (4 samples)": [[(5, 100.0), (15, 98.0)]],
        "MuProp, leave-one-out baseline (4 samples), τ rate 0.0001 every 500 steps": [[(5, 100.0), (15, 98.0)]],
    }
    assert drawn["references"]["Gumbel-Softmax"] == 101.5 and drawn["path"] == report_jang.CONVERGED_FIGURE
    text = page.read_text()
    assert text.startswith("before\n<!-- jang-converged:start -->\n| estimator") and text.endswith("after\n")
    assert "| Gumbel-Softmax |" in text and "| MuProp, leave-one-out baseline (4 samples) |" in text
    written = json.loads((tmp_path / "converged.json").read_text())["gumbel_softmax"][0]
    assert written["run"] == "gumbel_softmax-s0" and written["test"] == 110.0  # the bound a shipped model meets
    assert shipped == [["gumbel_softmax-s0"]]


def test_the_gumbel_softmax_run_with_the_median_bound_ships_as_the_binarized_model(monkeypatch):
    calls = []
    monkeypatch.setattr(report_jang, "ship_run", lambda *args: calls.append(args))
    runs = [{"run": "gumbel_softmax-s0", "nll": 93.5}, {"run": "gumbel_softmax-s1", "nll": 92.1}]
    runs.append({"run": "gumbel_softmax-s2", "nll": 92.8})
    report_jang.ship_binarized(runs, x := object())
    ((source, name, config, seeds, test_x, table),) = calls
    assert source == report_jang.CONVERGED_RUNS / "gumbel_softmax-s2.pt" and name == "binarized"
    assert (config, seeds, test_x, table) == ("gumbel_softmax", runs, x, "docs/jang_converged.json")


def test_the_figure_draws_a_line_per_seed_and_each_papers_figure_dashed_in_its_colour():
    curves = {"A": [[(1, 3.0), (2, 2.0)], [(1, 3.5)]], "B": [[(1, 4.0)]]}
    figure = bound_curves_figure(curves, {"A": 2.5, "B": None}, "t")
    assert [trace.legendgroup for trace in figure.data] == ["A", "A", "B"]
    assert [trace.showlegend for trace in figure.data] == [True, False, True]
    (shape,) = figure.layout.shapes
    assert shape.y0 == shape.y1 == 2.5 and shape.line.dash == "dash"
    assert shape.line.color == figure.data[0].line.color != figure.data[2].line.color


def test_each_of_a_dozen_estimators_and_schedules_has_a_colour_of_its_own():
    curves = {f"row {i}": [[(1, float(i))]] for i in range(12)}  # 7 rows and 4 schedules of one, and more
    figure = bound_curves_figure(curves, {}, "t")
    assert len({trace.line.color for trace in figure.data}) == 12


def test_the_papers_figures_close_together_are_labelled_side_by_side_in_their_colours():
    """Jang et al.'s 110.6 and 110.9 (or 107.0 and 107.8, twice) were written over each other."""
    curves = {"SF": [[(1, 130.0), (2, 95.0)]], "ST": [[(1, 128.0)]], "GS": [[(1, 125.0)]]}
    figure = bound_curves_figure(curves, {"SF": 110.6, "ST": 110.9, "GS": 101.5}, "t")
    sf, st, gs = figure.layout.annotations
    assert sf.x != st.x and gs.x == sf.x  # 101.5 is far enough from 110.6 to share its place
    assert [note.font.color for note in (sf, st, gs)] == [trace.line.color for trace in figure.data]


def test_grid_rows_give_each_annealed_row_the_papers_four_schedules():
    rows = grid_rows()
    assert len(rows) == 4 * sum("--anneal" in options for options in CONVERGED_ROWS.values())
    options = rows["gumbel_softmax-r0.0001-n500"]
    assert options[options.index("--anneal-rate") + 1] == "0.0001" and options.count("--anneal") == 1
    assert report_jang.base_row("gumbel_softmax-r0.0001-n500") == "gumbel_softmax"


def test_a_grid_rows_table_line_and_curve_name_its_schedule():
    """A grid run is its own line of the table, apart from its row's own schedule."""
    grid = "slope_annealed_straight_through-r1e-05-n1000"
    results = {"slope_annealed_straight_through": [run(107.0)], grid: [run(104.5)]}
    rows = CONVERGED_ROWS | {grid: grid_rows()[grid]}
    lines = report_jang.converged_table(results, rows, 10_000).splitlines()
    label = "Straight-through, slope-annealed, τ rate 1e-05 every 1,000 steps"
    assert report_jang.row_label(grid) == label
    assert next(line for line in lines if line.startswith(f"| {label} |")).endswith(
        "| missed by 1.70 on 1 of 3 seeds |"
    )


@pytest.mark.parametrize("row", list(CONVERGED_ROWS))
def test_every_converged_row_has_a_label_and_a_paper_entry(row):
    assert row in report_jang.CONVERGED_LABELS and row in report_jang.CONVERGED_PAPER


def test_a_converged_run_is_one_resumable_cli_call_of_the_protocol_and_its_row():
    out = run_path("muprop", 2, converged=True)
    words = command(CONVERGED_ROWS["muprop"], out, 2, epochs=5, converged=True, device=None)
    assert words[:2] == ["-m", "core.training"] and "--epochs" not in words
    assert words[2 : 2 + len(CONVERGED)] == CONVERGED and "--resume" in words
    assert words[words.index("--estimator") + 1] == "muprop" and words[words.index("--seed") + 1] == "2"
    assert words[words.index("--out") + 1] == shown_path(out) and out.name == "muprop-s2"
    assert words[words.index("--updates") + 1] == "50000" and words[words.index("--validation") + 1] == "10000"


def test_every_grid_run_has_files_and_a_marker_of_its_own():
    """The grid's rates hold a dot (r0.0001): cut at it, r0.0001-n500 and r0.0001-n1000 of every
    seed shared one marker and one checkpoint, and the second copy skipped its run."""
    runs = [run_path(row, seed, converged=True) for row in grid_rows() for seed in SEEDS]
    for files in (marker_path, checkpoint_path, metadata_path, lambda out: state_path(checkpoint_path(out))):
        assert len({files(out) for out in runs}) == len(runs)
    assert checkpoint_path(runs[-1]).name == f"{runs[-1].name}.pt"


def test_a_run_is_claimed_once_and_a_dead_claimers_marker_is_taken_over(tmp_path):
    marker = tmp_path / "x.running"
    assert claim(marker) and marker.read_text() == str(os.getpid())
    assert not claim(marker)  # this (live) process holds it
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    marker.write_text(gone.stdout.strip())  # a process that has exited
    assert claim(marker) and marker.read_text() == str(os.getpid())
