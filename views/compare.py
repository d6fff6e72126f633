"""Compare: runs — shipped, this session's, the CLI's, sweep trials, others' shared ones — side by side. Their
per-epoch curves on shared axes, a table of settings and final metrics with the settings that
differ highlighted, the selection in the URL and the table as CSV."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from core.figures.compare import comparison_figure, setting_text
from core.store.compare import DONE_COLUMNS, METRIC_COLUMNS, SETTING_COLUMNS, compare_runs, pixels
from ui import layout, models, urls

MAX_RUNS = 12
MISSING_KEY = "compare_missing"
RUN_ID = re.compile(r"[\w.-]+(/[\w.-]+)*", re.ASCII)  # how the run store names runs; anything else is hidden
SHOW_MISSING = 5
LISTED = "Compare lists your runs, the command line's and sweeps', and runs their owners shared."
HIGHLIGHT = "background-color: #fff3b0; font-weight: 600"
MIXED_PIXELS = (
    "Some of these runs trained on binarized MNIST and some on grey levels: their objectives are on "
    "different scales, so compare the curves within each kind only (their binarize setting says which)."
)


def table(comparison) -> None:
    """Results first (on screen at any width), then what each run did beside what it was asked."""
    frame = pd.DataFrame(comparison.rows).set_index("run")
    by_kind = {column: setting_text for column in (*DONE_COLUMNS, *SETTING_COLUMNS)}
    results = {column: "{:.2f}" for column in METRIC_COLUMNS if column != "status"}
    styled = frame.style.format(by_kind | results, na_rep="—").set_properties(subset=comparison.differing, **_css())
    st.dataframe(styled, width="stretch", key="compare_table")
    note = ", ".join(comparison.differing) if comparison.differing else "none: the runs share every setting"
    st.caption(f"Highlighted: the settings that differ between the chosen runs ({note}).")
    st.download_button(
        "Download the table (CSV)",
        comparison.csv(),
        file_name="gumbel-lab-comparison.csv",
        mime="text/csv",
        icon=":material/download:",
    )


def missing_text(runs: list[str]) -> str:
    """A URL's run ids as code (the first few that look like ids; a URL's text is never markdown)."""
    shown = [run for run in runs if len(run) <= 120 and RUN_ID.fullmatch(run)][:SHOW_MISSING]
    rest = len(runs) - len(shown)
    return ", ".join(f"`{run}`" for run in shown) + (f" and {rest} more" if rest else "")


def default_view(catalogue: dict[str, models.RunEntry]) -> list[str]:
    """The first two shipped models trained on grey levels: a binarized model's objectives are on
    another scale, so the page does not open with one beside them."""
    grey = [run for run, entry in catalogue.items() if run.startswith("shipped/") and not binarized(entry)]
    return grey[:2]


def binarized(entry: models.RunEntry) -> bool:
    return pixels(entry.metadata) != "none"


def _css() -> dict[str, str]:
    return dict(part.split(": ") for part in HIGHLIGHT.split("; "))


st.title("Compare")
st.caption(
    "Pick runs from anywhere — shipped models, yours, the command line's, sweep trials, runs others shared — "
    "to see their per-epoch objectives and temperature on shared axes. The URL keeps the selection."
)
catalogue = models.run_catalogue()
RUNS = urls.Param("compare_runs", old="runs", options=tuple(catalogue), many=True)  # by run id
if RUNS.key not in st.session_state:  # a bookmark's runs this visitor may not see: said, then dropped
    asked = [p.strip() for name in (RUNS.key, RUNS.old) for t in st.query_params.get_all(name) for p in t.split(",")]
    unknown = [run for run in dict.fromkeys(asked) if run and run not in catalogue]
    if unknown:
        st.session_state[MISSING_KEY] = unknown
urls.open_bookmark([RUNS])
picked = st.multiselect(
    "Runs",
    RUNS.options,
    default_view(catalogue),
    key=RUNS.key,
    max_selections=MAX_RUNS,
    help="Shipped models first, then this session's runs, then the runs shared on this server (the CLI's, "
    "sweeps', and other visitors' they shared). A run is named by where it is kept: shipped/, page/<session>/, "
    "cli/, sweeps/<sweep>/.",
    **urls.BOUND,
)
missing = st.session_state.pop(MISSING_KEY, [])
if missing:
    st.warning(f"Not found or not shared: {missing_text(missing)}. {LISTED}", icon=":material/visibility_off:")
chosen = [i for i in catalogue if i in picked]  # the picker's order, whatever the order of the clicks
if not chosen:
    st.info("Pick one or more runs to compare.", icon=":material/compare_arrows:")
    st.stop()
if len({binarized(catalogue[i]) for i in chosen}) > 1:
    st.warning(MIXED_PIXELS, icon=":material/warning:")
entries = {catalogue[i].label: (catalogue[i].source, catalogue[i].metadata) for i in chosen}
comparison = compare_runs(entries)
layout.chart(comparison_figure(comparison.labels, comparison.histories), width="stretch", key="compare_curves")
table(comparison)
