"""Graphs: random graphs and spanning trees through the Gumbel trick, and a planted tree
learned live with three gradient estimators."""

import streamlit as st

from core.figures import graphs as figures
from core.graphs.learning import (
    ESTIMATORS,
    SHORT_LABELS,
    TreeLearningConfig,
    TreeProgress,
    learn_estimators,
    split_by_estimator,
)
from core.runtime.background import BackgroundWorker, Snapshot
from core.studies.graphs import EXACT_STUDY_NODES, PRESETS, GraphsView, graphs_view
from ui import layout, tasks, urls

PRESET_LABELS = {
    "uniform": "Uniform",
    "planted_tree": "Planted tree",
    "two_clusters": "Two clusters",
    "random": "Random",
}


def preset_label(name: str) -> str:
    return PRESET_LABELS.get(name, name)


TAU_CHOICES = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
MAX_TAUS = 4
DRAW_CHOICES = (200, 1000, 2000, 5000)
STEP_CHOICES = tuple(range(50, 501, 50))
LEARN_TAUS = (0.1, 0.25, 0.5, 1.0)
REPORT_EVERY = 10
LIVE_SECONDS = 12.0  # the three estimators' run lasts at least this long: a room sees the curves rise
MIN_NODES, MAX_NODES = 3, 10
WORKER_KEY = "graphs_worker"
N = urls.Param("graphs_n", old="n", low=MIN_NODES, high=MAX_NODES)
PRESET = urls.Param("graphs_preset", old="preset", options=PRESETS, label=preset_label)
SEED = urls.Param("graphs_seed", old="seed", low=0, high=urls.SEED_MAX)
TAUS = urls.Param("graphs_taus", old="taus", options=TAU_CHOICES, label="{:g}".format, many=True)
DRAWS = urls.Param("graphs_draws", old="draws", options=DRAW_CHOICES, label="{:,}".format)
STEPS = urls.Param("graphs_steps", old="steps", options=STEP_CHOICES)
LEARN_TAU = urls.Param("graphs_learn_tau", old="ltau", options=LEARN_TAUS, label="{:g}".format)
PARAMS = (N, PRESET, SEED, TAUS, DRAWS, STEPS, LEARN_TAU)


@st.cache_data(max_entries=32, show_spinner="Sampling trees…")
def cached_view(preset: str, n: int, seed: int, taus: tuple[float, ...], draws: int) -> GraphsView:
    return graphs_view(preset, n, seed, list(taus), draws)


def controls() -> None:
    st.slider("Nodes n", MIN_NODES, MAX_NODES, 6, key=N.key, **urls.BOUND)
    st.selectbox("Scores", PRESETS, PRESETS.index("planted_tree"), preset_label, key=PRESET.key, **urls.BOUND)
    st.number_input("Seed", 0, urls.SEED_MAX, 0, step=1, key=SEED.key, **urls.BOUND)
    layout.toggles("Temperatures τ", TAU_CHOICES, [0.1, 0.5, 2.0], TAUS.key, MAX_TAUS)
    st.selectbox("Draws", DRAW_CHOICES, DRAW_CHOICES.index(1000), DRAWS.label, key=DRAWS.key, **urls.BOUND)


def trees_section(view: GraphsView) -> None:
    st.header("Spanning trees")
    layout.chart(figures.tree_draw_figure(view.trees), "spanning_tree", width="stretch", key="tree_draw")
    layout.note(
        "The maximum spanning tree of scores + Gumbel noise is an exact draw of *something*, but **not** "
        "of the Gibbs law P(T) ∝ ∏ w_e with w_e = exp(s_e): one Gumbel per edge is not one Gumbel per "
        "tree. Both are shown below: perturb-and-max frequencies next to the Gibbs edge marginals "
        "(exact for any n, from the matrix-tree theorem) and whole-tree probabilities. The relaxed "
        "panels are the Gibbs marginals of the perturbed scores at τ; they sum to n − 1 and tend to "
        "the hard tree as τ → 0."
    )
    layout.chart(figures.tree_edge_frequency_figure(view.trees), "tree_relaxation", width="stretch", key="tree_edges")
    layout.chart(
        figures.tree_probability_figure(view.trees), "spanning_tree", width="stretch", key="tree_probabilities"
    )
    if not view.trees.exact:
        st.info(
            f"More than {EXACT_STUDY_NODES} nodes: too many trees to enumerate, so P(T) is a Monte Carlo "
            "estimate from exact Gibbs samples (Wilson's algorithm)."
        )


def graphs_section(view: GraphsView) -> None:
    st.header("Edge-independent graphs")
    st.caption(
        "Edge {i, j} is present with probability sigmoid(θ_ij), θ the same scores. The difference of two "
        "Gumbels is logistic noise, so θ + G₁ − G₂ > 0 is an exact draw and sigmoid((θ + G₁ − G₂) / τ) "
        "its relaxation."
    )
    layout.chart(figures.graph_draw_figure(view.graphs), "random_graph", width="stretch", key="graph_draw")
    layout.chart(figures.graph_edge_frequency_figure(view.graphs), "random_graph", width="stretch", key="graph_edges")
    st.caption(f"χ² test of the frequencies against sigmoid(θ): p = {view.graphs.p_value:.3f}.")


def learning_config() -> TreeLearningConfig:
    state = st.session_state
    return TreeLearningConfig(
        n=state[N.key], steps=state[STEPS.key], tau=state[LEARN_TAU.key], seed=int(state[SEED.key])
    )


def start_learning(config: TreeLearningConfig) -> None:
    """A new run replaces this session's last one (stopped, if it was still going); it waits
    in line when the server already runs its limit of background tasks."""
    reports = len(ESTIMATORS) * config.steps / REPORT_EVERY
    worker = tasks.start_task(
        WORKER_KEY, lambda: learn_estimators(config, report_every=REPORT_EVERY), pace=LIVE_SECONDS / reports
    )
    st.session_state[WORKER_KEY] = (worker, config)


def show_learning(snap: Snapshot[tuple[str, TreeProgress]], config: TreeLearningConfig) -> None:
    """Progress text, then one learning curve per estimator."""
    histories = split_by_estimator(snap.items)
    current = snap.latest
    if current is not None:
        name, progress = current
        position = list(ESTIMATORS).index(name) + 1
        text = (
            f"{ESTIMATORS[name]} ({position} of {len(ESTIMATORS)}): step {progress.step} / {config.steps}, "
            f"learned tree {progress.accuracy:.0%} — {snap.status}, {snap.seconds:.1f} s"
        )
        st.progress(((position - 1) * config.steps + progress.step) / (len(ESTIMATORS) * config.steps), text=text)
    if snap.error:
        st.error(f"The run failed: {snap.error}", icon=":material/error:")
    tasks.abandoned_note(snap)
    title = f"Recovering a planted tree (n = {config.n}, τ = {config.tau:g}, seed {config.seed})"
    fig = figures.learning_curves_figure(histories, SHORT_LABELS, title, config.steps)
    layout.chart(fig, "tree_learning", width="stretch", key="learning_curves")


@st.fragment(run_every=0.5)
def live(worker: BackgroundWorker, config: TreeLearningConfig) -> None:
    """Polls the worker; reruns the page once when it ends."""
    show_learning(tasks.poll_worker(worker, "graphs_stop"), config)


def learning_section() -> None:
    left, right = layout.section(
        "A live task: recovering a planted tree",
        "Noisy observations of a planted tree's adjacency; learnable edge scores; each step samples trees "
        "and descends the squared error. The three estimators run one after another, off the page's "
        "thread, on the same seed and planted tree: matrix-tree relaxation (Gumbel-Softmax), "
        "straight-through, and the score function on exact Gibbs samples.",
    )
    with left:
        st.select_slider("Training steps", STEP_CHOICES, 200, key=STEPS.key, **urls.BOUND)
        st.select_slider("Training temperature τ", LEARN_TAUS, 0.5, LEARN_TAU.label, key=LEARN_TAU.key, **urls.BOUND)
        train = st.button("Train", icon=":material/play_arrow:", type="primary", width="stretch")
    with right:
        config = layout.guarded(learning_config)
        if config is not None and train:
            start_learning(config)
        running = st.session_state.get(WORKER_KEY)
        if running is None:
            st.info("Press Train: three runs of a few seconds each on a CPU.")
        elif not running[0].done:
            live(*running)
        else:
            show_learning(running[0].snapshot(), running[1])


urls.open_bookmark(PARAMS)
st.title("Graphs")
st.caption("Random graphs and spanning trees from the Gumbel trick: exact draws, relaxations, and what they sample.")
settings, main = st.columns([1, 3], gap="large")
with settings:
    controls()
state = st.session_state
with main:
    shown = layout.guarded(
        lambda: cached_view(
            state[PRESET.key],
            state[N.key],
            int(state[SEED.key]),
            tuple(layout.picked(TAUS.key, MAX_TAUS)),
            state[DRAWS.key],
        )
    )
    if shown is not None:
        trees_section(shown)
        graphs_section(shown)
st.divider()
learning_section()
