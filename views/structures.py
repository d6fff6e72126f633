"""Subsets & permutations: Gumbel top-k and its relaxation, Gumbel-Sinkhorn, and a live
sorting task that learns with it."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.figures import structures as figures
from core.runtime.background import BackgroundWorker
from core.structures.permutations import permutation_matrix
from core.structures.sorting import SortingConfig, SortingTask, SortProgress
from core.structures.subsets import MAX_EXACT_ITEMS, weights_to_logits
from core.studies.structures import REFERENCE_SAMPLES, SinkhornGrid, SubsetSummary, sinkhorn_view, subset_summary
from ui import layout, tasks, urls

MAX_ITEMS = 20
MAX_WEIGHT = 10.0
DEFAULT_WEIGHTS = [6.0, 4.0, 3.0, 2.0, 1.0, 1.0, 0.5, 0.5]
KHOT_TAUS = [0.01, 0.03, 0.1, 0.3, 0.5, 1.0, 2.0, 5.0]
DRAW_CHOICES = [1000, 10000, 50000]
SINKHORN_TAUS = [0.03, 0.1, 0.3, 1.0, 3.0]
SINKHORN_ITERATIONS = [1, 2, 5, 10, 20, 50, 100]
SORT_TAUS = [0.3, 0.5, 1.0, 2.0]
MAX_SINKHORN_TAUS, MAX_SINKHORN_ITERATIONS = 4, 5
MAX_MATRIX, MAX_SORT_ITEMS = 10, 12
REPORT_EVERY = 10
LIVE_SECONDS = 12.0  # the sorting run lasts at least this long: time to watch it, and to press Stop
SORT_RUN_KEY = "sort_run"
SORT_DEFAULTS = SortingConfig()


def default_weight(i: int) -> float:
    return DEFAULT_WEIGHTS[i] if i < len(DEFAULT_WEIGHTS) else 1.0


SUBSETS = (
    urls.Param("subsets_n", old="n", low=2, high=MAX_ITEMS),
    urls.Param("subsets_k", old="k", low=1, high=MAX_ITEMS),
    urls.Param("subsets_tau", old="tau", options=KHOT_TAUS, label="{:g}".format),
    urls.Param("subsets_draws", old="draws", options=DRAW_CHOICES, label="{:,}".format),
    urls.Param("subsets_seed", old="seed", low=0, high=urls.SEED_MAX),
)
WEIGHTS = "w"  # the row of weight sliders, as long as the number of items, in one parameter
PERMUTATIONS = (
    urls.Param("perm_n", old="pn", low=2, high=MAX_MATRIX),
    urls.Param("perm_taus", old="ptaus", options=SINKHORN_TAUS, label="{:g}".format, many=True),
    urls.Param("perm_iters", old="iters", options=SINKHORN_ITERATIONS, many=True),
    urls.switch("perm_noise", old="noise"),
    urls.Param("perm_seed", old="pseed", low=0, high=urls.SEED_MAX),
)
SORTING = (
    urls.Param("sort_n", old="sn", low=3, high=MAX_SORT_ITEMS),
    urls.Param("sort_steps", old="steps", low=50, high=500),
    urls.Param("sort_tau", old="stau", options=SORT_TAUS, label="{:g}".format),
    urls.Param("sort_seed", old="sseed", low=0, high=urls.SEED_MAX),
)


def weight_key(i: int) -> str:
    return f"subsets_w{i}"


def init_weights() -> None:
    """Weight sliders missing from the session: the URL's values, else the defaults."""
    weights = urls.numbers(WEIGHTS, 0.0, MAX_WEIGHT, MAX_ITEMS)
    for i in range(MAX_ITEMS):
        st.session_state.setdefault(weight_key(i), weights[i] if i < len(weights) else default_weight(i))


def clamp_k() -> None:
    """Fewer items than k: lower k with them rather than show an error."""
    st.session_state.subsets_k = min(st.session_state.subsets_k, st.session_state.subsets_n)


@st.cache_data(max_entries=64, show_spinner=False)
def cached_subsets(weights: tuple[float, ...], k: int, tau: float, draws: int, seed: int) -> SubsetSummary:
    with layout.one_thread():
        return subset_summary(weights_to_logits(list(weights)), k, tau, draws, seed)


@st.cache_data(max_entries=64, show_spinner=False)
def cached_grid(n: int, taus: tuple[float, ...], iterations: tuple[int, ...], noise: bool, seed: int) -> SinkhornGrid:
    with layout.one_thread():
        return sinkhorn_view(n, list(taus), list(iterations), float(noise), seed)


def subsets_view(weights: list[float], k: int, tau: float, draws: int, seed: int) -> None:
    summary = layout.guarded(lambda: cached_subsets(tuple(weights), k, tau, draws, seed))
    if summary is None:
        return
    reference = (
        "exact inclusion probability"
        if summary.reference_is_exact
        else f"Monte Carlo estimate ({REFERENCE_SAMPLES:,} exact draws)"
    )
    series = {
        reference: summary.reference,
        f"Gumbel top-k frequency ({draws:,} draws)": summary.topk_frequency,
        f"mean relaxed k-hot (τ = {tau:g})": summary.relaxed_mean,
    }
    layout.chart(
        figures.inclusion_figure(series, f"Which items get picked: k = {k} of {len(weights)}"),
        "subset_inclusion",
        width="stretch",
        key="inclusion",
    )
    if not summary.reference_is_exact:
        st.info(
            f"More than {MAX_EXACT_ITEMS} items: the 2^n subsets are too many to enumerate, so the "
            "reference is a Monte Carlo estimate from the exact sampler."
        )
    left, right = st.columns([2, 1])
    with left:
        layout.chart(
            figures.khot_draw_figure(summary.draw_relaxed, summary.draw_hard, f"One draw at τ = {tau:g}"),
            "successive_softmax",
            width="stretch",
            key="draw",
        )
    with right:
        st.metric("Sum of the relaxed k-hot", f"{summary.draw_sum:.3f}", help="Always k, at any temperature.")
        st.metric(
            "Gap to the hard k-hot",  # a longer label is cut to an ellipsis in this column at 1280 px
            f"{summary.draw_gap:.3f}",
            help="The largest difference over the items; goes to 0 as τ → 0: the relaxed draw becomes the exact one.",
        )


def subsets_section() -> None:
    controls, view = layout.section(
        "k-subsets: Gumbel top-k and its relaxation",
        "The k largest of log-weights + Gumbel noise are an exact draw of k items without replacement "
        "(each next item with probability proportional to its weight among those left). Successive "
        "softmax at temperature τ relaxes that k-hot vector; it sums to k and becomes exact as τ → 0.",
    )
    with controls:
        n = st.slider("Number of items", 2, MAX_ITEMS, 6, key="subsets_n", on_change=clamp_k, **urls.BOUND)
        if st.session_state.get("subsets_k", 0) > n:  # a bookmark's k beyond its n
            st.session_state.subsets_k = n
        st.slider("k (items drawn)", 1, n, min(3, n), key="subsets_k", **urls.BOUND)  # k ≤ n: never an error
        st.select_slider(
            "Temperature τ of the relaxed k-hot", KHOT_TAUS, 0.5, "{:g}".format, key="subsets_tau", **urls.BOUND
        )
        st.selectbox("Draws", DRAW_CHOICES, DRAW_CHOICES.index(10000), "{:,}".format, key="subsets_draws", **urls.BOUND)
        st.number_input("Subset seed", 0, urls.SEED_MAX, 0, step=1, key="subsets_seed", **urls.BOUND)
        with st.expander("Weights", expanded=True):
            weights = [
                st.slider(
                    f"Weight of item {i + 1}", 0.0, MAX_WEIGHT, step=0.1, key=weight_key(i), persist_state="session"
                )
                for i in range(n)
            ]
    state = st.session_state
    k, tau, draws, seed = state.subsets_k, state.subsets_tau, state.subsets_draws, int(state.subsets_seed)
    urls.keep_numbers(WEIGHTS, weights)
    with view:
        subsets_view(weights, k, tau, draws, seed)


def permutations_section() -> None:
    controls, view = layout.section(
        "Permutations: Gumbel-Sinkhorn",
        "Sinkhorn alternately normalises the rows and columns of exp((scores + Gumbel noise) / τ). "
        "After L iterations the matrix is (nearly) doubly stochastic; as τ → 0 it tends to the "
        "permutation that solves the assignment problem for the perturbed scores.",
    )
    with controls:
        st.slider("Matrix size n", 2, MAX_MATRIX, 5, key="perm_n", **urls.BOUND)
        layout.toggles("Temperatures τ (rows)", SINKHORN_TAUS, [0.1, 0.3, 1.0], "perm_taus", MAX_SINKHORN_TAUS)
        layout.toggles(
            "Sinkhorn iterations L (columns)", SINKHORN_ITERATIONS, [1, 5, 20], "perm_iters", MAX_SINKHORN_ITERATIONS
        )
        st.toggle("Add Gumbel noise", True, key="perm_noise", help="Off: plain Sinkhorn of the scores.", **urls.BOUND)
        st.number_input("Permutation seed", 0, urls.SEED_MAX, 0, step=1, key="perm_seed", **urls.BOUND)
    state = st.session_state
    taus, iterations = (
        layout.picked("perm_taus", MAX_SINKHORN_TAUS),
        layout.picked("perm_iters", MAX_SINKHORN_ITERATIONS),
    )
    n, seed = state.perm_n, int(state.perm_seed)
    with view:
        grid = layout.guarded(lambda: cached_grid(n, tuple(taus), tuple(iterations), state.perm_noise, seed))
        if grid is None:
            return
        fig = figures.permutation_grid_figure(
            grid.matrices.numpy(),
            [f"τ = {t:g}" for t in grid.taus],
            [f"L = {i}" for i in grid.iterations],
            "Relaxed permutation matrices (rows: τ, columns: L)",
        )
        layout.chart(fig, "sinkhorn", width="stretch", key="sinkhorn_grid")
        left, right = st.columns([1, 1])
        with left:
            layout.chart(
                figures.matrix_figure(
                    permutation_matrix(grid.permutation).numpy(), "Hard permutation", "column j", "row i"
                ),
                "hard_permutation",
                width="stretch",
                key="hard_permutation",
            )
        with right:
            st.markdown("**Distance from doubly stochastic** (largest |row or column sum − 1|)")
            errors = pd.DataFrame(
                grid.errors.numpy(),
                index=[f"τ = {t:g}" for t in grid.taus],
                columns=[f"L = {i}" for i in grid.iterations],
            )
            st.dataframe(errors.style.format("{:.1e}"), width="stretch")
            layout.note(
                "Columns are normalised last, so they sum to 1 exactly; the rows converge with L, "
                "more slowly at small τ."
            )


def progress_figure(history: list[SortProgress], config: SortingConfig) -> go.Figure:
    return figures.sorting_progress_figure(
        [p.step for p in history],
        [p.element_accuracy for p in history],
        [p.list_accuracy for p in history],
        [p.loss for p in history],
        f"Learning to sort: accuracy on {config.test_lists} test lists",
    )


def start_sorting(config: SortingConfig) -> None:
    """Train off the script thread (in line when the server runs its limit of background
    tasks); a new run replaces this session's last one."""
    task = SortingTask(config)
    pace = LIVE_SECONDS / (config.steps / REPORT_EVERY)
    worker = tasks.start_task(SORT_RUN_KEY, lambda: task.run(report_every=REPORT_EVERY), pace=pace)
    st.session_state[SORT_RUN_KEY] = (worker, task, config)


def finish_sorting() -> None:
    """A run that has ended becomes the result shown (its last progress, a stopped one too)."""
    worker, task, config = st.session_state.pop(SORT_RUN_KEY)
    snap = worker.snapshot()
    tasks.abandoned_note(snap)
    if snap.error:
        st.error(f"Training failed: {snap.error}", icon=":material/error:")
    elif snap.items:
        st.session_state.sort_result = {"config": config, "history": list(snap.items), "example": task.example()}


@st.fragment(run_every=0.5)
def sort_live(worker: BackgroundWorker, config: SortingConfig) -> None:
    """Polls the worker twice a second; reruns the page once when it ends."""
    snap = tasks.poll_worker(worker, "sort_stop")
    progress = snap.latest
    if progress is None:
        st.progress(0.0, text="Starting…")
        return
    st.progress(
        progress.step / config.steps,
        text=f"Step {progress.step} / {config.steps}: element accuracy {progress.element_accuracy:.0%}",
    )
    layout.chart(progress_figure(list(snap.items), config), "sorting", width="stretch", key="sort_live_progress")


def show_sort_result(result: dict, current: SortingConfig) -> None:
    config, history, example = result["config"], result["history"], result["example"]
    if config != current:
        st.info(
            f"Showing the last run (n = {config.n}, {config.steps} steps, τ = {config.tau:g}, "
            f"seed {config.seed}). Press Train to run with the current settings."
        )
    final = history[-1]
    first, second, third = st.columns(3)
    first.metric(
        "Element accuracy",
        f"{final.element_accuracy:.1%}",
        help="Share of test positions the hard permutation fills with the right number.",
    )
    second.metric("Whole-list accuracy", f"{final.list_accuracy:.1%}", help="Share of test lists sorted exactly.")
    third.metric("Steps", final.step)
    layout.chart(progress_figure(history, config), "sorting", width="stretch", key="sort_progress")
    axes = (
        "position in the sorted list",
        "number",
        [f"x{i + 1} = {v:.2f}" for i, v in enumerate(example.values.tolist())],
        figures.item_labels(config.n),
    )
    left, right = st.columns(2)
    with left:
        layout.chart(
            figures.matrix_figure(
                example.soft_permutation.numpy(), f"Relaxed permutation at τ = {config.tau:g}", *axes
            ),
            "sinkhorn",
            width="stretch",
            key="sort_soft",
        )
    with right:
        layout.chart(
            figures.matrix_figure(permutation_matrix(example.permutation).numpy(), "Hard permutation", *axes),
            "hard_permutation",
            width="stretch",
            key="sort_hard",
        )
    order = ", ".join(f"{v:.2f}" for v in example.sorted_values.tolist())
    layout.note(
        f"One test list through the trained model, without noise. The hard permutation puts it in the "
        f"order {order}; the relaxed one can stay soft at the training temperature and still point the "
        "assignment the right way."
    )


def sorting_section() -> None:
    controls, view = layout.section(
        "A live task: learning to sort",
        "A small network scores where each number should go; Gumbel-Sinkhorn turns the scores into a "
        "relaxed permutation, and the loss compares the permuted list with the sorted one (Mena et al. "
        "2018). Accuracy is measured with the hard permutation. Training runs off the page; Stop ends it early.",
    )
    with controls:
        st.slider("List length", 3, MAX_SORT_ITEMS, SORT_DEFAULTS.n, key="sort_n", **urls.BOUND)
        st.slider("Training steps", 50, 500, SORT_DEFAULTS.steps, step=50, key="sort_steps", **urls.BOUND)
        st.select_slider(
            "Training temperature τ", SORT_TAUS, SORT_DEFAULTS.tau, "{:g}".format, key="sort_tau", **urls.BOUND
        )
        st.number_input("Training seed", 0, urls.SEED_MAX, 0, step=1, key="sort_seed", **urls.BOUND)
        train = st.button("Train", icon=":material/play_arrow:", type="primary", width="stretch")
    state = st.session_state
    with view:
        config = layout.guarded(
            lambda: SortingConfig(n=state.sort_n, steps=state.sort_steps, tau=state.sort_tau, seed=int(state.sort_seed))
        )
        if config is None:
            return
        if train:
            layout.guarded(lambda: start_sorting(config))
        running = state.get(SORT_RUN_KEY)
        if running is not None and not running[0].done:
            sort_live(running[0], running[2])
            return
        if running is not None:
            finish_sorting()
        if "sort_result" in state:
            show_sort_result(state.sort_result, config)
        else:
            st.info("Press Train: it takes a few seconds on a CPU.")


urls.open_bookmark(SUBSETS + PERMUTATIONS + SORTING)
init_weights()
st.title("Subsets & permutations")
subsets_section()
st.divider()
permutations_section()
st.divider()
sorting_section()
