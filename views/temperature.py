"""Temperature: what tau does to a Gumbel-Softmax sample, and a check that Gumbel-max is exact.

The logit and τ sliders and the relaxed-sample pictures are a browser component
(browser/temperature.js): a drag redraws in the visitor's browser without a server run. The
server hears of the logits and τ on release, for the URL and the exact Gumbel-max check.
"""

import plotly.graph_objects as go
import streamlit as st

from browser import components as browser
from core.figures import temperature as figures
from core.studies import temperature
from core.studies.temperature import MAX_CLASSES, PRESET_NAMES, logit_preset
from ui import layout, urls

TAU_CHOICES = (0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
DRAW_CHOICES = (1000, 10000, 100000)
MAX_TAUS = 6
LOGIT_RANGE = (-5.0, 5.0)
LOGIT_STEP = 0.1
MIN_CLASSES = 2
PRESET_DEFAULT = "two modes"
TAU_DEFAULT = [0.1, 0.5, 1.0, 5.0]
CLASSES = urls.Param("classes", old="k", low=MIN_CLASSES, high=MAX_CLASSES)
PRESET = urls.Param("preset", options=PRESET_NAMES)
TAUS = urls.Param("taus", options=TAU_CHOICES, label="{:g}".format, many=True)
SEED = urls.Param("seed", low=0, high=urls.SEED_MAX)
DRAWS = urls.Param("draws", old="n", options=DRAW_CHOICES, label="{:,}".format)
# The component's sliders are no widget's value: kept in the URL by hand.
LOGITS = "logits"  # the row of logits, as long as the number of classes, in one parameter
LIVE_TAU = "tau"  # the component's τ slider, log scale
TAU_RANGE, LIVE_TAU_DEFAULT = (0.01, 10.0), 1.0
LIVE_TAU_KEY = "live_tau"
BROWSER_KEY, VERSION_KEY, ERROR_KEY = "temperature_browser", "logits_version", "temperature_error"


def logit_key(i: int) -> str:
    return f"logit_{i}"


def logits_changed_here() -> None:
    """The server set the logits: the component takes them instead of keeping its own."""
    st.session_state[VERSION_KEY] = st.session_state.get(VERSION_KEY, 0) + 1


def apply_preset() -> None:
    """Set the logits from the chosen preset and number of classes."""
    for i, value in enumerate(logit_preset(st.session_state[PRESET.key], st.session_state[CLASSES.key])):
        st.session_state[logit_key(i)] = value
    logits_changed_here()


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
    state[LIVE_TAU_KEY] = edit.tau


def resample() -> None:
    st.session_state[SEED.key] = (st.session_state[SEED.key] + 1) % (urls.SEED_MAX + 1)


def init_logits(classes: int, preset: str) -> None:
    """Logits missing from the session: the URL's values, else the preset's."""
    state = st.session_state
    if all(logit_key(i) in state for i in range(classes)):
        return
    url = urls.numbers(LOGITS, *LOGIT_RANGE, MAX_CLASSES)
    for i, value in enumerate(logit_preset(preset, classes)):
        state.setdefault(logit_key(i), url[i] if i < len(url) else value)


def controls() -> list[float]:
    """The server's settings; the logits themselves are the component's sliders."""
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
    layout.toggles("Temperatures τ", TAU_CHOICES, TAU_DEFAULT, TAUS.key, MAX_TAUS)
    st.number_input("Seed", 0, urls.SEED_MAX, 0, step=1, key=SEED.key, **urls.BOUND)
    st.button("Resample", on_click=resample, icon=":material/casino:", width="stretch")
    st.selectbox("Gumbel-max draws", DRAW_CHOICES, DRAW_CHOICES.index(10000), DRAWS.label, key=DRAWS.key, **urls.BOUND)
    return [float(st.session_state[logit_key(i)]) for i in range(classes)]


@st.cache_resource(max_entries=128, show_spinner=False)
def frequency_check(key: tuple[float, ...], seed: int, draws: int) -> tuple[go.Figure, float, float]:
    """The Gumbel-max check's chart and χ² test, computed once for every visitor who asks for the
    same settings. Shared read-only: st.plotly_chart sends a copy of a figure, never changes it."""
    with layout.one_thread():
        check = temperature.gumbel_max_check(list(key), draws, seed=seed)
    return figures.frequency_figure(check), check.chi2, check.p_value


def live_pictures(logits: list[float], taus: list[float], seed: int) -> None:
    """The browser's sliders and pictures, from the server's logits, temperatures and seed."""
    state = st.session_state
    state.setdefault(LIVE_TAU_KEY, urls.kept_number(LIVE_TAU, *TAU_RANGE, LIVE_TAU_DEFAULT))
    header = {
        "version": state.setdefault(VERSION_KEY, 0),
        "logits": logits,
        "tau": state[LIVE_TAU_KEY],
        "seed": seed,
        "taus": taus,
        "low": LOGIT_RANGE[0],
        "high": LOGIT_RANGE[1],
        "step": LOGIT_STEP,
        "zoom": layout.zoom(),
    }
    layout.guarded(lambda: browser.temperature(BROWSER_KEY, header, browser_edited))
    if state.get(ERROR_KEY):
        layout.show_error(ValueError(state.pop(ERROR_KEY)))
    urls.keep_numbers(LIVE_TAU, [state[LIVE_TAU_KEY]])
    for name in ("gumbel_softmax", "gumbel_softmax_density", "one_hotness", "relaxed_means"):
        layout.maths(name)


def frequencies(logits: list[float], seed: int, draws: int) -> None:
    key = tuple(round(v, 6) for v in logits)
    shown = layout.guarded(lambda: frequency_check(key, seed, draws))
    if shown is None:
        return
    chart, chi2, p_value = shown
    layout.chart(chart, "gumbel_max", width="stretch", key="frequencies")
    layout.note(
        f"χ² = {chi2:.2f}, p = {p_value:.3f}: a p-value that is not tiny means the "
        "frequencies agree with softmax(logits) up to sampling noise."
    )


@st.fragment
@layout.timed("temperature")
def temperature_view() -> None:
    """Controls and charts: a release in the component or a widget change reruns this part only."""
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
            live_pictures(logits, taus, int(state[SEED.key]))
            frequencies(logits, int(state[SEED.key]), state[DRAWS.key])


urls.open_bookmark((CLASSES, PRESET, TAUS, SEED, DRAWS))
st.title("Temperature")
st.caption(
    "A Gumbel-Softmax sample is softmax((logits + Gumbel noise) / τ). Small τ: nearly one-hot, "
    "nearly exact; large τ: smooth but far from a category. Every panel uses the same noise; "
    "the sliders beside the pictures redraw them in your browser."
)
temperature_view()
