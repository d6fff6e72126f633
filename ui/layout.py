"""How a page looks and behaves: sections, charts in the house way with their maths, captions
that presenter view hides, the sidebar's lecture switches, errors as messages, torch threads
for a page's work, and timing a page part for the load test.

Thin Streamlit glue over `core`; no maths lives here.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import streamlit as st
import torch

from core.figures.style import PRESENTER_SCALE, presenter_view
from core.studies.formulas import formula
from ui import urls

T = TypeVar("T")
P = ParamSpec("P")
TIMING_LOG_ENV = "GUMBEL_LAB_TIMING"  # a file: each timed page part appends "name seconds"
PROCESS_THREADS = max(1, (os.cpu_count() or 2) - 1)


def leave_a_core_for_the_page() -> None:
    """Run torch on all cores but one: with every core busy training, torch's small ops on a
    page (a slider move) wait far longer for their threads than they compute."""
    torch.set_num_threads(PROCESS_THREADS)


@contextmanager
def one_thread() -> Iterator[None]:
    """A page's computation on one torch thread. Its tensors are small: a second thread only
    waits for a core that training or another visitor's rerun holds, and a dozen reruns each
    asking for every core oversubscribe the machine. Torch keeps a count per thread once the
    thread has used it, and new threads start from the last count set anywhere, so the process
    default is put back at once (training threads started later begin from it)."""
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(PROCESS_THREADS)


def timed(name: str) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Append a page part's server seconds per run, wall and this thread's CPU, to
    $GUMBEL_LAB_TIMING for the load test (benchmarks/lecture_hall.py); without the variable the
    part runs untouched."""

    def wrap(part: Callable[P, None]) -> Callable[P, None]:
        log = os.environ.get(TIMING_LOG_ENV)
        if not log:
            return part

        @functools.wraps(part)
        def run(*args: P.args, **kwargs: P.kwargs) -> None:
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                part(*args, **kwargs)
            finally:
                with open(log, "a") as out:  # one short append per run: lines never interleave
                    out.write(f"{name} {time.perf_counter() - started:.4f} {time.thread_time() - cpu:.4f}\n")

        return run

    return wrap


def section(title: str, caption: str) -> tuple[Any, Any]:
    """A page section: its header, one sentence on what it shows, and a narrow column for the
    controls beside a wide one for the pictures."""
    st.header(title)
    note(caption)
    controls, view = st.columns([1, 3], gap="large")
    return controls, view


def toggles(label: str, options: Sequence[Any], default: Sequence[Any], key: str, most: int) -> None:
    """Values (temperatures) as a row of toggles bound to the URL under `key`: every option and
    whether it is on stays in view, where a multiselect hides its chips past its width. Read the
    choice with `picked`."""
    st.pills(
        label,
        options,
        selection_mode="multi",
        default=default,
        format_func="{:g}".format,
        key=key,
        wrap=True,  # every value in view, on a second line if need be, never behind a sideways scroll
        help=f"Up to {most} at once; with more on, the {most} smallest are drawn.",
        **urls.BOUND,
    )


def picked(key: str, most: int) -> list[Any]:
    """What a row of `toggles` has on, in order, at most `most` (the smallest)."""
    return sorted(st.session_state.get(key) or [])[:most]


def show_error(err: BaseException) -> None:
    """An error as a message a user can act on, never a traceback."""
    st.error(str(err) or type(err).__name__, icon=":material/error:")


def guarded(fn: Callable[[], T]) -> T | None:
    """Run fn; show ValueError / RuntimeError / OSError as a message instead of a traceback."""
    try:
        return fn()
    except (ValueError, RuntimeError, OSError) as err:
        show_error(err)
        return None


# --- lecture settings: the maths beside every picture, and presenter view ------------------
# Sidebar toggles kept in the URL on every page (app.py draws them), so a lecture's bookmarks
# open with the maths shown or hidden and in presenter view.
MATHS = urls.switch("maths")
PRESENTER = urls.switch("presenter")


def lecture_toggles() -> None:
    """The sidebar's two lecture switches; the URL of every page keeps them."""
    urls.open_bookmark((MATHS, PRESENTER))
    st.toggle(
        "Show the maths", True, key=MATHS.key, help="Each figure's defining formula and how to read it.", **urls.BOUND
    )
    st.toggle(
        "Presenter view",
        False,
        key=PRESENTER.key,
        help="Larger fonts and thicker lines for a projector; secondary captions hidden.",
        **urls.BOUND,
    )


# Every page, in either view: widget and metric labels and page links wrap rather than end in
# "…", and a window narrower than 1100 px gives the page 96 px of Streamlit's side margins
# (beside the open sidebar at 1024 px the page is then 656 px wide, not 560).
PAGE_CSS = """<style>
[data-testid="stMain"] :is([data-testid="stMetricLabel"], [data-testid="stWidgetLabel"], [data-testid="stPageLink"]) *
  {white-space: normal}
@media (max-width: 1100px) {[data-testid="stMainBlockContainer"] {padding-left: 2rem; padding-right: 2rem}}
</style>"""

# Presenter view's page text, ×PRESENTER_SCALE: the main area's paragraphs, captions, widget
# labels, metrics, headings and formulas (KaTeX sizes itself in em of its container). A metric's
# number shrinks with a narrow window rather than end in "…".
PRESENTER_CSS = """<style>
[data-testid="stMain"] [data-testid="stMarkdownContainer"] :is(p, li) {font-size: 1.5em}
[data-testid="stMain"] [data-testid="stCaptionContainer"] {font-size: 1.5em}
[data-testid="stMain"] [data-testid="stWidgetLabel"] p {font-size: 1.35em}
[data-testid="stMain"] [data-testid="stMetricValue"] {font-size: min(3.4rem, 4.4vw)}
[data-testid="stMain"] [data-testid="stMetricLabel"] p {font-size: 1.35em}
[data-testid="stMain"] h1 {font-size: 3.6rem}
[data-testid="stMain"] h2 {font-size: 2.6rem}
[data-testid="stMain"] h3 {font-size: 2.1rem}
[data-testid="stMain"] .katex-display {font-size: 1.5em}
</style>"""


def page_style() -> None:
    """Labels that wrap, and presenter view's larger page text (app.py calls it on every page);
    figures scale in `chart`."""
    st.html(PAGE_CSS + (PRESENTER_CSS if presenter_on() else ""))


def maths_on() -> bool:
    return bool(urls.first(MATHS, True))


def presenter_on() -> bool:
    return bool(urls.first(PRESENTER, False))


def zoom() -> float:
    """How much larger presenter view draws: what the browser components scale their text and
    pictures by, as `chart` does a figure's."""
    return PRESENTER_SCALE if presenter_on() else 1.0


def maths(name: str) -> None:
    """A figure's formula and one sentence on how to read it, when the maths is shown."""
    if maths_on():
        shown = formula(name)
        st.latex(shown.lines)
        st.caption(shown.reading)


def chart(fig: Any, maths_name: str | None = None, **kwargs: Any) -> Any:
    """A plotly figure in the house way: scaled for a projector in presenter view, its formula
    below it when the maths is shown. kwargs go to st.plotly_chart."""
    shown = st.plotly_chart(presenter_view(fig, presenter_on()), **kwargs)
    if maths_name:
        maths(maths_name)
    return shown


def note(text: str) -> None:
    """A secondary caption: hidden in presenter view, where the lecturer says it instead."""
    if not presenter_on():
        st.caption(text)
