"""Latent editor: edit a trained model's code and watch the decoded digit change, or draw a digit
and see what the encoder makes of it.

The code grid, the decoded digit and Play Gumbel-Softmax run in the visitor's browser
(browser/latent_editor.js) from the model's decoder, sent once: a click or a drag redraws without
a server run, and the server hears of the code on release, for the URL and the sections below. A
model too large for the browser is edited through the server, as before.
"""

import re
import time

import streamlit as st
import torch
from streamlit_drawable_canvas import st_canvas

from browser import components as browser
from core.data import MissingDataError
from core.digits import DrawnDigit, ink_from_png, read_drawing
from core.figures.images import digit_picture, tile_images
from core.figures.latent import code_grid_figure, probabilities_figure
from core.studies import latent
from core.vae import CategoricalVAE
from ui import layout, mnist, models, urls

TEST_DIGITS = 10_000
CODE_KEY, PROBS_KEY, ORIGINAL_KEY, SOURCE_KEY = "code", "probs", "original", "source"
VARIABLE_KEY, CLASS_KEY, SHAPE_KEY = "editor_variable", "editor_class", "code_shape"
GRID_VERSION_KEY, RANDOMIZE_KEY, ERROR_KEY = "grid_version", "randomize_seed", "editor_error"
START_SEED = urls.Param("start_seed", old="seed", low=0, high=urls.SEED_MAX)
START_DIGIT = urls.Param("start_digit", old="digit", low=0, high=TEST_DIGITS - 1)
TARGET_SEED = urls.Param("target_seed", old="target", low=0, high=urls.SEED_MAX)
TARGET_DEFAULT = 1
# The code and what the browser component holds are no widget's value: kept in the URL by hand.
CODE_PARAM, MIX_PARAM, PLAY_TAU_PARAM, PLAY_SEED_PARAM = "code", "mix", "tau", "noise"
NO_TOOLBAR = {"displayModeBar": False}
PATH_COLUMNS = 16
CANVAS_VERSION_KEY, DRAW_TIME_KEY = "canvas_version", "draw_seconds"
CANVAS_PIXELS = 280  # ten canvas pixels per MNIST pixel
BROWSER_KEY, VERSION_KEY, MIX_KEY = "latent_browser", "code_version", "code_mix"
PLAY_TAU_KEY, PLAY_SEED_KEY = "play_tau", "play_seed"
PLAY_TAUS, PLAY_TAU_DEFAULT = (0.01, 10.0), 1.0
# Soft variables in the URL: "variable:position" pairs, a position between two classes.
MIX_PAIR = r"[0-9]{1,3}:[0-9]{1,3}(\.[0-9]{1,4})?"
MIX_TEXT = re.compile(f"{MIX_PAIR}(,{MIX_PAIR}){{0,99}}")
state = st.session_state


def bookmarked_code(model: CategoricalVAE) -> list[int] | None:
    """The URL's code if it fits the model: one ASCII digit per variable, each a class it has."""
    text = st.query_params.get(CODE_PARAM, "")
    fits = len(text) == model.config.latent_vars and text.isascii() and text.isdigit()
    return [int(c) for c in text] if fits and all(int(c) < model.config.classes for c in text) else None


def variable_param(model: CategoricalVAE) -> urls.Param:
    return urls.Param(VARIABLE_KEY, old="var", low=0, high=model.config.latent_vars - 1)


@st.cache_data(max_entries=512, show_spinner=False)
def code_views(
    _model: CategoricalVAE, model_key: tuple[str, float, str], code: tuple[int, ...], variable: int, target_seed: int
) -> latent.CodeViews:
    """Decoded once for every visitor on the same model (its file, version and device) and code."""
    with layout.one_thread():
        return latent.code_views(_model, list(code), variable, target_seed)


def sync_class() -> None:
    """Show the selected variable's current class in the class picker."""
    state[CLASS_KEY] = state[CODE_KEY][state[VARIABLE_KEY]]


def changed_here() -> None:
    """The server changed the code or the selection: the browser takes the server's instead of
    keeping its own edits."""
    state[VERSION_KEY] = state.get(VERSION_KEY, 0) + 1


def one_hot_again(*variables: int) -> None:
    """The server set these variables (all when none are named) to one class each."""
    mix = state.setdefault(MIX_KEY, {})
    for variable in variables or list(mix):
        mix.pop(variable, None)
    changed_here()


def variable_changed() -> None:
    sync_class()
    changed_here()


def start_from_prior(model: CategoricalVAE, seed: int) -> None:
    state[CODE_KEY] = latent.prior_code(model, seed).tolist()
    state[PROBS_KEY], state[ORIGINAL_KEY], state[SOURCE_KEY] = None, None, f"prior sample, seed {seed}"
    sync_class()
    one_hot_again()


def start_from_digit(model: CategoricalVAE, index: int) -> None:
    try:
        digits = mnist.splits()[1]
    except MissingDataError as err:
        state[ERROR_KEY] = str(err)
        return
    image = digits.pixels()[index]
    probs, code = latent.encode_digit(model, image)
    state[CODE_KEY], state[PROBS_KEY], state[ORIGINAL_KEY] = code.tolist(), probs, image.reshape(28, 28)
    state[SOURCE_KEY] = f"test digit #{index} (label {int(digits.labels[index])})"
    sync_class()
    one_hot_again()


def set_class(model: CategoricalVAE) -> None:
    state[CODE_KEY] = latent.set_class(model, state[CODE_KEY], state[VARIABLE_KEY], state[CLASS_KEY]).tolist()
    one_hot_again(state[VARIABLE_KEY])


def clicked(model: CategoricalVAE) -> None:
    points = state[f"grid_{state[GRID_VERSION_KEY]}"].selection.points
    if points:
        state[VARIABLE_KEY], state[CLASS_KEY] = int(points[0]["x"]), int(points[0]["y"])
        set_class(model)
        state[GRID_VERSION_KEY] += 1  # a fresh chart: the click must not stay selected


def randomize(model: CategoricalVAE) -> None:
    state[RANDOMIZE_KEY] = state.get(RANDOMIZE_KEY, 0) + 1
    state[CODE_KEY] = latent.randomize_variable(
        model, state[CODE_KEY], state[VARIABLE_KEY], state[RANDOMIZE_KEY]
    ).tolist()
    sync_class()
    one_hot_again(state[VARIABLE_KEY])


def init(model: CategoricalVAE) -> None:
    """First visit, or a model with another code shape: start from the URL's code or a prior sample."""
    state.setdefault(GRID_VERSION_KEY, 0)
    state[VARIABLE_KEY] = min(int(urls.first(variable_param(model), 0)), model.config.latent_vars - 1)
    state.pop(MIX_KEY, None)
    bookmarked = bookmarked_code(model)
    if bookmarked:
        state[CODE_KEY] = bookmarked
        state[PROBS_KEY], state[ORIGINAL_KEY], state[SOURCE_KEY] = None, None, "bookmarked code"
        sync_class()
    else:
        start_from_prior(model, int(urls.first(START_SEED, 0)))
    state[SHAPE_KEY] = (model.config.latent_vars, model.config.classes)


def start_controls(model: CategoricalVAE) -> None:
    with st.expander("Start from…", expanded=False):
        a, b = st.columns(2)
        with a:
            st.number_input("Prior sample seed", 0, urls.SEED_MAX, 0, step=1, key=START_SEED.key, **urls.BOUND)
            st.button(
                "Sample from the prior",
                on_click=lambda: start_from_prior(model, int(state[START_SEED.key])),
                icon=":material/casino:",
            )
        with b:
            st.number_input("Test digit index", 0, TEST_DIGITS - 1, 0, key=START_DIGIT.key, **urls.BOUND)
            st.button(
                "Encode this test digit",
                on_click=lambda: start_from_digit(model, int(state[START_DIGIT.key])),
                icon=":material/input:",
            )


def code_controls(model: CategoricalVAE) -> None:
    """The selected variable, its class and Randomize: the keyboard's way to edit the code."""
    variables, classes = model.config.latent_vars, model.config.classes
    v, c, r = st.columns([1, 3, 1.2], vertical_alignment="bottom")
    v.number_input("Variable", 0, variables - 1, step=1, key=VARIABLE_KEY, on_change=variable_changed, **urls.BOUND)
    c.segmented_control(  # wraps onto a second line rather than hide classes behind a sideways scroll
        "Class", list(range(classes)), key=CLASS_KEY, on_change=lambda: set_class(model), required=True, wrap=True
    )
    r.button("Randomize", on_click=lambda: randomize(model), icon=":material/shuffle:", width="stretch")


def server_editor(model: CategoricalVAE, code: torch.Tensor, decoded: latent.CodeViews) -> None:
    """The clickable grid with its controls, and the decoded digit beside it, drawn on the server."""
    grid_col, digit_col = st.columns([3, 1], gap="large")
    with grid_col:
        layout.chart(
            code_grid_figure(code, model.config.classes, selected=state[VARIABLE_KEY]),
            None,
            key=f"grid_{state[GRID_VERSION_KEY]}",
            on_select=lambda: clicked(model),
            selection_mode="points",
            width="stretch",
            config=NO_TOOLBAR,
        )
        code_controls(model)
    with digit_col:
        if state[ORIGINAL_KEY] is not None:
            st.image(digit_picture(state[ORIGINAL_KEY]), caption="Original", width="stretch", output_format="PNG")
        st.image(digit_picture(decoded.digit), caption="Decoded digit", width="stretch", output_format="PNG")
    layout.maths("code_grid")


@st.cache_resource(max_entries=8, show_spinner=False)
def packed_decoder(_model: CategoricalVAE, model_key: tuple[str, float, str]) -> browser.BrowserModel:
    """The decoder as the browser receives it, packed and checked once per model for every visitor."""
    with layout.one_thread():
        return browser.pack_decoder(_model)


def bookmarked_mix(model: CategoricalVAE) -> dict[int, float]:
    """The URL's soft variables ("variable:position" pairs); pairs the model cannot have are dropped."""
    text = st.query_params.get(MIX_PARAM, "")
    if not MIX_TEXT.fullmatch(text):
        return {}
    mix = {int(v): float(x) for v, x in (part.split(":") for part in text.split(","))}
    vars_, classes = model.config.latent_vars, model.config.classes
    return {v: x for v, x in mix.items() if v < vars_ and 0 < x < classes - 1 and not x.is_integer()}


def mix_text(mix: dict[int, float]) -> str:
    return ",".join(f"{v}:{x:g}" for v, x in sorted(mix.items()))


def start_mix(model: CategoricalVAE) -> None:
    """A bookmark's soft variables, once, with the code's classes rounded to match."""
    if MIX_KEY in state:
        return
    state[MIX_KEY] = bookmarked_mix(model)
    for variable, position in state[MIX_KEY].items():
        state[CODE_KEY][variable] = int(latent.nearest_code([position])[0])


def positions() -> list[float]:
    """Every variable's position on its class axis: its class, or where a drag left it between two."""
    return [state[MIX_KEY].get(v, float(c)) for v, c in enumerate(state[CODE_KEY])]


def browser_edited(model: CategoricalVAE) -> None:
    """The code, selection, τ and noise seed the browser reported on release, checked and kept."""
    try:
        edit = browser.read_latent_edit(
            state[BROWSER_KEY]["edit"],
            model.config.latent_vars,
            model.config.classes,
            PLAY_TAUS,
            urls.SEED_MAX,
        )
    except ValueError as err:
        state[ERROR_KEY] = str(err)
        return
    state[CODE_KEY] = latent.nearest_code(edit.positions).tolist()
    state[MIX_KEY] = {v: x for v, x in enumerate(edit.positions) if not x.is_integer()}
    state[VARIABLE_KEY] = edit.variable
    sync_class()
    state[PLAY_TAU_KEY], state[PLAY_SEED_KEY] = edit.tau, edit.seed


def keep_text(name: str, text: str) -> None:
    if st.query_params.get(name) != text:
        st.query_params[name] = text


def rounded(values: torch.Tensor, digits: int) -> list[float]:
    return [round(float(v), digits) for v in values.flatten()]


def browser_editor(model: CategoricalVAE, packed: browser.BrowserModel) -> None:
    """The grid, the digit and Play in the browser, the server's controls below it."""
    state.setdefault(PLAY_TAU_KEY, urls.kept_number(PLAY_TAU_PARAM, *PLAY_TAUS, PLAY_TAU_DEFAULT))
    state.setdefault(PLAY_SEED_KEY, int(urls.kept_number(PLAY_SEED_PARAM, 0, urls.SEED_MAX, 0)))
    start_mix(model)
    probs, original = state[PROBS_KEY], state[ORIGINAL_KEY]
    header = {
        "version": state.setdefault(VERSION_KEY, 0),
        "vars": model.config.latent_vars,
        "classes": model.config.classes,
        "positions": positions(),
        "posterior": [] if probs is None else rounded(probs.clamp_min(1e-12).log(), 4),
        "original": [] if original is None else rounded(original, 3),
        "variable": state[VARIABLE_KEY],
        "tau": state[PLAY_TAU_KEY],
        "seed": state[PLAY_SEED_KEY],
        "zoom": layout.zoom(),
    }
    layout.guarded(lambda: browser.latent_editor(BROWSER_KEY, packed, header, lambda: browser_edited(model)))
    code_controls(model)
    layout.maths("code_grid")
    urls.keep_numbers(PLAY_TAU_PARAM, [state[PLAY_TAU_KEY]])
    urls.keep_numbers(PLAY_SEED_PARAM, [state[PLAY_SEED_KEY]])
    if state[MIX_KEY]:
        keep_text(MIX_PARAM, mix_text(state[MIX_KEY]))
    else:
        st.query_params.pop(MIX_PARAM, None)


def strip(canvas: torch.Tensor, scale: int, caption: str, formula: str) -> None:
    """A row of digits as one small PNG, with its formula when the maths is shown."""
    st.image(digit_picture(canvas, scale=scale), caption=caption, width="stretch", output_format="PNG")
    layout.maths(formula)


def explore(model: CategoricalVAE, decoded: latent.CodeViews) -> None:
    """What one variable controls, and a path to another code."""
    variable, classes = state[VARIABLE_KEY], model.config.classes
    sweep_tab, path_tab = st.tabs([f"What does variable {variable} control?", "Interpolate"])
    if state.get(MIX_KEY):
        layout.note("These strips start from the nearest one-hot code: each soft variable at its nearest class.")
    with sweep_tab:
        caption = f"Variable {variable} set to each class, 0 to {classes - 1} from left to right"
        strip(tile_images(decoded.sweep, classes), 3, caption, "variable_sweep")
    with path_tab:
        st.number_input(
            "Target: prior sample seed", 0, urls.SEED_MAX, TARGET_DEFAULT, step=1, key=TARGET_SEED.key, **urls.BOUND
        )
        caption = f"From this code to prior sample {state[TARGET_SEED.key]}, one variable at a time"
        strip(tile_images(decoded.path, PATH_COLUMNS), 2, caption, "code_path")


@st.fragment
@layout.timed("latent_editor")
def code_view(model: CategoricalVAE, model_key: tuple[str, float, str]) -> None:
    """The code, its digit and what follows from it: a click on a cell reruns this part only."""
    code = torch.tensor(state[CODE_KEY])
    target_seed = int(urls.first(TARGET_SEED, TARGET_DEFAULT))
    decoded = code_views(model, model_key, tuple(state[CODE_KEY]), int(state[VARIABLE_KEY]), target_seed)
    if state.get(ERROR_KEY):
        layout.show_error(RuntimeError(state.pop(ERROR_KEY)))
    try:
        packed = packed_decoder(model, model_key)
    except browser.TooLargeForBrowser as err:
        st.info(str(err), icon=":material/dns:")
        server_editor(model, code, decoded)
    else:
        browser_editor(model, packed)
    if state[PROBS_KEY] is not None:
        figure = probabilities_figure(state[PROBS_KEY], code)
        layout.chart(figure, "encoder_probabilities", width="stretch", config=NO_TOOLBAR)
    explore(model, decoded)
    keep_text(CODE_PARAM, "".join(map(str, state[CODE_KEY])))


def edit_drawing(drawn: DrawnDigit) -> None:
    """Hand the drawing's mode code to the editor above."""
    state[CODE_KEY], state[PROBS_KEY], state[ORIGINAL_KEY] = drawn.code.tolist(), drawn.probabilities, drawn.image
    state[SOURCE_KEY] = "your drawing"
    sync_class()
    one_hot_again()


def clear_canvas() -> None:
    state[CANVAS_VERSION_KEY] = state.get(CANVAS_VERSION_KEY, 0) + 1  # a fresh, empty canvas
    state.pop(DRAW_TIME_KEY, None)


def drawn_digit(model: CategoricalVAE, png: bytes | None) -> DrawnDigit | None:
    if not png:
        return None
    with layout.one_thread():
        return read_drawing(model, ink_from_png(png))


def show_drawing(model: CategoricalVAE, drawn: DrawnDigit) -> None:
    """The 28x28 image the model sees, q(z | x), the mode code and its decoding."""
    seen, decoded = st.columns(2)
    seen.image(digit_picture(drawn.image, 6), caption="As MNIST (28 × 28)", width="stretch", output_format="PNG")
    decoded.image(digit_picture(drawn.decoded, 6), caption="Decoded mode code", width="stretch", output_format="PNG")
    if st.button("Edit from here", on_click=edit_drawing, args=(drawn,), icon=":material/edit:", key="edit_drawing"):
        st.rerun()  # the whole page, not this fragment: the editor above shows the drawing's code


@st.fragment
@layout.timed("drawing")
def draw_view(model: CategoricalVAE) -> None:
    """A canvas; each stroke's end reruns this part only: preprocess, encode, decode, draw."""
    started = time.perf_counter()
    st.subheader("Draw a digit")
    layout.note("Draw with the mouse; the toolbar above the canvas undoes and redoes a stroke or resets the canvas.")
    canvas_col, result_col = st.columns([1, 1.3], gap="large")
    with canvas_col:
        canvas = st_canvas(
            stroke_width=22,
            stroke_color="#000000",
            background_color="#ffffff",
            height=CANVAS_PIXELS,
            width=CANVAS_PIXELS,
            return_image_data=True,
            key=f"digit_canvas_{state.get(CANVAS_VERSION_KEY, 0)}",
        )
        st.button("Clear", on_click=clear_canvas, icon=":material/delete:", key="clear_canvas")
    drawn = drawn_digit(model, canvas.image_bytes)
    with result_col:
        if drawn is None:
            st.info("Draw a digit on the canvas: the model reads it when the stroke ends.", icon=":material/draw:")
            return
        show_drawing(model, drawn)
    classes = model.config.classes
    layout.chart(
        probabilities_figure(drawn.probabilities, drawn.code, title="Encoder probabilities q(z | x) for your drawing"),
        "encoder_probabilities",
        width="stretch",
        config=NO_TOOLBAR,
        key="drawing_probabilities",
    )
    layout.chart(
        code_grid_figure(drawn.code, classes, title="Its mode code"), None, config=NO_TOOLBAR, key="drawing_code"
    )
    state[DRAW_TIME_KEY] = time.perf_counter() - started
    layout.note(f"Server time for this update: {state[DRAW_TIME_KEY] * 1000:.0f} ms.")


st.title("Latent editor")
path = models.current_model_path()
if path is None:
    st.info("No model is available yet. Train one on the Train page; it will appear in the sidebar.")
    st.stop()
model_path = path
checkpoint = layout.guarded(lambda: models.load_model(model_path))
if checkpoint is None:
    st.stop()
model = checkpoint.model
urls.open_bookmark((variable_param(model), START_SEED, START_DIGIT, TARGET_SEED))
if state.get(SHAPE_KEY) != (model.config.latent_vars, model.config.classes):
    init(model)

st.caption(
    f"Model **{checkpoint.name}**: {model.config.latent_vars} variables × {model.config.classes} classes. "
    f"Started from {state[SOURCE_KEY]}. Click a cell of the code, drag within a variable's column for a soft "
    "code, or pick a variable and a class."
)
if state.get(ERROR_KEY):
    layout.show_error(RuntimeError(state.pop(ERROR_KEY)))
start_controls(model)
code_view(model, (str(path), path.stat().st_mtime, models.current_device()))
st.divider()
draw_view(model)
