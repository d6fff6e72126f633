"""Gradient estimators: how biased and how noisy each estimator is, against the exact gradient."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import ui
from core.data import load_mnist
from core.estimator_figures import estimator_figure, gradient_figure
from core.estimators import (SHORT_NAMES, Comparison, compare_estimators, decoder_problem,
                             quadratic_problem, reward_problem)

PRESETS = {
    "quadratic": "Quadratic target ‖z − t‖²",
    "reward": "Reward for picking a class",
    "decoder": "VAE decoder loss on a test digit",
}
TAU_GRID = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
DRAW_CHOICES = (100, 200, 500, 1000, 2000, 5000)
RAO_CHOICES = (1, 2, 5, 10, 20, 50, 100)
TEST_DIGITS = 10_000


@st.cache_data(max_entries=64, show_spinner="Estimating gradients…")
def toy_comparison(preset: str, classes: int, variables: int, rewarded: int, draws: int,
                   temperatures: tuple[float, ...], rao_samples: int, seed: int) -> Comparison:
    if preset == "reward":
        problem = reward_problem(classes, variables, rewarded, seed)
    else:
        problem = quadratic_problem(classes, variables, seed)
    return compare_estimators(problem, temperatures, draws, seed + 1, rao_samples)  # draws apart from the logits


@st.cache_data(max_entries=32, show_spinner="Estimating gradients through the decoder…")
def decoder_comparison(model_path: str, modified: float, device: str, digit: int, variable: int, draws: int,
                       temperatures: tuple[float, ...], rao_samples: int, seed: int) -> Comparison:
    model = ui.load_model(Path(model_path), device).model
    image = load_mnist("test").pixels()[digit]
    problem = decoder_problem(model, image, variable)
    return compare_estimators(problem, temperatures, draws, seed, rao_samples)


st.title("Gradient estimators")
st.caption(
    "For a categorical z ~ Cat(softmax(θ)) and a function f, how far is each estimate of "
    "∇θ E[f(z)] from the exact gradient? Small problems are enumerated, so the exact gradient "
    "is known; every number below comes from N seeded draws."
)

tau_range = ui.query_list("tau", [0.1, 10.0], float)
if len(tau_range) != 2 or not set(tau_range) <= set(TAU_GRID):
    tau_range = [0.1, 10.0]

preset = st.segmented_control(
    "Function f", list(PRESETS), format_func=PRESETS.get, required=True, key="est_preset",
    default=ui.query_value("preset", "quadratic", choices=list(PRESETS)))
left, middle, right = st.columns(3)
with left:
    draws = st.select_slider("Draws N", DRAW_CHOICES, key="est_draws",
                             value=ui.query_value("N", 1000, int, choices=list(DRAW_CHOICES)),
                             help="Draws per estimator and temperature.")
    low, high = st.select_slider("Temperatures τ", TAU_GRID, key="est_taus",
                                 value=(min(tau_range), max(tau_range)),
                                 help="Every grid value in this range is computed.")
with middle:
    rao_samples = st.select_slider("Gumbel-Rao draws M", RAO_CHOICES, key="est_rao",
                                   value=ui.query_value("M", 10, int, choices=list(RAO_CHOICES)),
                                   help="Gumbel draws conditioned on the sampled class, averaged per estimate.")
    seed = st.number_input("Seed", min_value=0, step=1, key="est_seed",
                           value=ui.query_value("seed", 0, lambda raw: abs(int(raw))))
temperatures = tuple(t for t in TAU_GRID if low <= t <= high)

with right:
    if preset == "decoder":
        digit = st.number_input("Test digit", min_value=0, max_value=TEST_DIGITS - 1, step=1, key="est_digit",
                                value=ui.query_value("digit", 0, int, choices=range(TEST_DIGITS)))
        variable = st.number_input(
            "Latent variable edited", min_value=0, step=1, key="est_variable",
            value=ui.query_value("var", 0, lambda raw: abs(int(raw))),
            help="This variable is the categorical; the others keep the encoder's most likely class.")
    else:
        classes = st.slider("Classes K", 2, 20, key="est_classes",
                            value=ui.query_value("K", 10, int, choices=list(range(2, 21))))
        variables = st.slider("Variables V", 1, 5, key="est_variables",
                              value=ui.query_value("V", 1, int, choices=list(range(1, 6))),
                              help="Independent categoricals; the exact gradient enumerates all K^V outcomes.")
        rewarded = st.number_input("Rewarded class", min_value=0, step=1, key="est_rewarded",
                                   value=ui.query_value("reward", 0, lambda raw: abs(int(raw))),
                                   disabled=preset != "reward")

query = {"preset": preset, "N": draws, "tau": [low, high], "M": rao_samples, "seed": seed}
if preset == "decoder":
    ui.write_query(**query, digit=digit, var=variable)
    model_path = ui.current_model_path()
    if model_path is None:
        st.info("No trained model is available yet, so the decoder preset has nothing to differentiate. "
                "Train one on the Train page, or pick another function f.", icon=":material/info:")
        st.stop()
    comparison = ui.guarded(lambda: decoder_comparison(
        str(model_path), model_path.stat().st_mtime, ui.current_device(), int(digit), int(variable),
        draws, temperatures, rao_samples, int(seed)))
    problem_note = f"Model {model_path.stem}, test digit {digit}: θ are the encoder's logits for variable {variable}."
else:
    ui.write_query(**query, K=classes, V=variables, reward=rewarded)
    comparison = ui.guarded(lambda: toy_comparison(
        preset, classes, variables, int(rewarded), draws, temperatures, rao_samples, int(seed)))
    problem_note = ("t is evenly spaced in [0, 1]; θ are standard-normal logits from the seed."
                    if preset == "quadratic" else f"f counts the variables that pick class {rewarded}: a linear f.")
if comparison is None:
    st.stop()

best = comparison.lowest_mse()
where = "any τ" if best.tau is None else f"τ = {best.tau:g}"
first, second, third = st.columns(3)
first.metric("Exact E[f]", f"{comparison.value:.4g}")
second.metric("Exact gradient norm ‖∇‖", f"{comparison.exact.norm().item():.4g}")
third.metric("Lowest MSE", SHORT_NAMES[best.estimator], f"{where}, MSE {best.mse:.3g}",
             delta_color="off", delta_arrow="off")
st.caption(problem_note + " Dashed: score-function estimators (no temperature). "
           "Dotted in the bias panel: √(variance / N), the bias noise alone produces.")
st.plotly_chart(estimator_figure(comparison), width="stretch")

shown = st.select_slider("Temperature for the gradient bars", comparison.temperatures,
                         value=1.0 if 1.0 in comparison.temperatures else comparison.temperatures[0])
st.plotly_chart(gradient_figure(comparison, shown), width="stretch")
with st.expander("All numbers"):
    st.dataframe(comparison.rows(), width="stretch", hide_index=True)
