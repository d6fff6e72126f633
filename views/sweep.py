"""Sweep: a grid of runs on Ray (a local Ray started on first use, or the cluster RAY_ADDRESS
names), each trial's progress live, the overlay of every trial's curve as it grows, Stop,
and the finished and stopped trials in the run store, one click from the Compare page."""

from __future__ import annotations

import time

import streamlit as st

from core.figures.compare import sweep_figure
from core.names import SHORT_LABELS
from core.runtime.jobs import Status
from core.sweeps.driver import SweepRun, SweepSnapshot
from core.sweeps.grid import SUBSETS, expand_grid, trial_label, varying
from core.sweeps.ray_backend import ray_address
from core.training.config import ESTIMATORS
from core.vae import PRESETS
from ui import layout, runs, urls

SWEEP_KEY = "sweep_run"
REFRESH_SECONDS = 1.0
TAUS = (0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0)
LRS = (1e-4, 3e-4, 1e-3, 3e-3)
SUBSET_LABELS = {"tiny": "Tiny (1k / 500)", "demo": "Quick demo (5k / 1k)", "full": "All of MNIST (60k / 10k)"}


SEEDS = urls.Param("sweep_seeds", low=1, high=10)
EPOCHS = urls.Param("sweep_epochs", low=1, high=100)


def grid_form(busy: bool) -> tuple[dict, dict, bool]:
    """The grid, the settings every trial shares, and whether Start was pressed; the URL keeps them.
    Each axis is a row of toggles: every value and whether it is on stays in view, where a
    multiselect beside the open sidebar cuts its chips to "Gumbe…" and hides those past its width."""
    bound: dict = {"selection_mode": "multi", "wrap": True, **urls.BOUND}
    with st.form("sweep_form", border=False):
        estimators = st.pills(
            "Estimators",
            ESTIMATORS,
            format_func=lambda e: SHORT_LABELS.get(e, e),
            default=["gumbel_softmax"],
            key="sweep_est",
            **bound,
        )
        tau, anneal, lr, preset = st.columns(4)
        grid = {
            "tau": tau.pills(
                "Temperatures τ", TAUS, format_func="{:g}".format, default=[0.5, 1.0], key="sweep_tau", **bound
            ),
            "estimator": estimators,
            "anneal": anneal.pills(
                "Annealing",
                [False, True],
                format_func=lambda a: "annealed" if a else "constant τ",
                default=[False],
                key="sweep_anneal",
                **bound,
            ),
            "lr": lr.pills("Learning rates", LRS, format_func="{:g}".format, default=[1e-3], key="sweep_lr", **bound),
            "preset": preset.pills("Presets", list(PRESETS), default=["faithful"], key="sweep_preset", **bound),
        }
        data_column, seeds, epochs_column, start = st.columns([3, 2, 2, 3], vertical_alignment="bottom")
        data = data_column.selectbox(
            "Data",
            list(SUBSETS),
            list(SUBSETS).index("tiny"),
            SUBSET_LABELS.__getitem__,
            key="sweep_data",
            **urls.BOUND,
        )
        grid["seed"] = list(range(seeds.number_input("Seeds per setting", 1, 10, 1, key=SEEDS.key, **urls.BOUND)))
        epochs = epochs_column.number_input("Epochs", 1, 100, 2, key=EPOCHS.key, **urls.BOUND)
        train_subset, test_subset = SUBSETS[data or "tiny"]
        fixed = {"epochs": epochs, "train_subset": train_subset, "test_subset": test_subset}
        pressed = start.form_submit_button(
            "Start sweep", type="primary", disabled=busy, icon=":material/play_arrow:", width="stretch"
        )
    return grid, fixed, pressed


AXIS_LABELS = {
    "estimator": "an estimator",
    "tau": "a temperature",
    "anneal": "an annealing",
    "lr": "a learning rate",
    "preset": "a preset",
}


def start_sweep(grid: dict, fixed: dict) -> bool:
    """Expand the grid and start the sweep; errors become messages (and False).

    A local sweep shares the server's run slots with the Train page's runs: it waits in the
    server's line for its first, takes free ones only while nobody waits, and gives one back
    each time a trial ends while a visitor waits. A cluster's sweep is bounded by the cluster."""
    empty = [AXIS_LABELS[axis] for axis, values in grid.items() if not values and axis in AXIS_LABELS]
    if empty:  # an axis with every toggle off: say so, rather than sweep its default unasked
        layout.show_error(ValueError(f"Choose at least {' and '.join(empty)} to sweep."))
        return False
    local = ray_address() is None
    try:
        sweep = SweepRun(
            expand_grid(grid, fixed),
            f"page-{runs.session_id()}-{time.strftime('%H%M%S')}",
            parallel=runs.run_limit() if local else None,
            slots=runs.run_slots() if local else None,
        )
        st.session_state[SWEEP_KEY] = sweep.start()
        return True
    except ValueError as err:
        layout.show_error(err)
        return False


def trial_table(snap: SweepSnapshot) -> None:
    keys = varying([t.trial for t in snap.trials])
    rows = [
        {
            "trial": trial_label(t.trial, keys),
            "status": t.status if not t.error else f"{t.status}: {t.error}",
            "epoch": f"{t.epoch}/{t.trial.config.epochs}",
            "progress": t.progress,
            "relaxed": t.relaxed,
            "test": t.test,
            "time left (s)": round(t.seconds_left) if t.seconds_left is not None else None,
        }
        for t in snap.trials
    ]
    progress = st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent")
    st.dataframe(rows, width="stretch", column_config={"progress": progress}, key="sweep_trials")


def draw(snap: SweepSnapshot) -> None:
    ended = sum(t.status.ended for t in snap.trials)
    if snap.status == Status.QUEUED:
        where = f", {snap.place.describe()}" if snap.place else ""
        where += f" (the server trains {runs.run_limit()} model(s) at once; the sweep starts by itself)"
    else:
        where = f" on {snap.where}" if snap.where else " (starting Ray: the first sweep takes a few seconds)"
    st.progress(ended / len(snap.trials), text=f"{snap.status.capitalize()}{where}: {ended} of {len(snap.trials)}")
    trial_table(snap)
    keys = varying([t.trial for t in snap.trials])
    labels = [trial_label(t.trial, keys) for t in snap.trials]
    layout.chart(sweep_figure(labels, [t.points for t in snap.trials]), width="stretch", key="sweep_overlay")


@st.fragment(run_every=REFRESH_SECONDS)
def live(sweep: SweepRun) -> None:
    snap = sweep.snapshot()
    if snap.done:
        st.rerun()
    st.button("Stop sweep", on_click=sweep.stop, icon=":material/stop:", key="sweep_stop")
    draw(snap)


def outcome(sweep: SweepRun) -> None:
    snap = sweep.snapshot()
    if snap.error:
        st.error(f"The sweep could not run: {snap.error}", icon=":material/error:")
    for notice in snap.notices:  # what the run store's quota deleted to make room
        st.warning(notice, icon=":material/delete_sweep:")
    for t in snap.trials:
        if t.status == Status.FAILED:
            st.error(f"{t.trial.name} failed: {t.error}", icon=":material/error:")
    draw(snap)
    saved = [f"sweeps/{snap.sweep_id}/{t.trial.name}" for t in snap.trials if t.saved]
    if saved:
        st.page_link("views/compare.py", label="Open these runs in Compare", query_params={"compare_runs": saved})


st.title("Sweep")
st.caption(
    "Train a grid of models at once — τ × estimator × annealing × learning rate × preset × seeds — as Ray "
    "tasks: on a local Ray sized to this machine (one thread per trial, at most the server's run limit at "
    "once), or on the cluster RAY_ADDRESS names. Every trial lands in the run store."
)
urls.open_bookmark((SEEDS, EPOCHS))
sweep: SweepRun | None = st.session_state.get(SWEEP_KEY)
# The grid above the sweep, folded once a sweep exists so its table and overlay take the screen.
with st.expander("Grid" if sweep is None else "Grid for the next sweep", expanded=sweep is None):
    grid, fixed, pressed = grid_form(busy=sweep is not None and not sweep.done)
if pressed and start_sweep(grid, fixed):
    st.rerun()  # the running sweep's view; a refusal stays on screen
if sweep is None:
    st.info("Choose a grid and press **Start sweep**.", icon=":material/grid_view:")
elif sweep.done:
    outcome(sweep)
else:
    live(sweep)
