"""The browser components, and what the server sends them and accepts back.

Each component is inline HTML, CSS and JavaScript (`st.components.v2.component`), read from the
files beside this one. Everything a component receives is numbers, checked here before they are
packed (`numbers_only`); what it sends back is checked again (`read_latent_edit`,
`read_temperature_edit`) before the page uses it. A model's decoder goes to the browser once per
browser session: the session remembers which models it sent, and the component asks again only
if it does not hold them any more.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
import torch
import torch.nn.functional as F
from torch import nn

from core.gumbel import gumbel_softmax
from core.seeds import generator
from core.studies.latent import soft_code
from core.vae import CategoricalVAE

FOLDER = Path(__file__).resolve().parent
MAGIC = b"GLB1"
# More than this and a decoder is slow to send (4 MB in float16) and to decode within a frame;
# such a model stays on the server path. The shipped decoders have 0.61 M.
MAX_DECODER_PARAMETERS = 2_000_000
HALF_TOLERANCE = 2e-3  # float16 weights are sent when no check code's pixel moves more than this
CHECK_CODES = 32  # of each kind: one-hot, between two classes, a Gumbel-Softmax sample
JS_MAX_INT = 2**53 - 1
SENT_KEY = "browser_models_sent"
_KEY = re.compile(r"[a-z][a-z_]{0,31}")


def _source(*names: str) -> str:
    return "\n".join((FOLDER / name).read_text() for name in names)


_latent_editor = st.components.v2.component(
    "gumbel_lab_latent_editor",
    html=_source("latent_editor.html"),
    css=_source("latent_editor.css"),
    js=_source("sampling.js", "decoder.js", "canvas.js", "latent_editor.js"),
)
_temperature = st.components.v2.component(
    "gumbel_lab_temperature",
    html=_source("temperature.html"),
    css=_source("temperature.css"),
    js=_source("sampling.js", "canvas.js", "temperature.js"),
)


def numbers_only(value: Any, where: str = "the data") -> Any:
    """`value` as JSON-ready numbers: finite floats, JS-safe integers, booleans, and lists and
    fixed-name mappings of them. Anything else (text above all) is a ValueError: nothing a URL
    or an upload carries can reach a component's page as markup or code."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | np.integer):
        if abs(int(value)) > JS_MAX_INT:
            raise ValueError(f"{where} holds an integer a browser cannot represent exactly: {value}.")
        return int(value)
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            raise ValueError(f"{where} holds {value}; only finite numbers go to the browser.")
        return float(value)
    if isinstance(value, list | tuple):
        return [numbers_only(item, where) for item in value]
    if isinstance(value, Mapping):
        for name in value:
            if not isinstance(name, str) or not _KEY.fullmatch(name):
                raise ValueError(f"{where} has a field named {name!r}; fields are short lower-case names.")
        return {name: numbers_only(item, f"{where}'s {name}") for name, item in value.items()}
    raise ValueError(f"{where} may hold only numbers, got {type(value).__name__}.")


def pack_message(header: Mapping[str, Any], payload: bytes = b"") -> bytes:
    """One message for a component: b"GLB1", the header's length (uint32, little-endian), the
    header as JSON of numbers, zero padding to a multiple of 8 bytes, then the payload."""
    text = json.dumps(numbers_only(header, "the header"), allow_nan=False, separators=(",", ":")).encode("ascii")
    return MAGIC + struct.pack("<I", len(text)) + text + bytes(-len(text) % 8) + payload


def unpack_message(message: bytes) -> tuple[dict[str, Any], bytes]:
    """A packed message's header and payload, as browser/decoder.js reads them."""
    if message[:4] != MAGIC or len(message) < 8:
        raise ValueError("not a Gumbel Lab component message.")
    (length,) = struct.unpack("<I", message[4:8])
    return json.loads(message[8 : 8 + length]), message[8 + length + (-length % 8) :]


@dataclass(frozen=True)
class BrowserModel:
    """A decoder packed for the browser, named by a hash of what is sent."""

    model_id: int  # 48 bits of the SHA-256 of the sizes and weights: exact in a JS number
    sizes: tuple[int, ...]  # latent_dim, hidden..., pixels
    dtype: int  # 16 or 32: the weights' float width
    weights: bytes  # per layer: the weight transposed to (inputs, outputs), then the bias
    deviation: float  # largest pixel difference from the torch decoder on the check codes
    checked: int  # how many check codes

    def header(self) -> dict[str, Any]:
        return {
            "model": self.model_id,
            "sizes": list(self.sizes),
            "dtype": self.dtype,
            "bytes": len(self.weights),
            "deviation": self.deviation,
            "checked": self.checked,
        }


class TooLargeForBrowser(ValueError):
    """A model whose decoder stays on the server; its message says why, for the page's note."""


def _linear_layers(model: CategoricalVAE) -> list[nn.Linear]:
    return [layer for layer in model.decoder if isinstance(layer, nn.Linear)]


def _layout(layers: list[tuple[torch.Tensor, torch.Tensor]], dtype: str) -> bytes:
    """The payload: per layer the weight transposed to (inputs, outputs), then the bias, as `dtype`."""
    return b"".join(np.ascontiguousarray(part.numpy(), dtype=dtype).tobytes() for w, b in layers for part in (w.T, b))


def _decode_as_browser(layers: list[tuple[torch.Tensor, torch.Tensor]], codes: torch.Tensor) -> torch.Tensor:
    """What browser/decoder.js computes: these weights, float64 sums, ReLU between layers, sigmoid."""
    h = codes.reshape(codes.shape[0], -1).double()
    for i, (weight, bias) in enumerate(layers):
        h = F.linear(h, weight.double(), bias.double())
        h = h.clamp_min(0) if i < len(layers) - 1 else torch.sigmoid(h)
    return h


def check_codes(model: CategoricalVAE) -> torch.Tensor:
    """Codes the server decodes both ways before it trusts float16 weights: prior samples, codes
    between two classes (the editor's drag) and Gumbel-Softmax samples at τ = 1 (its Play)."""
    vars_, classes = model.config.latent_vars, model.config.classes
    draw = generator(0, "browser_check")
    one_hot = F.one_hot(torch.randint(classes, (CHECK_CODES, vars_), generator=draw), classes).float()
    positions = torch.rand(CHECK_CODES, vars_, generator=draw, dtype=torch.float64) * (classes - 1)
    between = torch.stack([soft_code(model, p).cpu() for p in positions])
    samples = gumbel_softmax(torch.zeros(CHECK_CODES, vars_, classes), 1.0, generator=draw)
    return torch.cat([one_hot, between, samples])


@torch.inference_mode()
def pack_decoder(model: CategoricalVAE) -> BrowserModel:
    """The model's decoder for the browser: float16 when that keeps every check code's pixels
    within HALF_TOLERANCE of the torch decoder (half the bytes), else float32.
    TooLargeForBrowser when it should stay on the server."""
    linear = _linear_layers(model)
    count = sum(layer.weight.numel() + layer.bias.numel() for layer in linear)
    if count > MAX_DECODER_PARAMETERS:
        raise TooLargeForBrowser(
            f"This model's decoder has {count / 1e6:.2f} M parameters, more than the "
            f"{MAX_DECODER_PARAMETERS / 1e6:.0f} M a browser decodes within a frame: the digit is drawn on the server."
        )
    side = math.isqrt(model.config.input_dim)
    if side * side != model.config.input_dim:
        raise TooLargeForBrowser("This model's pictures are not square: the digit is drawn on the server.")
    full = [(layer.weight.detach().float().cpu(), layer.bias.detach().float().cpu()) for layer in linear]
    codes = check_codes(model)
    reference = model.decode(codes.to(next(model.parameters()).device)).double().cpu()
    half = [(w.half().float(), b.half().float()) for w, b in full]
    half_deviation = float((_decode_as_browser(half, codes) - reference).abs().max())
    if half_deviation <= HALF_TOLERANCE:
        weights, dtype, deviation = _layout(half, "<f2"), 16, half_deviation
    else:
        weights, dtype = _layout(full, "<f4"), 32
        deviation = float((_decode_as_browser(full, codes) - reference).abs().max())
    sizes = (linear[0].in_features, *(layer.out_features for layer in linear))
    digest = hashlib.sha256(struct.pack(f"<{len(sizes)}I", *sizes) + weights).digest()
    return BrowserModel(int.from_bytes(digest[:6], "big"), sizes, dtype, weights, deviation, len(codes))


def _forget_model(key: str) -> None:
    """The component does not hold a model the session thought it sent: send it with the next run."""
    missing = st.session_state[key].get("missing")
    st.session_state.setdefault(SENT_KEY, set()).discard(missing)


def latent_editor(key: str, model: BrowserModel, header: Mapping[str, Any], on_edit: Callable[[], None]) -> None:
    """The Latent editor's grid, digit and Play; the weights travel only if this session has not
    sent them yet. `header` holds the code and its settings; `on_edit` runs when the browser
    reports an edit (read it with `read_latent_edit(st.session_state[key]["edit"], ...)`)."""
    sent = st.session_state.setdefault(SENT_KEY, set())
    payload = b"" if model.model_id in sent else model.weights
    sent.add(model.model_id)
    side = math.isqrt(model.sizes[-1])
    data = pack_message({**header, **model.header(), "side": side}, payload)
    _latent_editor(key=key, data=data, on_edit_change=on_edit, on_missing_change=lambda: _forget_model(key))


def temperature(key: str, header: Mapping[str, Any], on_edit: Callable[[], None]) -> None:
    """The Temperature page's logit and τ sliders with the pictures they drive."""
    _temperature(key=key, data=numbers_only(header, "the header"), on_edit_change=on_edit)


def _number(value: object, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"the browser sent {what} that is not a number.")
    if not low <= value <= high:
        raise ValueError(f"the browser sent {what} {value}, outside {low}..{high}.")
    return float(value)


def _numbers(value: object, what: str, count: int, low: float, high: float) -> list[float]:
    if not isinstance(value, list) or len(value) != count:
        raise ValueError(f"the browser sent {what} that are not {count} numbers.")
    return [_number(v, what, low, high) for v in value]


def _whole(value: object, what: str, low: int, high: int) -> int:
    number = _number(value, what, low, high)
    if not number.is_integer():
        raise ValueError(f"the browser sent {what} {value}, not a whole number.")
    return int(number)


def _fields(value: object, names: Sequence[str]) -> Mapping[str, object]:
    if not isinstance(value, Mapping) or set(value) != set(names):
        raise ValueError(f"the browser's edit should have the fields {', '.join(names)}.")
    return value


@dataclass(frozen=True)
class LatentEdit:
    """What the editor reports on release: every variable's position on its class axis (whole
    numbers are one-hot), the selected variable, Play's τ and noise seed."""

    positions: list[float]
    variable: int
    tau: float
    seed: int


def read_latent_edit(value: object, vars_: int, classes: int, taus: tuple[float, float], seed_max: int) -> LatentEdit:
    """The browser's report checked against the model and the page's ranges; ValueError if not."""
    edit = _fields(value, ("positions", "variable", "tau", "seed"))
    return LatentEdit(
        positions=_numbers(edit["positions"], "positions", vars_, 0, classes - 1),
        variable=_whole(edit["variable"], "a variable", 0, vars_ - 1),
        tau=_number(edit["tau"], "a temperature", *taus),
        seed=_whole(edit["seed"], "a seed", 0, seed_max),
    )


@dataclass(frozen=True)
class TemperatureEdit:
    logits: list[float]
    tau: float


def read_temperature_edit(
    value: object, classes: int, logits: tuple[float, float], taus: tuple[float, float]
) -> TemperatureEdit:
    """The Temperature component's report (its logits and τ) checked; ValueError if not."""
    edit = _fields(value, ("logits", "tau"))
    return TemperatureEdit(
        logits=_numbers(edit["logits"], "logits", classes, *logits), tau=_number(edit["tau"], "a temperature", *taus)
    )
