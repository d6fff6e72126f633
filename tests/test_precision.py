"""Choosing the products' precision: auto by a measured trial (faked here: tests never time),
only on a CPU with native bfloat16, cached once per machine in the user's cache folder."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from core.runtime import device, precision
from core.runtime.precision import (
    PrecisionChoice,
    bf16_native,
    cache_path,
    choose_precision,
    machine_key,
    step_products,
    time_products,
)
from core.training.adam import FlatAdam
from core.training.backprop import Bf16Weights, relaxed_step
from core.vae import CategoricalVAE, VAEConfig


class FakeTrial:
    """Product timings as a trial would report them, counting how often it was asked."""

    def __init__(self, fp32: float, bf16: float) -> None:
        self.seconds = {"fp32": fp32, "bf16": bf16}
        self.calls = 0

    def __call__(self) -> dict[str, float]:
        self.calls += 1
        return dict(self.seconds)


def native() -> bool:
    return True


def not_native() -> bool:
    return False


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache folder of the test's own (XDG_CACHE_HOME), empty."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "gumbel-lab" / "precision.json"


def test_auto_picks_bf16_where_its_products_measured_faster(cache):
    trial = FakeTrial(fp32=0.0068, bf16=0.002)
    choice = choose_precision("auto", "cpu", native=native, measure=trial)
    assert choice == PrecisionChoice("bf16", "auto: 3.4× faster products on this CPU")
    assert choice.describe() == "bf16 (auto: 3.4× faster products on this CPU)"
    assert trial.calls == 1


def test_auto_keeps_fp32_where_bf16_products_measured_slower(cache):
    trial = FakeTrial(fp32=0.004, bf16=0.005)
    choice = choose_precision("auto", "cpu", native=native, measure=trial)
    assert choice == PrecisionChoice("fp32", "auto: bfloat16 products 1.2× slower on this CPU")


def test_auto_never_tries_bf16_on_a_cpu_without_it(cache):
    """Emulated bfloat16 is slow, and no timing is even taken: a trial would fail this test."""

    def trial() -> dict[str, float]:
        raise AssertionError("a CPU without native bfloat16 was timed")

    choice = choose_precision("auto", "cpu", native=not_native, measure=trial)
    assert choice == PrecisionChoice("fp32", "auto: no native bfloat16 on this CPU")
    assert not cache.exists()


def test_asked_for_precisions_are_kept_and_a_slow_bf16_says_so(cache):
    def trial() -> dict[str, float]:
        raise AssertionError("an asked-for precision was timed")

    assert choose_precision("fp32", "cpu", native=native, measure=trial) == PrecisionChoice("fp32", "asked for")
    assert choose_precision("bf16", "cpu", native=native, measure=trial) == PrecisionChoice("bf16", "asked for")
    slow = choose_precision("bf16", "cpu", native=not_native, measure=trial)
    assert slow.precision == "bf16" and "no native bfloat16" in slow.reason
    with pytest.raises(ValueError, match="unknown precision"):
        choose_precision("fp16", "cpu")


def test_auto_is_fp32_off_the_cpu_without_a_trial(cache):
    choice = choose_precision("auto", "meta", native=native, measure=FakeTrial(1.0, 0.1))
    assert choice.precision == "fp32" and "meta" in choice.reason


def test_the_trial_runs_once_per_machine_and_its_timings_are_cached(cache):
    trial = FakeTrial(fp32=0.006, bf16=0.002)
    first = choose_precision("auto", "cpu", native=native, measure=trial)
    second = choose_precision("auto", "cpu", native=native, measure=FakeTrial(fp32=0.001, bf16=0.009))
    assert first == second and trial.calls == 1  # the second trial's opposite answer was never asked for
    assert json.loads(cache.read_text()) == {machine_key(): {"fp32": 0.006, "bf16": 0.002}}


def test_the_cache_key_names_the_cpu_torch_and_the_thread_count(cache, monkeypatch):
    key = machine_key()
    assert device.cpu_model() in key and torch.__version__ in key and f"{torch.get_num_threads()} threads" in key
    trial = FakeTrial(fp32=0.006, bf16=0.002)
    choose_precision("auto", "cpu", native=native, measure=trial)
    monkeypatch.setattr(precision, "machine_key", lambda: "another CPU | torch 9 | 3 threads")
    choose_precision("auto", "cpu", native=native, measure=trial)
    assert trial.calls == 2  # another machine, measured afresh
    assert set(json.loads(cache.read_text())) == {key, "another CPU | torch 9 | 3 threads"}


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[1, 2]",
        json.dumps({"KEY": {"fp32": -1.0, "bf16": 0.002}}),
        json.dumps({"KEY": {"fp32": 0.006}}),
        json.dumps({"KEY": {"fp32": "fast", "bf16": 0.002}}),
        json.dumps({"KEY": {"fp32": 0.006, "bf16": 0.002}, "pad": "x" * 70_000}),
    ],
)
def test_a_damaged_or_foreign_cache_is_measured_over(cache, content):
    cache.parent.mkdir(parents=True)
    cache.write_text(content.replace("KEY", machine_key()))
    trial = FakeTrial(fp32=0.004, bf16=0.005)
    assert choose_precision("auto", "cpu", native=native, measure=trial).precision == "fp32"
    assert trial.calls == 1
    assert json.loads(cache.read_text())[machine_key()] == {"fp32": 0.004, "bf16": 0.005}


def test_the_cache_honours_xdg_cache_home_else_lives_under_home(cache, monkeypatch, tmp_path):
    assert cache_path() == cache
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_path() == tmp_path / "home" / ".cache" / "gumbel-lab" / "precision.json"


def test_an_unwritable_cache_still_gives_a_choice(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    trial = FakeTrial(fp32=0.006, bf16=0.002)
    assert choose_precision("auto", "cpu", native=native, measure=trial).precision == "bf16"


@pytest.mark.parametrize(
    "flags, expected",
    [
        ({"avx2", "avx512f"}, False),  # AVX-512 without BF16: bfloat16 is converted, not multiplied
        ({"avx2", "avx512f", "avx512_bf16"}, True),  # Zen 4, Cooper Lake
        ({"avx2", "amx_bf16", "amx_tile"}, True),  # Sapphire Rapids
        ({"asimd", "bf16"}, True),  # Arm v8.6
        (set(), False),  # no /proc/cpuinfo: macOS, Windows
    ],
)
def test_native_bf16_is_read_from_the_cpu_flags(monkeypatch, flags, expected):
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    assert bf16_native() is (expected and torch.backends.mkldnn.is_available())


def test_the_trial_times_the_steps_own_products():
    """step_products() lists the products a hand-written bfloat16 step really makes, shape for shape."""
    config = VAEConfig(latent_vars=4, classes=3, hidden=(7, 5), input_dim=6)
    model = CategoricalVAE(config)
    bf16 = Bf16Weights(model, FlatAdam(model, 1e-3))
    seen: list[tuple[int, int, int]] = []
    with ProductShapes(seen):
        relaxed_step(model, torch.rand(8, 6), 1.0, torch.Generator().manual_seed(0), bf16=bf16)
    listed = step_products(batch=8, widths=(6, 7, 5, 12))
    assert sorted(seen) == sorted((m, k, n) for m, k, n, _ in listed)
    weights = sorted((m, n) for m, _, n, weight in listed if weight)
    linears = [layer for layer in model.modules() if isinstance(layer, torch.nn.Linear)]
    assert weights == sorted(tuple(layer.weight.shape) for layer in linears)
    faithful = step_products()
    assert len(faithful) == 17 and (100, 784, 512, False) in faithful and (200, 512, 784, False) in faithful


class ProductShapes(TorchDispatchMode):
    """Records the (m, k, n) of every matrix product run under it."""

    def __init__(self, seen: list[tuple[int, int, int]]) -> None:
        super().__init__()
        self.seen = seen

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in ("mm", "addmm"):
            a, b = args[-2], args[-1]
            self.seen.append((a.shape[0], a.shape[1], b.shape[1]))
        return func(*args, **(kwargs or {}))


def test_a_trial_reports_both_precisions():
    """A real trial on tiny shapes (what it measures is the machine's business; that it reports it is ours)."""
    seconds = time_products(budget=0.0, batch=4, widths=(8, 6, 4))
    assert set(seconds) == {"fp32", "bf16"}
    assert all(math.isfinite(s) and s > 0 for s in seconds.values())


def test_a_benchmarks_cpu_line_names_the_model_the_features_and_the_libraries(monkeypatch):
    monkeypatch.setattr(device, "cpu_flags", lambda: {"fpu", "avx2", "avx512f", "avx512_bf16"})
    monkeypatch.setattr(device.platform, "machine", lambda: "x86_64")
    line = device.describe_cpu()
    assert line.startswith(f"CPU: {device.cpu_model()}, ")
    assert "(avx2, avx512f, avx512_bf16; no amx_bf16)" in line and "fpu" not in line
    assert f"torch {torch.__version__}" in line and "BLAS " in line and "oneDNN " in line
    monkeypatch.setattr(device, "cpu_flags", set)
    assert "(no avx2, avx512f, avx512_bf16, amx_bf16)" in device.describe_cpu()
