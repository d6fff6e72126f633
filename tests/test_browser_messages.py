"""What the server sends the browser components and accepts back: numbers only, the packed
decoder, and the checks on what a browser reports (browser/components.py). The JavaScript itself
runs in Chromium in tests/test_browser_parity.py."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from browser import components as browser
from core.store.checkpoints import load_checkpoint
from core.vae import CategoricalVAE, VAEConfig

SHIPPED = sorted((Path(__file__).resolve().parent.parent / "checkpoints").glob("*.pt"))


def unpacked_layers(model: browser.BrowserModel) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The payload read back as browser/decoder.js reads it: per layer W^T (inputs, outputs), then b."""
    dtype = np.dtype("<f2") if model.dtype == 16 else np.dtype("<f4")
    values = torch.from_numpy(np.frombuffer(model.weights, dtype=dtype).astype(np.float32))
    layers, at = [], 0
    for inputs, outputs in zip(model.sizes, model.sizes[1:]):
        weight = values[at : at + inputs * outputs].reshape(inputs, outputs).T
        at += inputs * outputs
        layers.append((weight, values[at : at + outputs]))
        at += outputs
    assert at == values.numel()
    return layers


def test_a_message_round_trips_with_its_payload():
    header = {"model": 2**48 - 1, "positions": [0.0, 4.5], "flag": True, "nested": {"tau": 0.25}}
    for payload in (b"", b"\x01\x02\x03", bytes(range(256)) * 3):
        message = browser.pack_message(header, payload)
        assert message[:4] == b"GLB1" and (len(message) - len(payload)) % 8 == 0  # the payload starts aligned
        assert browser.unpack_message(message) == (header, payload)


@pytest.mark.parametrize(
    "bad",
    [
        {"note": "<script>alert(1)</script>"},
        {"values": [1.0, float("nan")]},
        {"values": [float("inf")]},
        {"big": 2**53},
        {"Bad-Key": 1},
        {"nested": {"x": b"bytes"}},
        {"none": None},
        {"<img>": 1},
    ],
)
def test_only_numbers_reach_a_component(bad):
    """Text, NaN, inf, integers a browser would round and odd field names are refused."""
    with pytest.raises(ValueError):
        browser.pack_message(bad)
    with pytest.raises(ValueError):
        browser.numbers_only(bad)


def test_numpy_numbers_are_plain_numbers():
    assert browser.numbers_only({"a": np.float32(0.5), "b": [np.int64(3)]}) == {"a": 0.5, "b": [3]}


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_decoders_go_as_float16_within_the_tolerance(path):
    """Half the bytes, and the check codes' pixels within 2e-3 of the torch decoder: the payload
    read back and decoded as the browser does lands where the server said it would."""
    model = load_checkpoint(path).model
    packed = browser.pack_decoder(model)
    assert packed.dtype == 16 and packed.sizes == tuple(model.config.decoder_sizes)  # (300 or 200, 256, 512, 784)
    decoder_weights = sum(p.numel() for p in model.decoder.parameters())
    assert len(packed.weights) == 2 * decoder_weights < 1.5e6
    assert 0 < packed.deviation <= browser.HALF_TOLERANCE and packed.checked == 96
    codes = browser.check_codes(model)
    with torch.inference_mode():
        reference = model.decode(codes).double()
    decoded = browser._decode_as_browser(unpacked_layers(packed), codes)
    assert float((decoded - reference).abs().max()) == pytest.approx(packed.deviation, rel=1e-9)
    assert packed.model_id < 2**48 and browser.pack_decoder(model).model_id == packed.model_id


def test_float32_when_float16_moves_pixels_too_far(monkeypatch):
    """A decoder whose float16 rounding moves a pixel more than the tolerance goes as float32,
    exact to the torch decoder's float32 rounding."""
    monkeypatch.setattr(browser, "HALF_TOLERANCE", 0.0)
    torch.manual_seed(0)
    model = CategoricalVAE(VAEConfig(latent_vars=4, classes=3, hidden=(16,), input_dim=16)).eval()
    packed = browser.pack_decoder(model)
    assert packed.dtype == 32 and packed.deviation < 1e-6
    assert len(packed.weights) == 4 * sum(p.numel() for p in model.decoder.parameters())
    with torch.inference_mode():
        reference = model.decode(browser.check_codes(model))
    assert torch.allclose(
        browser._decode_as_browser(unpacked_layers(packed), browser.check_codes(model)).float(), reference
    )


def test_different_weights_are_a_different_model():
    torch.manual_seed(0)
    a = CategoricalVAE(VAEConfig(latent_vars=4, classes=3, hidden=(16,), input_dim=16)).eval()
    b = CategoricalVAE(VAEConfig(latent_vars=4, classes=3, hidden=(16,), input_dim=16)).eval()
    assert browser.pack_decoder(a).model_id != browser.pack_decoder(b).model_id


def test_a_large_or_non_square_model_stays_on_the_server():
    with pytest.raises(browser.TooLargeForBrowser, match="M parameters"):
        browser.pack_decoder(CategoricalVAE(VAEConfig(hidden=(1024, 1024))))
    with pytest.raises(browser.TooLargeForBrowser, match="not square"):
        browser.pack_decoder(CategoricalVAE(VAEConfig(latent_vars=4, classes=3, hidden=(8,), input_dim=15)))


GOOD_EDIT = {"positions": [0.0, 2.5, 9.0], "variable": 1, "tau": 0.5, "seed": 7}


def read_edit(value: object) -> browser.LatentEdit:
    return browser.read_latent_edit(value, 3, 10, (0.01, 10.0), 2**31 - 1)


def test_a_latent_edit_is_read():
    assert read_edit(GOOD_EDIT) == browser.LatentEdit([0.0, 2.5, 9.0], 1, 0.5, 7)


@pytest.mark.parametrize(
    "change",
    [
        {"positions": [0.0, 2.5]},
        {"positions": [0.0, 2.5, 9.5]},
        {"positions": [0.0, "2", 1.0]},
        {"positions": [0.0, math.nan, 1.0]},
        {"positions": "0,1,2"},
        {"variable": 3},
        {"variable": 1.5},
        {"variable": True},
        {"tau": 0.0},
        {"tau": 1e9},
        {"seed": -1},
        {"seed": 2**31},
        {"extra": 1},
    ],
)
def test_a_hostile_latent_edit_is_refused(change):
    with pytest.raises(ValueError):
        read_edit(GOOD_EDIT | change)
    with pytest.raises(ValueError):
        read_edit(None)


def test_a_temperature_edit_is_read_and_checked():
    edit = browser.read_temperature_edit({"logits": [1.0, -5.0, 5], "tau": 0.02}, 3, (-5.0, 5.0), (0.01, 10.0))
    assert edit == browser.TemperatureEdit([1.0, -5.0, 5.0], 0.02)
    for bad in ({"logits": [1.0, 6.0, 0.0], "tau": 1.0}, {"logits": [1.0, 0.0], "tau": 1.0}, {"logits": [0, 0, 0]}):
        with pytest.raises(ValueError):
            browser.read_temperature_edit(bad, 3, (-5.0, 5.0), (0.01, 10.0))
