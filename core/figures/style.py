"""The house style every figure shares: readable on a projector, title pinned to the top,
legend to the bottom, one palette, panels laid out in one constructor call.

Builders in this package return `go.Figure`s built with `figure(...)` (one validation) or
finished with `style(...)` (for figures that need plotly's subplot helpers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

FONT_SIZE = 16
TITLE_SIZE = 20
PANEL_TITLE_SIZE = 17
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
# For figures with more series than PALETTE holds (a table's rows and their schedules): PALETTE first.
PALETTE_WIDE = (*PALETTE, "#7f7f7f", "#bcbd22", "#393b79", "#e7ba52", "#637939", "#843c39", "#3182bd", "#7b4173")
HEATMAP_SCALE = "Blues"
TITLE_CHARS = 40  # a longer title wraps: ~420 px at the house size, ~650 px in presenter view


def house_layout(title: str | None, height: int | None, panels: bool = False) -> dict[str, Any]:
    """House style as a layout dict. The title is pinned to the top and the legend to the
    bottom, so a legend that wraps on a narrow chart pushes the plot, never the title; `panels`
    leaves room for the panel titles between the title and the plot."""
    layout: dict[str, Any] = dict(
        font=dict(size=FONT_SIZE),
        margin=dict(l=60, r=20, t=(90 if panels else 60) if title else 30, b=20),
        legend=dict(orientation="h", yref="container", y=0, yanchor="bottom", xanchor="left", x=0),
    )
    if title:
        layout["title"] = title_layout(wrap(title, TITLE_CHARS), TITLE_SIZE)
    if height:
        layout["height"] = height
    return layout


def title_layout(text: str, size: float) -> dict[str, Any]:
    """A title pinned to the top. plotly hangs a wrapped title's first line from the top edge, so
    the pad pushes it down by the lines below it."""
    pad = 12 + text.count("<br>") * size * 1.1
    return dict(text=text, font=dict(size=size), yref="container", y=1, yanchor="top", pad=dict(t=pad), automargin=True)


def figure(
    data: Sequence[dict], layout: dict, title: str | None = None, height: int | None = None, panels: bool = False
) -> go.Figure:
    """One constructor call validates everything once; each update_* call would validate again."""
    return go.Figure(data=data, layout=house_layout(title, height, panels) | layout)


def style(
    fig: go.Figure, title: str | None = None, height: int | None = None, panels: bool = False, **layout: Any
) -> go.Figure:
    """The house style on a figure built with plotly's helpers; `layout` overrides it."""
    fig.update_layout(house_layout(title, height, panels) | layout)
    # Set on the axes themselves: the Streamlit chart theme would otherwise shrink them.
    fig.update_xaxes(tickfont=dict(size=FONT_SIZE - 2), title_font=dict(size=FONT_SIZE))
    fig.update_yaxes(tickfont=dict(size=FONT_SIZE - 2), title_font=dict(size=FONT_SIZE))
    fig.update_annotations(font_size=PANEL_TITLE_SIZE)
    return fig


def panels(
    count: int, titles: Sequence[str], gap: float = 0.03, share_y: bool = True
) -> tuple[list[str], dict[str, Any]]:
    """Side-by-side panels as axis ids and a layout, built in one go (make_subplots is slow)."""
    width = (1 - gap * (count - 1)) / count
    ids: list[str] = []
    layout: dict[str, Any] = {}
    notes: list[dict[str, Any]] = []
    for i in range(count):
        suffix = "" if i == 0 else str(i + 1)
        left = i * (width + gap)
        ids.append(suffix)
        layout[f"xaxis{suffix}"] = dict(domain=[left, left + width], anchor=f"y{suffix}")
        shared: dict[str, Any] = {"matches": "y", "showticklabels": False} if i and share_y else {}
        layout[f"yaxis{suffix}"] = dict(anchor=f"x{suffix}", **shared)
        notes.append(
            dict(
                text=titles[i],
                x=left + width / 2,
                y=1.0,
                xref="paper",
                yref="paper",
                xanchor="center",
                yanchor="bottom",
                showarrow=False,
                font=dict(size=PANEL_TITLE_SIZE),
            )
        )
    layout["annotations"] = notes
    return ids, layout


def class_labels(k: int) -> list[str]:
    return [str(i) for i in range(k)]


def tau_titles(taus: Sequence[float]) -> list[str]:
    return [f"τ = {tau:g}" for tau in taus]


# --- presenter view: the same figure, readable from the back of a lecture hall ---------------
PRESENTER_SCALE = 1.5  # fonts, line widths, marker sizes and the top margin; the page's text scales alike
PRESENTER_HEIGHT = 1.2  # a little taller, so the larger text does not squash the plot
TICK_SIZE = FONT_SIZE - 2
PANEL_ROW_CHARS = 64  # the characters a row of panel titles holds at presenter size, shared by the panels
_FONT_KEYS = frozenset({"font", "tickfont", "titlefont", "title_font", "insidetextfont", "outsidetextfont", "textfont"})
_COLOUR_BARS = ("heatmap", "contour", "histogram2d")
_NOT_CARTESIAN = ("scatterternary", "pie", "table", "sunburst", "treemap", "sankey")


def _scale_sizes(node: Any, scale: float, parent: str = "") -> None:
    """Multiply every font size, line width and marker size found under `node`, in place."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if (key == "size" and parent in (*_FONT_KEYS, "marker")) or (key == "width" and parent == "line"):
                    node[key] = value * scale
            else:
                _scale_sizes(value, scale, key)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _scale_sizes(item, scale, parent)


def _size_at_least(node: dict, key: str, size: float) -> None:
    """`node[key]`'s font size no smaller than `size`: text left to the chart theme (Streamlit's
    draws ticks at 12 px) gets an explicit one."""
    font = node.setdefault(key, {})
    font["size"] = max(font.get("size") or 0, size)


def _axes(spec: dict) -> list[dict]:
    """Every axis the figure draws: the cartesian ones its traces use, and ternary corners."""
    layout = spec["layout"]
    names = set()
    for trace in spec.get("data", []):
        if trace.get("type", "scatter") not in _NOT_CARTESIAN:
            names |= {"xaxis" + trace.get("xaxis", "x")[1:], "yaxis" + trace.get("yaxis", "y")[1:]}
    axes = [layout.setdefault(name, {}) for name in sorted(names)]
    for name, subplot in layout.items():
        if name.startswith("ternary") and isinstance(subplot, dict):
            axes += [subplot.setdefault(corner, {}) for corner in ("aaxis", "baxis", "caxis")]
    return axes


def wrap(text: str, chars: int) -> str:
    """`text` broken into lines (plotly's <br>) of at most `chars` characters where it has spaces."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= chars:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def _fit_titles(layout: dict, scale: float) -> None:
    """Titles at presenter size wrap instead of running off the chart or into each other: the
    figure's title past TITLE_CHARS, panel titles (annotations on the plot's top edge) past their
    share of a row; the top margin grows with the text."""
    title = layout.get("title")
    if isinstance(title, dict) and isinstance(title.get("text"), str):
        text = title["text"] if "<br>" in title["text"] else wrap(title["text"], TITLE_CHARS)
        title |= title_layout(text, title.get("font", {}).get("size") or TITLE_SIZE * scale)
    tops = [  # panel titles: on a panel's top edge (ours and make_subplots')
        note
        for note in layout.get("annotations") or []
        if note.get("yref") == "paper" and note.get("yanchor") == "bottom" and isinstance(note.get("text"), str)
    ]
    for note in tops:
        in_row = sum(other.get("y") == note.get("y") for other in tops)
        if "<br>" not in note["text"]:
            note["text"] = wrap(note["text"], max(10, PANEL_ROW_CHARS // in_row))
    lines = max([1, *(n["text"].count("<br>") + 1 for n in tops if n.get("y") == 1.0)])
    margin = layout.setdefault("margin", {})
    margin["t"] = (margin.get("t") or 60) * scale + (lines - 1) * PANEL_TITLE_SIZE * scale * 1.2


def presenter_view(fig: go.Figure, presenter: bool = True, scale: float = PRESENTER_SCALE) -> go.Figure:
    """`fig` for a projector: every text larger by `scale` (titles, axis titles, tick labels,
    legends, annotations, colour bars), titles wrapped to fit, thicker lines and markers, a taller
    plot. A copy: the figure may be a cached one every visitor shares. With presenter False, `fig`
    itself."""
    if not presenter:
        return fig
    spec = fig.to_dict()
    layout = spec.setdefault("layout", {})
    _scale_sizes(spec, scale)
    _size_at_least(layout, "font", FONT_SIZE * scale)
    _size_at_least(layout.setdefault("legend", {}), "font", FONT_SIZE * scale)
    for axis in _axes(spec):
        _size_at_least(axis, "tickfont", TICK_SIZE * scale)
        if isinstance(axis.get("title"), dict):
            _size_at_least(axis["title"], "font", FONT_SIZE * scale)
    for note in layout.get("annotations") or []:
        _size_at_least(note, "font", TICK_SIZE * scale)
    for trace in spec.get("data", []):
        if trace.get("type") in _COLOUR_BARS and trace.get("showscale", True):
            _size_at_least(trace.setdefault("colorbar", {}), "tickfont", TICK_SIZE * scale)
    _fit_titles(layout, scale)
    if isinstance(layout.get("height"), (int, float)):
        layout["height"] = layout["height"] * PRESENTER_HEIGHT
    return go.Figure(spec)
