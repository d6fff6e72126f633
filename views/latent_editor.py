"""Latent editor: edit a trained model's one-hot code and watch the decoded digit change."""

import streamlit as st
import torch

import ui
from core import figures, latent
from core.data import MissingDataError, load_mnist

st.title("Latent editor")

path = ui.current_model_path()
if path is None:
    st.info("No model is available yet. Train one on the Train page; it will appear in the sidebar.")
    st.stop()
checkpoint = ui.guarded(lambda: ui.load_model(path))
if checkpoint is None:
    st.stop()
model = checkpoint.model
variables, classes = model.config.latent_vars, model.config.classes
state = st.session_state


@st.cache_resource(show_spinner=False)
def test_split():
    return load_mnist("test")


def start_from_prior(seed: int) -> None:
    state.code = latent.prior_code(model, seed).tolist()
    state.probs, state.original, state.source = None, None, f"prior sample, seed {seed}"
    state.start_seed = seed
    sync_class()


def start_from_digit(index: int) -> None:
    try:
        digits = test_split()
    except MissingDataError as err:
        state.editor_error = str(err)
        return
    image = digits.pixels()[index]
    probs, code = latent.encode_digit(model, image)
    state.code, state.probs, state.original = code.tolist(), probs, image.reshape(28, 28)
    state.source = f"test digit #{index} (label {int(digits.labels[index])})"
    state.start_digit = index
    sync_class()


def sync_class() -> None:
    """Show the selected variable's current class in the class picker."""
    state.editor_class = state.code[state.editor_variable]


def set_class() -> None:
    state.code = latent.set_class(model, state.code, state.editor_variable, state.editor_class).tolist()


def clicked() -> None:
    points = state[f"grid_{state.grid_version}"].selection.points
    if points:
        state.editor_variable, state.editor_class = int(points[0]["x"]), int(points[0]["y"])
        set_class()
        state.grid_version += 1  # a fresh chart: the click must not stay selected


def randomize() -> None:
    state.randomize_seed = state.get("randomize_seed", 0) + 1
    state.code = latent.randomize_variable(model, state.code, state.editor_variable, state.randomize_seed).tolist()
    sync_class()


def init() -> None:
    """First visit, or a model with another code shape: start from the URL's code or a prior sample."""
    state.grid_version = state.get("grid_version", 0)
    state.editor_variable = ui.query_value("var", 0, int, list(range(variables)))
    url_code = ui.query_value("code", "", str)
    if len(url_code) == variables and all(c.isdigit() and int(c) < classes for c in url_code):
        state.code, state.probs, state.original, state.source = [int(c) for c in url_code], None, None, "bookmarked code"
        sync_class()
    else:
        start_from_prior(ui.query_value("seed", 0, int))
    state.code_shape = (variables, classes)


if state.get("code_shape") != (variables, classes):
    init()

st.caption(f"Model **{checkpoint.name}**: {variables} variables × {classes} classes. "
           f"Started from {state.source}. Click a cell of the code, or pick a variable and a class.")
if state.get("editor_error"):
    ui.show_error(RuntimeError(state.pop("editor_error")))

with st.expander("Start from…", expanded=False):
    a, b = st.columns(2)
    with a:
        seed = st.number_input("Prior sample seed", min_value=0, value=int(state.get("start_seed", 0)), step=1)
        st.button("Sample from the prior", on_click=start_from_prior, args=(int(seed),), icon=":material/casino:")
    with b:
        index = st.number_input("Test digit index", min_value=0, max_value=9999, value=int(state.get("start_digit", 0)))
        st.button("Encode this test digit", on_click=start_from_digit, args=(int(index),), icon=":material/input:")

code = torch.tensor(state.code)
ui.write_query(code="".join(map(str, state.code)), var=state.editor_variable)

grid_col, digit_col = st.columns([3, 1], gap="large")
with grid_col:
    st.plotly_chart(figures.code_grid_figure(code, classes, selected=state.editor_variable),
                    key=f"grid_{state.grid_version}", on_select=clicked, selection_mode="points",
                    width="stretch", config={"displayModeBar": False})
    v, c, r = st.columns([1, 3, 1.2], vertical_alignment="bottom")
    v.number_input("Variable", min_value=0, max_value=variables - 1, step=1, key="editor_variable", on_change=sync_class)
    c.segmented_control("Class", list(range(classes)), key="editor_class", on_change=set_class, required=True)
    r.button("Randomize", on_click=randomize, icon=":material/shuffle:", width="stretch")
with digit_col:
    decoded = latent.decode_code(model, code)
    if state.original is not None:
        images, labels = torch.stack([state.original, decoded]), ["original", "decoded"]
        st.plotly_chart(figures.digits_figure(images, 1, "Original and decoding", 620, labels),
                        width="stretch", config={"displayModeBar": False})
    else:
        st.plotly_chart(figures.digits_figure(decoded[None], 1, "Decoded digit", 380),
                        width="stretch", config={"displayModeBar": False})

if state.probs is not None:
    st.plotly_chart(figures.probabilities_figure(state.probs, code), width="stretch",
                    config={"displayModeBar": False})

sweep_tab, path_tab = st.tabs([f"What does variable {state.editor_variable} control?", "Interpolate"])
with sweep_tab:
    sweep = latent.variable_sweep(model, code, state.editor_variable)
    st.plotly_chart(figures.digits_figure(sweep, classes, f"Variable {state.editor_variable} set to each class",
                                          220, [f"class {k}" for k in range(classes)]),
                    width="stretch", config={"displayModeBar": False})
with path_tab:
    target_seed = st.number_input("Target: prior sample seed", min_value=0, value=1, step=1)
    target = latent.prior_code(model, int(target_seed))
    codes = latent.interpolation_path(model, code, target)
    strip = latent.decode_codes(model, codes)
    st.plotly_chart(figures.digits_figure(strip, min(len(strip), 16),
                                          f"From this code to prior sample {target_seed}, one variable at a time",
                                          None, None),
                    width="stretch", config={"displayModeBar": False})
