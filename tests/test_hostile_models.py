"""Hostile model files are refused before they cost memory (issue 28, item 1).

A model file names its own sizes. Before this guard, `load_checkpoint` built the model those
sizes described and only then compared the weights: a config of 10^12 units crashed the page,
and one of tens of GB took the server's memory. Every case here must end in a
`CheckpointError` whose message says what is wrong, having made less than 50 MB of tensors
(counted op by op: the process's peak memory, 20 MB for these files alone, read 177-211 MB in the
full suite for reasons not found); the sidebar's upload is measured by a fresh process's peak.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import resource
import sys
import zipfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from core.store.checkpoints import FORMAT, CheckpointError, load_checkpoint
from core.store.transfer import import_model
from core.vae import (
    MAX_CLASSES,
    MAX_HIDDEN_LAYERS,
    MAX_INPUT_DIM,
    MAX_LATENT_VARS,
    MAX_LAYER_WIDTH,
    MAX_PARAMETERS,
    PRESETS,
    CategoricalVAE,
)
from tests.apptest import REPO
from tests.test_checkpoints import SMALL, small_model

MEMORY_BUDGET = 50 * 2**20
T = TypeVar("T")


def reset_peak_memory() -> int:
    """Restart the kernel's count of this process's peak resident memory; returns the resident
    bytes now. Where /proc/self/clear_refs is missing (not Linux), the lifetime peak stands in."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kib("VmRSS") * 1024
    except OSError:
        return _lifetime_peak()


def peak_memory() -> int:
    """The peak resident bytes since the last `reset_peak_memory`."""
    try:
        return _status_kib("VmHWM") * 1024
    except OSError:
        return _lifetime_peak()


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def _lifetime_peak() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def payload_bytes(config: object, state: object) -> bytes:
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "config": config, "state_dict": state}, buffer)
    return buffer.getvalue()


def bad_scalar(most: int) -> st.SearchStrategy:
    """Single values a size must not take: above its bound, zero or negative, fractional or a
    float, text, a bool, or nothing."""
    return st.one_of(
        st.integers(min_value=most + 1, max_value=10**30),
        st.sampled_from([10**12, 50_000 * 50_000, 2**63, 10**600]),  # 10^600: the longest int weights_only reads
        st.integers(max_value=0),
        st.floats(),
        st.text(max_size=12),
        st.booleans(),
        st.none(),
    )


NESTED = st.lists(st.integers(1, 16), max_size=3) | st.dictionaries(st.text(max_size=4), st.integers(1, 16), max_size=2)


def bad_number(most: int) -> st.SearchStrategy:
    return bad_scalar(most) | NESTED


BAD_SETTINGS = {
    "latent_vars": bad_number(MAX_LATENT_VARS),
    "classes": bad_number(MAX_CLASSES) | st.just(1),
    "input_dim": bad_number(MAX_INPUT_DIM),
    "hidden": st.one_of(
        bad_scalar(MAX_LAYER_WIDTH),  # one value where a list belongs
        st.dictionaries(st.text(max_size=4), st.integers(1, 16), max_size=2),
        st.lists(bad_number(MAX_LAYER_WIDTH), min_size=1, max_size=3),
        st.lists(st.integers(1, 64), min_size=MAX_HIDDEN_LAYERS + 1, max_size=40),  # too deep
        st.just([]),
        st.just([50_000, 50_000]),
        # Each width allowed, together too many parameters: 4,096^2 x 2 links x 2 networks > the bound.
        st.lists(st.integers(MAX_LAYER_WIDTH // 2, MAX_LAYER_WIDTH), min_size=3, max_size=MAX_HIDDEN_LAYERS),
    ),
    "relu_logits": st.one_of(st.integers(), st.text(max_size=8), st.none(), st.lists(st.booleans(), max_size=2)),
}

TENSOR_FAULTS = ("shape", "dtype", "huge view", "sparse", "meta", "missing", "extra")
DTYPES = (torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.uint8, torch.bool)


@st.composite
def hostile_settings(draw) -> tuple[object, object, str]:
    """(config, state, what the refusal must say): one setting made bad, gone or added; the
    refusal names it."""
    config = SMALL.to_dict()
    how = draw(st.sampled_from([*BAD_SETTINGS, "missing", "unknown", "not a mapping"]))
    if how == "missing":
        how = draw(st.sampled_from(sorted(config)))
        del config[how]
    elif how == "unknown":
        config["dropout"] = draw(st.floats(0, 1))
        how = "dropout"
    elif how == "not a mapping":
        settings = draw(st.one_of(st.none(), st.lists(st.integers(), max_size=3), st.text(max_size=8)))
        return settings, small_model().state_dict(), "the model settings must be a mapping"
    else:
        config[how] = draw(BAD_SETTINGS[how])
    return config, small_model().state_dict(), how


@st.composite
def hostile_weights(draw) -> tuple[object, object, str]:
    """(config, state, what the refusal must say): the small model's settings with one weight
    of the wrong name, shape, dtype, layout or device; the refusal names that weight."""
    state = dict(small_model().state_dict())
    name = draw(st.sampled_from(sorted(state)))
    good = state[name]
    fault = draw(st.sampled_from(TENSOR_FAULTS))
    if fault == "shape":
        shape = draw(st.lists(st.integers(0, 40), max_size=3).filter(lambda s: tuple(s) != good.shape))
        state[name] = torch.zeros(shape)
    elif fault == "dtype":
        state[name] = good.to(draw(st.sampled_from(DTYPES)))
    elif fault == "huge view":  # a few bytes on disk that claim 10^10 to 10^18 floats
        state[name] = torch.zeros(1).expand(draw(st.lists(st.integers(10**5, 10**9), min_size=2, max_size=2)))
    elif fault == "sparse":
        state[name] = good.to_sparse()
    elif fault == "meta":
        state[name] = torch.empty(good.shape, device="meta")
    elif fault == "missing":
        del state[name]
        return SMALL.to_dict(), state, f"{name} is missing"
    else:
        extra = draw(st.text(min_size=1, max_size=10).filter(lambda n: n not in state))
        state[extra] = draw(st.sampled_from([good, torch.zeros(1).expand(10**6, 10**6)]))
        return SMALL.to_dict(), state, "is not a weight of this model"
    return SMALL.to_dict(), state, f"{name} is "


class TensorBytes(TorchDispatchMode):
    """The bytes of the tensor storages torch's operations make while active, off the meta
    device: building the model a file describes would show here, whatever else the process does."""

    def __init__(self) -> None:
        super().__init__()
        self.made = 0
        self.seen: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(out):
            if isinstance(tensor, torch.Tensor) and tensor.device.type != "meta" and tensor.layout == torch.strided:
                storage = tensor.untyped_storage()
                if storage.data_ptr() not in self.seen:
                    self.seen.add(storage.data_ptr())
                    self.made += storage.nbytes()
        return out


def test_the_tensor_count_sees_a_model_being_built():
    with TensorBytes() as made:
        CategoricalVAE(PRESETS["faithful"])
    assert made.made > 4 * 2**20  # 1.2 M float32 parameters


def in_fresh_process(work: Callable[..., T], *args: object) -> T:
    """Run `work` in a new Python process, whose peak memory holds no earlier test's allocations
    or threads."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(work, *args).result()


@pytest.mark.filterwarnings("ignore:Validating sparse tensor invariants")
def test_hostile_configs_and_weights_are_refused_within_50_mb(tmp_path):
    path = tmp_path / "hostile.pt"
    largest = 0

    @settings(max_examples=300, derandomize=True, database=None, deadline=None)
    @given(st.one_of(hostile_settings(), hostile_weights()))
    def refused(case):
        nonlocal largest
        config, state, said = case
        path.write_bytes(payload_bytes(config, state))
        with TensorBytes() as made, pytest.raises(CheckpointError) as refusal:
            load_checkpoint(path)
        largest = max(largest, made.made)
        message = str(refusal.value)
        assert message.startswith("hostile.pt is not a valid Gumbel Lab checkpoint: ")
        assert said in message, (said, message)

    refused()
    assert largest < MEMORY_BUDGET, f"a refused file made {largest / 2**20:.0f} MB of tensors"


def test_refusals_name_the_field_and_its_bound(tmp_path):
    state = small_model().state_dict()
    path = tmp_path / "m.pt"
    cases = [
        ({"latent_vars": 10**12}, f"latent_vars must be at most {MAX_LATENT_VARS:,}, got 1,000,000,000,000"),
        ({"classes": 1}, "classes must be at least 2, got 1"),
        ({"input_dim": -784}, "input_dim must be at least 1, got -784"),
        ({"hidden": [16, 10**600]}, f"hidden[1] must be at most {MAX_LAYER_WIDTH:,}, got a number of about 10^600"),
        ({"hidden": [16] * 9}, f"hidden must list 1 to {MAX_HIDDEN_LAYERS} layer sizes"),
        ({"hidden": [[16]]}, "hidden[0] must be a whole number, got [16]"),
        ({"latent_vars": 3.0}, "latent_vars must be a whole number, got 3.0"),
        ({"classes": True}, "classes must be a whole number, got True"),
        ({"input_dim": "784"}, "input_dim must be a whole number, got '784'"),
        ({"relu_logits": "yes"}, "relu_logits must be true or false"),
        (  # each width allowed, together 25x too many parameters
            {"hidden": [8192] * 4},
            f"make a model of 415,761,180 parameters (1,586 MiB); the app supports at most {MAX_PARAMETERS:,}",
        ),
    ]
    for change, words in cases:
        path.write_bytes(payload_bytes(SMALL.to_dict() | change, state))
        with pytest.raises(CheckpointError, match="its model settings are invalid") as refusal:
            load_checkpoint(path)
        assert words in str(refusal.value), (change, str(refusal.value))
    path.write_bytes(payload_bytes({k: v for k, v in SMALL.to_dict().items() if k != "classes"}, state))
    with pytest.raises(CheckpointError, match="missing model settings: classes"):
        load_checkpoint(path)
    path.write_bytes(payload_bytes(SMALL.to_dict() | {"latent_vars": 10**5000}, state))
    with pytest.raises(CheckpointError, match="could not be read safely"):  # torch's reader refuses longer ints
        load_checkpoint(path)


@pytest.mark.filterwarnings("ignore:Validating sparse tensor invariants")
def test_weights_are_compared_by_name_shape_and_dtype(tmp_path):
    state = dict(small_model().state_dict())
    path = tmp_path / "m.pt"
    cases = [
        (
            {"encoder.0.weight": state["encoder.0.weight"].double()},
            "encoder.0.weight is 16x784 float64 where the settings imply 16x784 float32",
        ),
        (
            {"decoder.0.bias": torch.zeros(1).expand(10**6, 10**6)},
            "decoder.0.bias is 1000000x1000000 float32 where the settings imply 16 float32",
        ),
        ({"encoder.2.bias": state["encoder.2.bias"].to_sparse()}, "encoder.2.bias is 12 float32 sparse_coo where"),
        ({"encoder.2.bias": torch.empty(12, device="meta")}, "encoder.2.bias is 12 float32 on meta where"),
        ({"encoder.9.weight": torch.zeros(3)}, "'encoder.9.weight' is not a weight of this model"),
    ]
    for change, words in cases:
        path.write_bytes(payload_bytes(SMALL.to_dict(), state | change))
        with pytest.raises(CheckpointError, match="do not fit its model settings") as refusal:
            load_checkpoint(path)
        assert words in str(refusal.value)


def test_a_file_larger_than_any_supported_model_is_not_read(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    path.write_bytes(payload_bytes(SMALL.to_dict(), small_model().state_dict()))
    monkeypatch.setattr("core.store.checkpoints.MAX_CHECKPOINT_BYTES", path.stat().st_size - 1)
    monkeypatch.setattr("core.store.checkpoints.torch.load", lambda *a, **k: pytest.fail("the file was read"))
    with pytest.raises(CheckpointError, match="the largest model the app supports is"):
        load_checkpoint(path)


def test_loading_draws_no_random_numbers(tmp_path):
    """The model is built on the meta device and given the file's weights, never initialised."""
    path = tmp_path / "m.pt"
    path.write_bytes(payload_bytes(SMALL.to_dict(), small_model().state_dict()))
    state = torch.random.get_rng_state()
    load_checkpoint(path)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_deeply_nested_json_side_file_is_refused(tmp_path):
    """JSON nested deeper than Python's parser goes raised RecursionError, which no page caught."""
    deep = b"[" * 100_000 + b"]" * 100_000
    good = io.BytesIO()
    torch.save({"format": FORMAT, "config": SMALL.to_dict(), "state_dict": small_model().state_dict()}, good)
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("m.pt", good.getvalue())
        archive.writestr("m.json", deep)
    with pytest.raises(CheckpointError, match="not readable JSON"):
        import_model(bundle.getvalue(), "m.zip", tmp_path / "in")
    path = tmp_path / "m.pt"
    path.write_bytes(good.getvalue())
    path.with_suffix(".json").write_bytes(deep)
    with pytest.raises(CheckpointError, match="not readable JSON"):
        load_checkpoint(path)
    json.loads(b"[" * 100 + b"]" * 100)  # nesting a person would write still parses


# --- the sidebar (AppTest) --------------------------------------------------------------------


def upload_to_sidebar(runs: Path, hidden: list[int]) -> tuple[bool, list[str], int]:
    """Upload the faithful model with `hidden` layer sizes on a fresh app; returns whether the
    page raised, the sidebar's errors and how far peak memory grew during the upload."""
    from streamlit.testing.v1 import AppTest

    os.environ["GUMBEL_LAB_RUNS"] = str(runs)
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    torch.manual_seed(0)
    faithful = CategoricalVAE(PRESETS["faithful"])
    upload = payload_bytes(PRESETS["faithful"].to_dict() | {"hidden": hidden}, faithful.state_dict())
    before = reset_peak_memory()
    app.sidebar.get("file_uploader")[0].set_value(("huge.pt", upload, "application/octet-stream"))
    app.run()
    grown = peak_memory() - before
    return bool(app.exception), [e.value for e in app.sidebar.error], grown


@pytest.mark.parametrize(
    "hidden, field",
    [([10**12, 256], "hidden[0] must be at most"), ([50_000, 50_000], "hidden[0] must be at most")],
    ids=["10^12 units", "50,000 x 50,000"],
)
def test_sidebar_refuses_a_model_asking_for_absurd_sizes(tmp_path, hidden, field):
    raised, errors, grown = in_fresh_process(upload_to_sidebar, tmp_path / "runs", hidden)
    assert not raised
    assert any("huge.pt was refused" in e and field in e and f"{MAX_LAYER_WIDTH:,}" in e for e in errors), errors
    assert grown < MEMORY_BUDGET, f"peak memory grew by {grown / 2**20:.0f} MB"
