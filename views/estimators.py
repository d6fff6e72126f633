"""Gradient estimators: how biased and how noisy each estimator is, against the exact gradient."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.estimators import Comparison, compare_estimators, decoder_problem, quadratic_problem, reward_problem
from core.figures.estimators import estimator_figure, gradient_figure
from core.names import SHORT_LABELS
from ui import layout, mnist, models, urls

PRESETS = {
    "quadratic": "Quadratic target ‖z − t‖²",
    "reward": "Reward for picking a class",
    "decoder": "VAE decoder loss on a test digit",
}
TAU_GRID = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
DRAW_CHOICES = (100, 200, 500, 1000, 2000, 5000)
RAO_CHOICES = (1, 2, 5, 10, 20, 50, 100)
TEST_DIGITS = 10_000
MAX_REWARDED_CLASS = 19
MAX_VARIABLE = 999
MAX_CLASSES, MAX_VARIABLES = 20, 5
PRESET = urls.Param("est_preset", old="preset", options=tuple(PRESETS), label=PRESETS.__getitem__)
DRAWS = urls.Param("est_draws", old="N", options=DRAW_CHOICES)
TAUS = urls.Param("est_taus", old="tau", options=TAU_GRID, label="{:g}".format, many=True)
RAO = urls.Param("est_rao", old="M", options=RAO_CHOICES)
SEED = urls.Param("est_seed", old="seed", low=0, high=urls.SEED_MAX)
DIGIT = urls.Param("est_digit", old="digit", low=0, high=TEST_DIGITS - 1)
VARIABLE = urls.Param("est_variable", old="var", low=0, high=MAX_VARIABLE)
CLASSES = urls.Param("est_classes", old="K", low=2, high=MAX_CLASSES)
VARIABLES = urls.Param("est_variables", old="V", low=1, high=MAX_VARIABLES)
REWARDED = urls.Param("est_rewarded", old="reward", low=0, high=MAX_REWARDED_CLASS)
PARAMS = (PRESET, DRAWS, TAUS, RAO, SEED, DIGIT, VARIABLE, CLASSES, VARIABLES, REWARDED)


@st.cache_data(max_entries=64, show_spinner="Estimating gradients…")
def toy_comparison(
    preset: str,
    classes: int,
    variables: int,
    rewarded: int,
    draws: int,
    temperatures: tuple[float, ...],
    rao_samples: int,
    seed: int,
) -> Comparison:
    if preset == "reward":
        problem = reward_problem(classes, variables, rewarded, seed)
    else:
        problem = quadratic_problem(classes, variables, seed)
    with layout.one_thread():
        return compare_estimators(problem, temperatures, draws, seed + 1, rao_samples)  # draws apart from the logits


@st.cache_data(max_entries=32, show_spinner="Estimating gradients through the decoder…")
def decoder_comparison(
    model_path: str,
    modified: float,
    device: str,
    digit: int,
    variable: int,
    draws: int,
    temperatures: tuple[float, ...],
    rao_samples: int,
    seed: int,
) -> Comparison:
    model = models.load_model(Path(model_path), device).model
    image = mnist.splits()[1].pixels()[digit]
    problem = decoder_problem(model, image, variable)
    with layout.one_thread():
        return compare_estimators(problem, temperatures, draws, seed, rao_samples)


def settings() -> None:
    preset = st.radio(  # one option a line: a narrow column shows each whole (a button row cut them)
        "Function f",
        PRESET.options,
        PRESET.options.index("quadratic"),
        PRESET.label,
        key=PRESET.key,
        **urls.BOUND,
    )
    st.select_slider(
        "Draws N", DRAW_CHOICES, 1000, key=DRAWS.key, help="Draws per estimator and temperature.", **urls.BOUND
    )
    st.select_slider(
        "Temperatures τ",
        TAU_GRID,
        (0.1, 10.0),
        TAUS.label,
        key=TAUS.key,
        help="Every grid value in this range is computed.",
        **urls.BOUND,
    )
    st.select_slider(
        "Gumbel-Rao draws M",
        RAO_CHOICES,
        10,
        key=RAO.key,
        help="Gumbel draws conditioned on the sampled class, averaged per estimate.",
        **urls.BOUND,
    )
    st.number_input("Seed", 0, urls.SEED_MAX, 0, step=1, key=SEED.key, **urls.BOUND)
    if preset == "decoder":
        st.number_input("Test digit", 0, TEST_DIGITS - 1, 0, step=1, key=DIGIT.key, **urls.BOUND)
        st.number_input(
            "Latent variable edited",
            0,
            MAX_VARIABLE,
            0,
            step=1,
            key=VARIABLE.key,
            help="This variable is the categorical; the others keep the encoder's most likely class.",
            **urls.BOUND,
        )
    else:
        st.slider("Classes K", 2, MAX_CLASSES, 10, key=CLASSES.key, **urls.BOUND)
        st.slider(
            "Variables V",
            1,
            MAX_VARIABLES,
            1,
            key=VARIABLES.key,
            help="Independent categoricals; the exact gradient enumerates all K^V outcomes.",
            **urls.BOUND,
        )
        st.number_input(
            "Rewarded class",
            0,
            MAX_REWARDED_CLASS,
            0,
            step=1,
            key=REWARDED.key,
            disabled=preset != "reward",
            **urls.BOUND,
        )


def comparison_for(state) -> tuple[Comparison | None, str]:
    """The page's one core call, cached, and a sentence on what the problem is."""
    low, high = state[TAUS.key]
    temperatures = tuple(t for t in TAU_GRID if low <= t <= high)
    common = (state[DRAWS.key], temperatures, state[RAO.key], int(state[SEED.key]))
    if state[PRESET.key] == "decoder":
        model_path = models.current_model_path()
        if model_path is None:
            st.info(
                "No trained model is available yet, so the decoder preset has nothing to differentiate. "
                "Train one on the Train page, or pick another function f.",
                icon=":material/info:",
            )
            return None, ""
        digit, variable = int(state[DIGIT.key]), int(state[VARIABLE.key])
        comparison = layout.guarded(
            lambda: decoder_comparison(
                str(model_path), model_path.stat().st_mtime, models.current_device(), digit, variable, *common
            )
        )
        return (
            comparison,
            f"Model {model_path.stem}, test digit {digit}: θ are the encoder's logits for variable {variable}.",
        )
    preset, rewarded = state[PRESET.key], int(state[REWARDED.key])
    comparison = layout.guarded(
        lambda: toy_comparison(preset, state[CLASSES.key], state[VARIABLES.key], rewarded, *common)
    )
    note = (
        "t is evenly spaced in [0, 1]; θ are standard-normal logits from the seed."
        if preset == "quadratic"
        else f"f counts the variables that pick class {rewarded}: a linear f."
    )
    return comparison, note


def results(comparison: Comparison, note: str) -> None:
    best = comparison.lowest_mse()
    where = "any τ" if best.tau is None else f"τ = {best.tau:g}"
    first, second, third = st.columns(3)
    first.metric("Exact E[f]", f"{comparison.value:.4g}")
    second.metric("Exact gradient norm ‖∇‖", f"{comparison.exact.norm().item():.4g}")
    # The value is the number; the estimator's name goes below it, where a long name wraps instead
    # of being cut to "Plain …" in presenter view's large metric font.
    winner = f"{SHORT_LABELS[best.estimator]}, {where}"
    third.metric("Lowest MSE", f"{best.mse:.3g}", winner, delta_color="off", delta_arrow="off")
    layout.note(
        note + " Dashed: score-function estimators (no temperature). "
        "Dotted in the bias panel: √(variance / N), the bias noise alone produces."
    )
    layout.chart(estimator_figure(comparison), "estimator_error", width="stretch")
    shown = st.select_slider(
        "Temperature for the gradient bars",
        comparison.temperatures,
        value=1.0 if 1.0 in comparison.temperatures else comparison.temperatures[0],
    )
    layout.chart(gradient_figure(comparison, shown), "estimator_gradients", width="stretch")
    with st.expander("All numbers"):
        st.dataframe(comparison.rows(), width="stretch", hide_index=True)


st.title("Gradient estimators")
st.caption(
    "For a categorical z ~ Cat(softmax(θ)) and a function f, how far is each estimate of "
    "∇θ E[f(z)] from the exact gradient? Small problems are enumerated, so the exact gradient "
    "is known; every number below comes from N seeded draws."
)
urls.open_bookmark(PARAMS)
controls, view = st.columns([1, 3], gap="large")  # the settings beside the charts: a chart on the first screen
with controls:
    settings()
with view:
    comparison, note = comparison_for(st.session_state)
    if comparison is not None:
        results(comparison, note)
