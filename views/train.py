"""Train: the categorical VAE, live. The run is a `core.training.TrainingRun` (its own process,
so a busy page never slows it) kept in the session; a fragment polls it twice a second. When
the server already trains as many runs as it allows, the run waits in a fair line and starts
by itself; the page says its place. A run nobody polls for GUMBEL_LAB_ABANDON_SECONDS is
stopped and saved (or leaves the line): its visitor has gone."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from core.data import BINARIZE, BINARIZE_LABELS, MNISTSplit
from core.figures.training import diagnostics_figure, objectives_figure, prior_samples_figure, reconstructions_figure
from core.names import ALIASES, PRECISIONS, SHORT_LABELS
from core.runtime.device import available_devices, device_label, device_name
from core.runtime.jobs import Status
from core.sweeps.ray_backend import ray_address
from core.training.config import ANNEAL_EVERY, ANNEAL_RATE, ESTIMATORS, TrainConfig
from core.training.curves import training_curves
from core.training.live import LiveRun, RunSnapshot
from core.vae import PRESETS
from ui import layout, mnist, models, runs, urls

REFRESH_SECONDS = 0.5
# A new epoch's digits redraw the whole page at most this often: a tiny run finishes an epoch
# every fraction of a second, and rebuilding the page that fast keeps its buttons out of reach.
PREVIEW_SECONDS = 3.0
HISTORY_STEPS = 10_000  # every step of the reference script's 10 epochs at batch 100 (6,000 steps)
SMOOTHING = 0.9

SUBSETS: dict[str, tuple[int | None, int | None]] = {
    "full": (None, None),
    "demo": (5000, 1000),
    "tiny": (1000, 500),
}
SUBSET_LABELS = {"full": "All of MNIST (60k / 10k)", "demo": "Quick demo (5k / 1k)", "tiny": "Tiny (1k / 500)"}
# Names short enough for a third of the page beside the open sidebar at 1024 px; the longer
# names older bookmarks wrote still open them.
PRESET_LABELS = {"faithful": "Faithful (reference)", "linear": "Linear logits", "jang": "Jang et al. (20 × 10)"}
PRECISION_LABELS = {"auto": "Auto (measured)", "fp32": "float32", "bf16": "bfloat16 products"}
OLD_LABELS = {
    "Faithful (as the reference script)": "faithful",
    "Jang et al. 2017 (20 × 10)": "jang",
    "Auto (measured on this machine)": "auto",
    "Grey levels (as the reference script)": "none",
}
ESTIMATOR_HELP = (
    "Gumbel-Softmax: the decoder sees the relaxed sample. Straight-through: it sees the one-hot "
    "argmax, the gradient is the relaxed one's. Gumbel-Rao: straight-through with the relaxed "
    "gradient averaged over several Gumbel draws given the same argmax. REINFORCE: exact samples, "
    "the score-function gradient with a leave-one-out baseline over 4 samples per image."
)
SUBSETS_BY_SIZE = {sizes: name for name, sizes in SUBSETS.items()}
DEFAULT = TrainConfig()
# The form's settings in the URL (older bookmarks name them without "train_"); the defaults
# are the reference script's preset (TrainConfig's).
PRESET = urls.Param(
    "train_preset", old="preset", options=tuple(PRESETS), label=lambda p: PRESET_LABELS.get(p, p), aliases=OLD_LABELS
)
ESTIMATOR = urls.Param(
    "train_estimator", old="estimator", options=ESTIMATORS, aliases=ALIASES, label=lambda e: SHORT_LABELS.get(e, e)
)
RAO = urls.Param("train_rao", old="rao", low=1, high=100)
TAU = urls.Param("train_tau", old="tau", low=0.01, high=10.0)
ANNEAL = urls.switch("train_anneal", old="anneal")
RATE = urls.Param("train_anneal_rate", old="anneal_rate", low=0.0, high=1.0)
EVERY = urls.Param("train_anneal_every", old="anneal_every", low=1, high=100_000)
TAU_MIN = urls.Param("train_tau_min", old="tau_min", low=0.01, high=10.0)
EPOCHS = urls.Param("train_epochs", old="epochs", low=1, high=200)
BATCH = urls.Param("train_batch", old="batch", low=1, high=10_000)
LR = urls.Param("train_lr", old="lr", low=1e-6, high=1.0)
SEED = urls.Param("train_seed", old="seed", low=0, high=urls.SEED_MAX)
DATA = urls.Param("train_data", old="data", options=tuple(SUBSETS), label=SUBSET_LABELS.__getitem__)
PIXELS = urls.Param(
    "train_binarize", old="binarize", options=BINARIZE, label=BINARIZE_LABELS.__getitem__, aliases=OLD_LABELS
)
PRECISION = urls.Param(
    "train_precision", old="precision", options=PRECISIONS, label=PRECISION_LABELS.__getitem__, aliases=OLD_LABELS
)
PARAMS = (PRESET, ESTIMATOR, RAO, TAU, ANNEAL, RATE, EVERY, TAU_MIN, EPOCHS, BATCH, LR, SEED, DATA, PIXELS, PRECISION)
# The run area redraws twice a second and the whole page once per epoch; Streamlit's fade of
# elements waiting to be redrawn would make it blink on a projector.
NO_FADE = (
    "<style>.st-key-train_run_area [data-stale='true'] {opacity: 1 !important; transition: none !important}</style>"
)


def _number(label: str, param: urls.Param, default: float, step: float, **kwargs: Any) -> Any:
    """A number in the form, bounded by its parameter's range."""
    return st.number_input(label, param.low, param.high, default, step=step, key=param.key, **kwargs, **urls.BOUND)


def annealing_settings() -> dict[str, Any]:
    with st.container(border=True):
        return {
            "anneal": st.checkbox(
                "Anneal τ during training",
                False,
                key=ANNEAL.key,
                help="τ = max(τ min, τ·exp(−rate·step)), updated every few steps (Jang et al. 2017).",
                **urls.BOUND,
            ),
            "anneal_rate": _number("Rate per step", RATE, ANNEAL_RATE, 1e-5, format="%.1e"),
            "anneal_every": _number("Update every (steps)", EVERY, ANNEAL_EVERY, 100),
            "tau_min": _number("τ min", TAU_MIN, DEFAULT.tau_min, 0.1),
        }


def _choice(label: str, param: urls.Param, default: Any, help: str) -> Any:
    """A choice in the form, its options and their names from its parameter."""
    options = list(param.options)
    return st.selectbox(label, options, options.index(default), param.label, key=param.key, help=help, **urls.BOUND)


def settings_form(busy: bool) -> tuple[dict, bool]:
    """The form's current values, and whether Start was pressed. Three settings a row, so the
    whole form and its Start button fit a 1280 × 800 screen above the run's charts."""
    with st.form("train_form", border=False):
        data, model, estimator = st.columns(3)
        with data:
            values = {
                "data": _choice(
                    "Data",
                    DATA,
                    "demo",
                    "Training / test images. The quick demo trains in seconds; all of MNIST as the reference script.",
                )
            }
        with model:
            values["preset"] = _choice(
                "Model",
                PRESET,
                "faithful",
                "Faithful and linear: 30 categorical variables of 10 classes, encoder 784-512-256-300. "
                "Faithful keeps the reference script's ReLU on the encoder's logits; linear drops it. "
                "Jang et al.: 20 variables of 10 classes, plain logits.",
            )
        with estimator:
            values["estimator"] = _choice("Gradient estimator", ESTIMATOR, DEFAULT.estimator, ESTIMATOR_HELP)
        tau, epochs, lr = st.columns(3)
        with tau:
            values["tau"] = _number("Temperature τ", TAU, DEFAULT.tau, 0.1, help="The start value when annealing.")
        with epochs:
            values["epochs"] = _number("Epochs", EPOCHS, DEFAULT.epochs, 1)
        with lr:
            values["lr"] = _number("Learning rate", LR, DEFAULT.lr, 1e-4, format="%.1e", help="Adam.")
        with st.expander("More settings: batch, seed, pixels, annealing, device, precision"):
            values |= more_settings()
        pressed = st.form_submit_button(
            "Start training", type="primary", icon=":material/play_arrow:", disabled=busy, width="stretch"
        )
    if busy:
        st.caption("A run is in progress: stop it to start another.")
    return values, pressed


def more_settings() -> dict[str, Any]:
    """The settings a lecture seldom changes, folded away under the first three rows."""
    batch, seed, rao = st.columns(3)
    with batch:
        values = {"batch_size": _number("Batch size", BATCH, DEFAULT.batch_size, 10)}
    with seed:
        values["seed"] = _number("Seed", SEED, DEFAULT.seed, 1)
    with rao:
        values["rao_samples"] = _number(
            "Gumbel-Rao draws",
            RAO,
            DEFAULT.rao_samples,
            1,
            help="Conditional Gumbel draws averaged per step; used by Gumbel-Rao only.",
        )
    pixels, device, precision = st.columns(3)
    with pixels:
        values["binarize"] = _choice(
            "Pixels",
            PIXELS,
            DEFAULT.binarize,
            "Grey levels scored with binary cross-entropy, as the reference script; or binarized MNIST as the "
            "papers use it (each pixel a Bernoulli draw of its grey level; one fixed draw of the test set).",
        )
    if ray_address():  # the cluster's node decides: its GPU where it has one
        values["device"] = "cpu"
        device.caption(f"Runs train on the Ray cluster at {ray_address()}, on a GPU where a node has one.")
    else:
        devices = available_devices()
        current = models.current_device()
        values["device"] = device.selectbox(
            "Device",
            devices,
            index=devices.index(current) if current in devices else 0,
            format_func=device_label,
            key="train_device",
        )
    with precision:
        values["precision"] = _choice(
            "Precision",
            PRECISION,
            DEFAULT.precision,
            "The matrix products in float32 or bfloat16 (weights, Adam, sampler and losses stay float32). "
            "Auto measures on this machine: bfloat16 where this CPU has it natively and its products ran faster.",
        )
    return values | annealing_settings()


def start_run(values: dict, train: MNISTSplit, test: MNISTSplit) -> bool:
    """Build the config and start the run (at once, or in the server's line); errors become messages."""
    active = st.session_state.get(runs.RUN_KEY)
    if active is not None and not active.done:
        st.warning("A run is already in progress: stop it first.")
        return False
    train_subset, test_subset = SUBSETS[values["data"]]
    try:
        config = TrainConfig.from_settings(values | {"train_subset": train_subset, "test_subset": test_subset})
        run = runs.new_run(
            config,
            train,
            test,
            checkpoint_dir=runs.session_dir(),
            name=f"{values['preset']}-{values['estimator']}-{time.strftime('%H%M%S')}",
            history=HISTORY_STEPS,
            slots=runs.run_slots(),
            abandon_after=runs.abandon_seconds(),
            metadata={
                "preset": values["preset"],
                "device": device_name(config.device),
                "source": "Train page",
                "session": runs.session_id(),
            },
        ).start()
    except ValueError as err:
        layout.show_error(err)
        return False
    st.session_state[runs.RUN_KEY] = run
    return True


def draw_run(run: LiveRun, snap: RunSnapshot) -> None:
    """Progress, the latest numbers and the curves; called by the live fragment and once at the end."""
    st.progress(snap.progress, text=runs.progress_text(run, snap))
    if not snap.steps:
        return
    curves = training_curves(snap.steps, SMOOTHING)
    last = snap.epochs[-1] if snap.epochs else None
    previous = snap.epochs[-2] if len(snap.epochs) > 1 else None
    cols = st.columns(4)
    cols[0].metric("Temperature τ", f"{curves.tau[-1]:.3f}")
    cols[1].metric("KL", f"{curves.kl[-1]:.1f}", help="To the uniform prior, nats per image (smoothed).")
    cols[2].metric("Reconstruction", f"{curves.reconstruction[-1]:.1f}", help="Nats per image (smoothed).")
    cols[3].metric(
        "Test",
        f"{last.test:.2f}" if last else "—",
        delta=f"{last.test - previous.test:+.2f}" if last and previous else None,
        delta_color="inverse",
        help="The objective with exact one-hot samples on the test images, after each epoch.",
    )
    layout.chart(
        objectives_figure(curves, snap.epochs, snap.total_steps, revision=run.name, changes=snap.changes),
        "relaxed_vs_exact",
        width="stretch",
        key="train_objectives",
    )
    layout.maths("vae_objective")
    layout.note(
        "Training: each step's batch objective, exponentially smoothed; relaxed is what the gradient "
        "sees, exact samples decode a one-hot draw from q. Test: exact samples, after each epoch."
    )
    layout.chart(
        diagnostics_figure(curves, snap.total_steps, revision=run.name, changes=snap.changes),
        "diagnostics",
        width="stretch",
        key="train_diagnostics",
    )


LIVE_TAU_KEY, LIVE_LR_KEY = "train_live_tau", "train_live_lr"


def apply_changes(run: LiveRun, tau: float, lr: float) -> None:
    """Send the values that differ from the run's current ones to its worker."""
    state = st.session_state
    if state[LIVE_TAU_KEY] != tau:
        run.set_tau(float(state[LIVE_TAU_KEY]))  # the widget's bounds keep it valid
    if state[LIVE_LR_KEY] != lr:
        run.set_lr(float(state[LIVE_LR_KEY]))


def change_controls(run: LiveRun, snap: RunSnapshot) -> None:
    """τ and the learning rate, changed while the run trains: no restart, no pause."""
    last = snap.steps[-1] if snap.steps else None
    tau, lr = (last.tau, last.lr) if last else (run.config.tau, run.config.lr)
    st.session_state.setdefault(LIVE_TAU_KEY, tau)
    st.session_state.setdefault(LIVE_LR_KEY, lr)
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.number_input("New τ", TAU.low, TAU.high, step=0.1, key=LIVE_TAU_KEY, width=140)
        st.number_input("New learning rate", LR.low, LR.high, step=1e-4, format="%.1e", key=LIVE_LR_KEY, width=180)
        st.button(
            "Apply now",
            on_click=apply_changes,
            args=(run, tau, lr),
            icon=":material/tune:",
            key="train_apply_change",
            help="The running worker uses the new values from its next step; the charts mark the moment.",
        )


@st.fragment(run_every=REFRESH_SECONDS)
def live(run: LiveRun, shown_epoch: int, shown_at: float, was_queued: bool) -> None:
    """Redraws the curves; reruns the whole page at the end, when a queued run starts, and for a
    newer epoch preview (the first at once, later ones at most every PREVIEW_SECONDS after the
    page was last drawn)."""
    snap = run.snapshot()
    newer = (snap.preview.epoch if snap.preview else 0) != shown_epoch
    due = shown_epoch == 0 or time.monotonic() - shown_at >= PREVIEW_SECONDS
    started = was_queued and snap.status != Status.QUEUED
    if snap.done or started or (newer and due):
        if snap.checkpoint:
            runs.add_session_model(snap.checkpoint)  # before the rerun, so the sidebar lists it
        st.rerun()
    if snap.status == Status.QUEUED:
        runs.queued(run, snap)
        return
    with st.container(horizontal=True):  # buttons as wide as their labels, at any page width
        if snap.status == Status.PAUSED:
            st.button("Resume", on_click=run.resume, icon=":material/play_arrow:", key="train_resume")
        else:
            st.button("Pause", on_click=run.pause, icon=":material/pause:", key="train_pause")
        st.button(
            "Stop",
            on_click=run.stop,
            icon=":material/stop:",
            key="train_stop",
            help="Stops after the current step and saves the model.",
        )
    change_controls(run, snap)
    draw_run(run, snap)


def outcome(snap: RunSnapshot) -> None:
    """How the run ended, and where its model went."""
    if not snap.began:
        why = (
            f"no page watched it for {runs.duration(runs.abandon_seconds())} (its tab was closed)"
            if snap.abandoned
            else "you left it"
        )
        st.info(f"This run left the server's line before its turn: {why}. Nothing was trained.")
        return
    if snap.abandoned:
        st.warning(
            f"This run was stopped because no page watched it for {runs.duration(runs.abandon_seconds())} "
            "(its tab was closed), which freed its place on the server for others.",
            icon=":material/timer_off:",
        )
    if snap.status == Status.FAILED:
        st.error(
            f"The run failed: {snap.error}. Change the settings (a smaller learning rate or batch, or the "
            "CPU) and start again.",
            icon=":material/error:",
        )
        return
    if snap.checkpoint is None:
        st.info("The run was stopped before its first step; nothing was saved.")
        return
    runs.add_session_model(snap.checkpoint)
    for notice in snap.notices:  # what the run store's quota deleted to make room
        st.warning(notice, icon=":material/delete_sweep:")
    verb = "Finished" if snap.status == Status.FINISHED else "Stopped"
    st.success(
        f"{verb} after {snap.step:,} steps. Saved as run **{snap.checkpoint.stem}**: pick "
        f"**{snap.checkpoint.stem} (this session)** in the sidebar's Model list to explore it in the "
        "Latent editor, or compare it on the Compare page.",
        icon=":material/check_circle:",
    )
    with st.container(horizontal=True):
        models.download_buttons(snap.checkpoint, "train")


def show_run(run: LiveRun) -> None:
    snap = run.snapshot()
    config = run.config
    schedule = (
        f"annealed to {config.tau_min:g} (rate {config.anneal_rate:.1e} every {config.anneal_every})"
        if config.anneal_rate
        else "constant"
    )
    draws = f" ({config.rao_samples} draws)" if config.estimator == "gumbel_rao" else ""
    st.subheader(f"Run {run.name}")
    st.caption(
        f"{PRESET_LABELS.get(str(run.metadata.get('preset')), '')} · "
        f"{SHORT_LABELS.get(config.estimator, config.estimator)}{draws} · τ {config.tau:g}, {schedule} · "
        f"batch {config.batch_size}, Adam {config.lr:g}, seed {config.seed} · "
        f"{SUBSET_LABELS.get(SUBSETS_BY_SIZE.get((config.train_subset, config.test_subset), ''), '')} · "
        f"{snap.where or device_label(config.device)}, precision {snap.precision or config.precision}"
    )
    if snap.done:
        outcome(snap)
        if not snap.began:
            return
        draw_run(run, snap)
    else:
        live(run, snap.preview.epoch if snap.preview else 0, time.monotonic(), snap.status == Status.QUEUED)
        if snap.status == Status.QUEUED:
            return
    if snap.preview is None:
        st.info(
            "After each epoch: reconstructions of 8 fixed test digits and 64 digits decoded from prior samples.",
            icon=":material/image:",
        )
        return
    layout.note(
        f"After epoch {snap.preview.epoch}: 8 test digits (top) over their reconstructions, and 64 digits "
        "decoded from codes drawn from the uniform prior."
    )
    left, right = st.columns([3, 2])
    with left:
        layout.chart(
            reconstructions_figure(snap.preview), "reconstructions", width="stretch", key="train_reconstructions"
        )
    with right:
        layout.chart(prior_samples_figure(snap.preview), "prior_samples", width="stretch", key="train_prior")


st.title("Train")
st.caption(
    "Train the categorical VAE live and watch the relaxed objective (what the gradient sees) and the "
    "objective with exact one-hot samples separate or meet. The defaults are the reference script's preset: "
    "30 variables × 10 classes, τ 1.0, batch 100, Adam 1e-3, 10 epochs."
)

urls.open_bookmark(PARAMS)
run: LiveRun | None = st.session_state.get(runs.RUN_KEY)
# The form above the run, open until a run exists, then folded: the run's curves take the width
# and the first screen (its own label, so the fold is drawn afresh when the run starts).
with st.expander("Settings" if run is None else "Settings for the next run", expanded=run is None):
    values, pressed = settings_form(busy=run is not None and not run.done)
runs.server_runs(runs.run_slots().view())  # outside the fold: everyone sees who trains and who waits
with st.container(key="train_run_area"):
    st.html(NO_FADE)
    train, test = mnist.splits_or_stop()
    if pressed and start_run(values, train, test):
        st.rerun()  # redraw the form disabled, with the run below it
    if run is None:
        st.info(
            "Choose the settings and press **Start training**. A run keeps going while you visit other pages.",
            icon=":material/model_training:",
        )
    else:
        show_run(run)
