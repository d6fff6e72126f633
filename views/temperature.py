"""Temperature: what tau does to a Gumbel-Softmax sample, and a check that Gumbel-max is exact."""

from dataclasses import dataclass

import plotly.graph_objects as go
import streamlit as st

from core.figures import temperature as figures
from core.studies import temperature
from core.studies.temperature import MAX_CLASSES, PRESET_NAMES, logit_preset
from ui import layout, urls

TAU_CHOICES = (0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
DRAW_CHOICES = (1000, 10000, 100000)
MAX_TAUS = 6
LOGIT_RANGE = (-5.0, 5.0)
MIN_CLASSES = 2
PRESET_DEFAULT = "two modes"
TAU_DEFAULT = [0.1, 0.5, 1.0, 5.0]
CLASSES = urls.Param("classes", old="k", low=MIN_CLASSES, high=MAX_CLASSES)
PRESET = urls.Param("preset", options=PRESET_NAMES)
TAUS = urls.Param("taus", options=TAU_CHOICES, label="{:g}".format, many=True)
SEED = urls.Param("seed", low=0, high=urls.SEED_MAX)
DRAWS = urls.Param("draws", old="n", options=DRAW_CHOICES, label="{:,}".format)
LOGITS = "logits"  # the row of logit sliders, as long as the number of classes, in one parameter


def logit_key(i: int) -> str:
    return f"logit_{i}"


def apply_preset() -> None:
    """Set the logit sliders from the chosen preset and number of classes."""
    for i, value in enumerate(logit_preset(st.session_state[PRESET.key], st.session_state[CLASSES.key])):
        st.session_state[logit_key(i)] = value


def resample() -> None:
    st.session_state[SEED.key] = (st.session_state[SEED.key] + 1) % (urls.SEED_MAX + 1)


def init_logits(classes: int, preset: str) -> None:
    """Logit sliders missing from the session: the URL's values, else the preset's."""
    state = st.session_state
    if all(logit_key(i) in state for i in range(classes)):
        return
    url = urls.numbers(LOGITS, *LOGIT_RANGE, MAX_CLASSES)
    for i, value in enumerate(logit_preset(preset, classes)):
        state.setdefault(logit_key(i), url[i] if i < len(url) else value)


def controls() -> list[float]:
    classes = st.slider(
        "Number of classes", MIN_CLASSES, MAX_CLASSES, 3, key=CLASSES.key, on_change=apply_preset, **urls.BOUND
    )
    preset = st.selectbox(
        "Preset",
        PRESET_NAMES,
        PRESET_NAMES.index(PRESET_DEFAULT),
        key=PRESET.key,
        on_change=apply_preset,
        **urls.BOUND,
    )
    init_logits(classes, preset or PRESET_DEFAULT)
    with st.expander("Logits", expanded=True):
        logits = [
            st.slider(f"class {i}", *LOGIT_RANGE, step=0.1, key=logit_key(i), persist_state="session")
            for i in range(classes)
        ]
    layout.toggles("Temperatures τ", TAU_CHOICES, TAU_DEFAULT, TAUS.key, MAX_TAUS)
    st.number_input("Seed", 0, urls.SEED_MAX, 0, step=1, key=SEED.key, **urls.BOUND)
    st.button("Resample", on_click=resample, icon=":material/casino:", width="stretch")
    st.selectbox("Gumbel-max draws", DRAW_CHOICES, DRAW_CHOICES.index(10000), DRAWS.label, key=DRAWS.key, **urls.BOUND)
    return logits


@dataclass(frozen=True)
class Pictures:
    """Every chart of one view, and the χ² test the caption quotes."""

    means: go.Figure
    samples: go.Figure
    curve: go.Figure
    frequencies: go.Figure
    simplex: go.Figure | None
    chi2: float
    p_value: float


@st.cache_resource(max_entries=128, show_spinner=False)
def view_pictures(key: tuple[float, ...], taus: tuple[float, ...], seed: int, draws: int) -> Pictures:
    """One view's charts, computed once for every visitor who asks for the same settings.

    Shared read-only: st.plotly_chart sends a copy of a figure (`to_dict`), never changes it."""
    logits = list(key)
    with layout.one_thread():
        view = temperature.temperature_view(logits, taus, seed, draws)
    study, check = view.study, view.check
    return Pictures(
        means=figures.relaxed_means_figure(study),
        samples=figures.samples_figure(study),
        curve=figures.one_hotness_figure(view.curve_taus, view.closeness, study.taus, len(logits)),
        frequencies=figures.frequency_figure(check),
        simplex=None if view.cloud is None else figures.simplex_figure(study.taus, view.cloud, study.probabilities),
        chi2=check.chi2,
        p_value=check.p_value,
    )


def pictures(logits: list[float], taus: list[float], seed: int, draws: int) -> None:
    key = tuple(round(v, 6) for v in logits)
    shown = layout.guarded(lambda: view_pictures(key, tuple(taus), seed, draws))
    if shown is None:
        return
    layout.chart(shown.means, "relaxed_means", width="stretch", key="means")
    layout.chart(shown.samples, "gumbel_softmax", width="stretch", key="samples")
    # One under the other: side by side, each was ~190 px wide at 1024 px with the sidebar open.
    layout.chart(shown.curve, "one_hotness", width="stretch", key="curve")
    layout.chart(shown.frequencies, "gumbel_max", width="stretch", key="frequencies")
    layout.note(
        f"χ² = {shown.chi2:.2f}, p = {shown.p_value:.3f}: a p-value that is not tiny means the "
        "frequencies agree with softmax(logits) up to sampling noise."
    )
    if shown.simplex is not None:
        layout.chart(shown.simplex, "gumbel_softmax_density", width="stretch", key="simplex")
    else:
        st.info("Set the number of classes to 3 to see the samples on the simplex.")


@st.fragment
@layout.timed("temperature")
def temperature_view() -> None:
    """Controls and charts: a slider move reruns this part only, not the sidebar and title."""
    left_column, view = st.columns([1, 3], gap="large")
    with left_column:
        logits = controls()
    state = st.session_state
    taus = layout.picked(TAUS.key, MAX_TAUS)
    urls.keep_numbers(LOGITS, logits)
    with view:
        if not taus:
            st.warning("Pick at least one temperature.")
        else:
            pictures(logits, taus, int(state[SEED.key]), state[DRAWS.key])


urls.open_bookmark((CLASSES, PRESET, TAUS, SEED, DRAWS))
st.title("Temperature")
st.caption(
    "A Gumbel-Softmax sample is softmax((logits + Gumbel noise) / τ). Small τ: nearly one-hot, "
    "nearly exact; large τ: smooth but far from a category. Every panel uses the same noise."
)
temperature_view()
