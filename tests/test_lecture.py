"""Lecture features: the maths beside every picture, presenter view, both kept in the URL."""

import json

import pytest

from browser import components as browser
from core.figures.style import FONT_SIZE, TICK_SIZE, figure, panels, presenter_view
from core.studies.formulas import FORMULAS, formula
from tests.apptest import bound, run_page


def fonts(app) -> list[float]:
    return [json.loads(chart.proto.spec)["layout"]["font"]["size"] for chart in app.get("plotly_chart")]


def figures(app) -> int:
    """Plotly charts, and the pictures a browser component draws (each a <figure> in its HTML)."""
    drawn = [e.proto.component_name.removeprefix("gumbel_lab_") for e in app.get("bidi_component")]
    pictures = sum((browser.FOLDER / f"{name}.html").read_text().count("<figure") for name in drawn)
    return len(app.get("plotly_chart")) + pictures


def test_every_formula_has_latex_and_a_reading_sentence():
    for name, shown in FORMULAS.items():
        assert shown.latex.strip() and shown.reading.endswith("."), name
    with pytest.raises(ValueError, match="no formula"):
        formula("nonsense")


@pytest.mark.parametrize("page", ["views/temperature.py", "app.py"])
def test_the_maths_is_beside_each_figure_when_on_and_gone_when_off(page):
    shown = run_page(page)
    assert not shown.exception
    assert len(shown.latex) == figures(shown) >= 1
    assert all("\\" in latex.value for latex in shown.latex)
    hidden = run_page(page, maths="off")
    assert not hidden.exception
    assert len(hidden.latex) == 0 and figures(hidden) == figures(shown)


@pytest.mark.parametrize(
    "page",
    ["views/latent_editor.py", "views/structures.py", "views/graphs.py", "views/estimators.py", "views/train.py"],
)
def test_every_page_shows_the_maths_only_when_asked(page, data_root):
    shown = run_page(page)
    assert not shown.exception
    assert len(shown.latex) >= 1 or page == "views/train.py"  # the Train page's maths sits beside a run's charts
    hidden = run_page(page, maths="off")
    assert not hidden.exception and len(hidden.latex) == 0


def test_the_sidebar_toggles_live_in_the_url():
    app = run_page("app.py")
    assert bound(app) | {"maths": True, "presenter": False} == bound(app)  # bound, at their defaults
    assert not app.query_params  # defaults are left out of the URL
    app.toggle(key="presenter").set_value(True).run()
    app.toggle(key="maths").set_value(False).run()
    assert bound(app) | {"maths": False, "presenter": True} == bound(app)
    assert len(app.latex) == 0
    bookmark = run_page("app.py", presenter="on", maths="off")  # the words bookmarks used before the binding
    assert bookmark.toggle(key="presenter").value is True and bookmark.toggle(key="maths").value is False
    assert dict(bookmark.query_params) == {"presenter": "true", "maths": "false"}
    assert len(bookmark.latex) == 0


def test_presenter_view_enlarges_figures_and_hides_secondary_captions():
    normal = run_page("views/temperature.py")
    presented = run_page("views/temperature.py", presenter="on")
    assert not presented.exception
    assert all(big > small for big, small in zip(fonts(presented), fonts(normal)))
    assert len(presented.caption) < len(normal.caption)
    assert len(presented.latex) == len(normal.latex)  # the maths stays


def test_presenter_view_scales_a_copy():
    fig = figure([dict(type="scatter", x=[0, 1], y=[0, 1], line=dict(width=2))], {}, "t", 300)
    big = presenter_view(fig)
    assert big.layout.font.size > FONT_SIZE and big.data[0].line.width > 2 and big.layout.height > 300
    assert fig.data[0].line.width == 2 and fig.layout.height == 300
    assert presenter_view(fig, presenter=False) is fig


def test_presenter_view_enlarges_every_text_the_theme_would_draw_small():
    """Axes, ternary corners, legends, annotations and colour bars without a size of their own
    (Streamlit's chart theme draws those at 12 px) get one, at least 1.5 × the house size."""
    ids, layout = panels(2, ["a panel title long enough to wrap", "b"])
    data = [dict(type="scatter", x=[0, 1], y=[0, 1], xaxis=f"x{i}", yaxis=f"y{i}") for i in ids]
    data += [dict(type="heatmap", z=[[0, 1]], colorbar=dict()), dict(type="scatterternary", a=[1], subplot="ternary")]
    layout |= dict(ternary=dict(aaxis=dict(title="0")), annotations=[*layout["annotations"], dict(text="note")])
    big = presenter_view(figure(data, layout, "A title far too long for one line on a projector's chart", 300))
    spec = big.to_dict()["layout"]
    axes = [spec["xaxis"], spec["yaxis"], spec["xaxis2"], spec["yaxis2"], spec["ternary"]["aaxis"]]
    assert all(axis["tickfont"]["size"] >= 1.5 * TICK_SIZE for axis in axes)
    assert spec["legend"]["font"]["size"] >= 1.5 * FONT_SIZE
    assert big.data[2].colorbar.tickfont.size >= 1.5 * TICK_SIZE
    assert all(note["font"]["size"] >= 1.5 * TICK_SIZE for note in spec["annotations"])
    assert spec["title"]["text"] == "A title far too long for one line on a<br>projector's chart"  # wrapped, not cut
    assert "<br>" in spec["annotations"][0]["text"] and spec["annotations"][1]["text"] == "b"


def test_long_formulas_break_into_lines_at_their_top_level_spaces():
    for name, shown in FORMULAS.items():
        lines = shown.lines
        assert lines.count("{") == lines.count("}") and lines.count(r"\begin") == lines.count(r"\end"), name
    assert FORMULAS["vae_objective"].lines.count(r" \\ ") == 2  # three lines, each fits a column
    assert FORMULAS["gumbel_softmax"].lines == FORMULAS["gumbel_softmax"].latex  # one part: as it is
    cases = FORMULAS["code_path"].lines  # the space after the cases, not inside them, breaks the line
    assert cases.startswith(r"\begin{gathered}z^{(t)}_n = \begin{cases}") and cases.endswith(
        r"\\ t = 0,\dots,30\end{gathered}"
    )
