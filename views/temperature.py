"""Temperature: what tau does to a Gumbel-Softmax sample, and a check that Gumbel-max is exact."""

import streamlit as st

import ui
from core import figures
from core.temperature import (MAX_CLASSES, PRESET_NAMES, gumbel_max_check, logit_preset, one_hotness_curve,
                              simplex_cloud, study_temperatures)

TAU_CHOICES = [0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
DEFAULT_TAUS = [0.1, 0.5, 1.0, 5.0]
DRAW_CHOICES = [1000, 10000, 100000]


def apply_preset() -> None:
    """Set the logit sliders from the chosen preset and number of classes."""
    for i, value in enumerate(logit_preset(st.session_state.preset, st.session_state.classes)):
        st.session_state[f"logit_{i}"] = value


def resample() -> None:
    st.session_state.seed += 1


def init_from_url() -> None:
    """On a session's first visit, take the settings from the URL (a bookmarked view)."""
    if st.session_state.get("temperature_ready"):
        return
    st.session_state.classes = ui.query_value("k", 3, int, list(range(2, MAX_CLASSES + 1)))
    st.session_state.preset = ui.query_value("preset", "two modes", str, list(PRESET_NAMES))
    st.session_state.taus = [t for t in ui.query_list("taus", DEFAULT_TAUS, float) if t in TAU_CHOICES] or DEFAULT_TAUS
    st.session_state.seed = ui.query_value("seed", 0, int)
    st.session_state.draws = ui.query_value("n", 10000, int, DRAW_CHOICES)
    apply_preset()
    for i, value in enumerate(ui.query_list("logits", [], float)[: st.session_state.classes]):
        st.session_state[f"logit_{i}"] = max(-5.0, min(5.0, value))
    st.session_state.temperature_ready = True


init_from_url()
st.title("Temperature")
st.caption("A Gumbel-Softmax sample is softmax((logits + Gumbel noise) / τ). Small τ: nearly one-hot, "
           "nearly exact; large τ: smooth but far from a category. Every panel uses the same noise.")

controls, view = st.columns([1, 3], gap="large")
with controls:
    st.slider("Number of classes", 2, MAX_CLASSES, key="classes", on_change=apply_preset)
    st.selectbox("Preset", PRESET_NAMES, key="preset", on_change=apply_preset)
    with st.expander("Logits", expanded=True):
        logits = [st.slider(f"class {i}", -5.0, 5.0, step=0.1, key=f"logit_{i}")
                  for i in range(st.session_state.classes)]
    st.multiselect("Temperatures τ", TAU_CHOICES, key="taus", max_selections=6)
    st.number_input("Seed", min_value=0, step=1, key="seed")
    st.button("Resample", on_click=resample, icon=":material/casino:", width="stretch")
    st.selectbox("Gumbel-max draws", DRAW_CHOICES, key="draws", format_func="{:,}".format)

taus = sorted(st.session_state.taus)
seed = int(st.session_state.seed)
ui.write_query(k=st.session_state.classes, preset=st.session_state.preset, logits=[f"{v:g}" for v in logits],
               taus=[f"{t:g}" for t in taus], seed=seed, n=st.session_state.draws)

with view:
    if not taus:
        st.warning("Pick at least one temperature.")
        st.stop()
    study = ui.guarded(lambda: study_temperatures(logits, taus, seed=seed))
    if study is None:
        st.stop()
    st.plotly_chart(figures.relaxed_means_figure(taus, study.means, study.mean_errors, study.probabilities),
                    width="stretch", key="means")
    st.plotly_chart(figures.samples_figure(taus, study.shown), width="stretch", key="samples")
    left, right = st.columns(2)
    with left:
        curve_taus, closeness = one_hotness_curve(logits, seed=seed)
        st.plotly_chart(figures.one_hotness_figure(curve_taus, closeness, taus, len(logits)),
                        width="stretch", key="curve")
    with right:
        check = gumbel_max_check(logits, st.session_state.draws, seed=seed)
        st.plotly_chart(figures.frequency_figure(check.frequencies, check.probabilities, check.draws),
                        width="stretch", key="frequencies")
        st.caption(f"χ² = {check.chi2:.2f}, p = {check.p_value:.3f}: a p-value that is not tiny means the "
                   "frequencies agree with softmax(logits) up to sampling noise.")
    if len(logits) == 3:
        st.plotly_chart(figures.simplex_figure(taus, simplex_cloud(logits, taus, seed=seed), study.probabilities),
                        width="stretch", key="simplex")
    else:
        st.info("Set the number of classes to 3 to see the samples on the simplex.")
