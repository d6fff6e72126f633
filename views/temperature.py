"""Temperature: what tau does to a Gumbel-Softmax sample, and a check that Gumbel-max is exact.

The logit and τ sliders and the relaxed-sample pictures are a browser component
(browser/temperature.js): a drag redraws in the visitor's browser without a server run. The
server hears of the logits and τ on release, for the URL and the exact Gumbel-max check.
"""

import plotly.graph_objects as go
import streamlit as st

import ui
from browser import components as browser
from core.figures import temperature as figures
from core.studies import temperature
from core.studies.temperature import MAX_CLASSES, PRESET_NAMES, logit_preset

TAU_CHOICES = (0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
DRAW_CHOICES = (1000, 10000, 100000)
MAX_TAUS = 6
LOGIT_RANGE = (-5.0, 5.0)
CLASSES = ui.IntField("classes", "k", 3, low=2, high=MAX_CLASSES)
PRESET = ui.ChoiceField("preset", "preset", "two modes", choices=PRESET_NAMES)
TAUS = ui.ListField("taus", "taus", [0.1, 0.5, 1.0, 5.0], choices=TAU_CHOICES, max_count=MAX_TAUS)
SEED = ui.IntField("seed", "seed", 0, high=ui.SEED_MAX, fold=True)
DRAWS = ui.ChoiceField("draws", "n", 10000, choices=DRAW_CHOICES)
LOGITS = ui.FloatListField("logits", "logits", [], *LOGIT_RANGE, max_count=MAX_CLASSES)
FIELDS = (CLASSES, PRESET, TAUS, SEED, DRAWS)
TAU_RANGE = (0.01, 10.0)  # the component's τ slider, log scale
LIVE_TAU = ui.FloatField("live_tau", "tau", 1.0, *TAU_RANGE)
LOGIT_STEP = 0.1
BROWSER_KEY, VERSION_KEY, ERROR_KEY = "temperature_browser", "logits_version", "temperature_error"


def logit_key(i: int) -> str:
    return f"logit_{i}"


def apply_preset() -> None:
    """Set the logit sliders from the chosen preset and number of classes."""
    for i, value in enumerate(logit_preset(st.session_state[PRESET.key], st.session_state[CLASSES.key])):
        st.session_state[logit_key(i)] = value
    logits_changed_here()


def logits_changed_here() -> None:
    """The server set the logits: the component takes them instead of keeping its own."""
    st.session_state[VERSION_KEY] = st.session_state.get(VERSION_KEY, 0) + 1


def browser_edited() -> None:
    """The component's logits and τ, reported on release, checked and kept."""
    state = st.session_state
    try:
        edit = browser.read_temperature_edit(state[BROWSER_KEY]["edit"], state[CLASSES.key], LOGIT_RANGE, TAU_RANGE)
    except ValueError as err:
        state[ERROR_KEY] = str(err)
        return
    for i, value in enumerate(edit.logits):
        state[logit_key(i)] = round(value, 6)
    state[LIVE_TAU.key] = edit.tau


def resample() -> None:
    st.session_state[SEED.key] = (st.session_state[SEED.key] + 1) % (ui.SEED_MAX + 1)


def init_logits() -> None:
    """Logit sliders missing from the session: the URL's values, else the preset's."""
    state = st.session_state
    if all(logit_key(i) in state for i in range(state[CLASSES.key])):
        return
    preset = logit_preset(state[PRESET.key], state[CLASSES.key])
    url = ui.url_value(LOGITS) or []
    for i, value in enumerate(preset):
        state.setdefault(logit_key(i), url[i] if i < len(url) else value)


def controls() -> list[float]:
    st.slider("Number of classes", CLASSES.low, CLASSES.high, key=CLASSES.key, on_change=apply_preset)
    st.selectbox("Preset", PRESET.choices, key=PRESET.key, on_change=apply_preset)
    logits = [float(st.session_state[logit_key(i)]) for i in range(st.session_state[CLASSES.key])]
    st.multiselect("Temperatures τ", TAU_CHOICES, key=TAUS.key, max_selections=MAX_TAUS)
    st.number_input("Seed", min_value=0, max_value=ui.SEED_MAX, step=1, key=SEED.key)
    st.button("Resample", on_click=resample, icon=":material/casino:", width="stretch")
    st.selectbox("Gumbel-max draws", DRAW_CHOICES, key=DRAWS.key, format_func="{:,}".format)
    return logits


@st.cache_resource(max_entries=128, show_spinner=False)
def frequency_check(key: tuple[float, ...], seed: int, draws: int) -> tuple[go.Figure, float, float]:
    """The Gumbel-max check's chart and χ² test, computed once for every visitor who asks for the
    same settings. Shared read-only: st.plotly_chart sends a copy of a figure, never changes it."""
    with ui.one_thread():
        check = temperature.gumbel_max_check(list(key), draws, seed=seed)
    return figures.frequency_figure(check), check.chi2, check.p_value


def live_pictures(logits: list[float], taus: list[float], seed: int) -> None:
    """The browser's sliders and pictures, from the server's logits, temperatures and seed."""
    state = st.session_state
    ui.url_state([LIVE_TAU])
    state.setdefault(VERSION_KEY, 0)
    header = {
        "version": state[VERSION_KEY],
        "logits": logits,
        "tau": state[LIVE_TAU.key],
        "seed": seed,
        "taus": taus,
        "low": LOGIT_RANGE[0],
        "high": LOGIT_RANGE[1],
        "step": LOGIT_STEP,
    }
    ui.guarded(lambda: browser.temperature(BROWSER_KEY, header, browser_edited))
    if state.get(ERROR_KEY):
        ui.show_error(ValueError(state.pop(ERROR_KEY)))
    ui.write_url([LIVE_TAU])
    for name in ("gumbel_softmax", "gumbel_softmax_density", "one_hotness", "relaxed_means"):
        ui.maths(name)


def pictures(logits: list[float], seed: int, draws: int) -> None:
    key = tuple(round(v, 6) for v in logits)
    shown = ui.guarded(lambda: frequency_check(key, seed, draws))
    if shown is None:
        return
    chart, chi2, p_value = shown
    ui.chart(chart, "gumbel_max", width="stretch", key="frequencies")
    ui.note(
        f"χ² = {chi2:.2f}, p = {p_value:.3f}: a p-value that is not tiny means the "
        "frequencies agree with softmax(logits) up to sampling noise."
    )


@st.fragment
@ui.timed("temperature")
def temperature_view() -> None:
    """Controls and charts: a slider move reruns this part only, not the sidebar and title."""
    ui.url_state(FIELDS)
    init_logits()
    left_column, view = st.columns([1, 3], gap="large")
    with left_column:
        logits = controls()
    state = st.session_state
    taus = sorted(state[TAUS.key])
    ui.write_url(FIELDS)
    ui.write_param(LOGITS, logits)
    with view:
        if not taus:
            st.warning("Pick at least one temperature.")
        else:
            live_pictures(logits, taus, int(state[SEED.key]))
            pictures(logits, int(state[SEED.key]), state[DRAWS.key])


st.title("Temperature")
st.caption(
    "A Gumbel-Softmax sample is softmax((logits + Gumbel noise) / τ). Small τ: nearly one-hot, "
    "nearly exact; large τ: smooth but far from a category. Every panel uses the same noise; "
    "the sliders beside the pictures redraw them in your browser."
)
temperature_view()
