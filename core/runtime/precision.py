"""Which precision a run's matrix products use: float32, or bfloat16 where this CPU makes them faster.

Why by measurement (issue 27): on a CPU with native bfloat16 products (AVX-512 BF16 or AMX on
x86, BF16 on Arm) the step's own products can run several times faster in bfloat16 than in
float32, while float32 won on the other machines measured; a vendor or flag list cannot say
which side of that a laptop is on. So "auto" times the step's products in both precisions, only
on a CPU whose flags say bfloat16 is native (elsewhere it is emulated, tens of times slower, and
never chosen), within TRIAL_SECONDS, and keeps the faster. The timings are cached once per
machine in the user's cache folder ($XDG_CACHE_HOME, else ~/.cache), keyed by the CPU model,
torch's version and the thread count, so a run normally starts without measuring.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from core.runtime.device import check_precision, cpu_flags, cpu_model

# Flags that mean this CPU multiplies bfloat16 in hardware: x86's AVX-512 BF16 and AMX, Arm's BF16.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
TRIAL_SECONDS = 0.1  # both precisions' timing together stays within this
CACHE_LIMIT = 64 * 1024  # bytes: a larger cache file is not ours, and is measured over
# The faithful preset's layer widths (the decoder mirrors the encoder) and batch: the products
# timed are the step's own, forward and backward (core.training.backprop).
LAYERS = (784, 512, 256, 300)
BATCH = 100
BOTH = ("fp32", "bf16")


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision a run's products use ("fp32" or "bf16") and why, for its record and page."""

    precision: str
    reason: str

    def describe(self) -> str:
        return f"{self.precision} ({self.reason})"


def bf16_native() -> bool:
    """True where the CPU's flags say bfloat16 products run in hardware and torch has oneDNN to use them."""
    return bool(BF16_FLAGS & cpu_flags()) and torch.backends.mkldnn.is_available()


def step_products(batch: int = BATCH, widths: tuple[int, ...] = LAYERS) -> list[tuple[int, int, int, bool]]:
    """The (m, k, n) of every product of one hand-written step, and whether it is a weight's
    gradient (its result goes into the float32 gradient buffer): the encoder's forward pass, the
    decoder's on the relaxed and the exact code stacked (2 x batch rows), each layer's weight
    gradient and every input gradient but the encoder's first."""
    encoder = list(itertools.pairwise(widths))
    decoder = [(n, k) for k, n in reversed(encoder)]
    forward = [(batch, k, n, False) for k, n in encoder] + [(2 * batch, k, n, False) for k, n in decoder]
    weight_grads = [(n, batch, k, True) for k, n in encoder + decoder]
    input_grads = [(batch, n, k, False) for k, n in encoder[1:] + decoder]
    return forward + weight_grads + input_grads


def time_products(
    budget: float = TRIAL_SECONDS, batch: int = BATCH, widths: tuple[int, ...] = LAYERS
) -> dict[str, float]:
    """The fastest seconds one step's products took in float32 and in bfloat16, timed in turn
    after a warm-up lap of each, for as many laps as fit in `budget` seconds (at least one). The
    bfloat16 lap also makes the casts its step makes: the weights' bfloat16 copy once, and each
    weight gradient back into float32."""
    generator = torch.Generator().manual_seed(0)
    products = step_products(batch, widths)
    operands = [
        (torch.randn(m, k, generator=generator), torch.randn(k, n, generator=generator)) for m, k, n, _ in products
    ]
    gradients = [torch.empty(m, n) if weight else None for m, _, n, weight in products]
    weights = torch.randn(sum(m * n for m, _, n, weight in products if weight), generator=generator)
    weights16 = weights.to(torch.bfloat16)
    operands16 = [(a.to(torch.bfloat16), b.to(torch.bfloat16)) for a, b in operands]

    def fp32_lap() -> None:
        for (a, b), gradient in zip(operands, gradients):
            if gradient is None:
                torch.mm(a, b)
            else:
                torch.mm(a, b, out=gradient)

    def bf16_lap() -> None:
        weights16.copy_(weights)
        for (a, b), gradient in zip(operands16, gradients):
            product = torch.mm(a, b)
            if gradient is not None:
                gradient.copy_(product)

    laps = {"fp32": fp32_lap, "bf16": bf16_lap}
    best = dict.fromkeys(laps, math.inf)
    started = time.perf_counter()
    for lap in laps.values():  # warm the kernels and the caches up
        lap()
    while True:
        pair = time.perf_counter()
        for name, lap in laps.items():
            tick = time.perf_counter()
            lap()
            best[name] = min(best[name], time.perf_counter() - tick)
        now = time.perf_counter()
        if now - started + (now - pair) > budget:  # another pair would overrun it
            return best


def cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gumbel-lab" / "precision.json"


def machine_key(threads: int | None = None) -> str:
    """What a cached decision holds for: the CPU, torch's version and how many threads multiply
    (default: as many as torch uses now)."""
    return f"{cpu_model()} | torch {torch.__version__} | {threads or torch.get_num_threads()} threads"


def _read_cache(path: Path) -> dict[str, dict[str, float]]:
    """The cached timings by machine key; {} where the file is missing, too large or not ours."""
    try:
        if path.stat().st_size > CACHE_LIMIT:
            return {}
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        key: {"fp32": float(entry["fp32"]), "bf16": float(entry["bf16"])}
        for key, entry in data.items()
        if isinstance(entry, dict) and all(_valid_seconds(entry.get(p)) for p in BOTH)
    }


def _valid_seconds(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def _write_cache(path: Path, entries: dict[str, dict[str, float]]) -> None:
    """Write atomically (a temporary file, then a rename); a cache that cannot be written only
    means the next run measures again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as f:
            json.dump(entries, f, indent=1)
        os.replace(f.name, path)
    except OSError:
        pass


def measured_seconds(measure: Callable[[], dict[str, float]]) -> dict[str, float]:
    """This machine's product timings: cached for its key, else measured now and cached."""
    path, key = cache_path(), machine_key()
    entries = _read_cache(path)
    if key not in entries:
        timings = measure()
        entries[key] = {p: float(timings[p]) for p in BOTH}
        _write_cache(path, entries)
    return entries[key]


def choose_precision(
    requested: str,
    device: torch.device | str = "cpu",
    *,
    native: Callable[[], bool] | None = None,
    measure: Callable[[], dict[str, float]] | None = None,
) -> PrecisionChoice:
    """The precision a run uses: `requested` when it is "fp32" or "bf16"; for "auto", bfloat16
    only on a CPU where it is native (`native`, default `bf16_native`) and its products measured
    faster (`measure`, default `time_products`; once per machine, then cached), else float32."""
    native = native or bf16_native
    if check_precision(requested) != "auto":
        slow = requested == "bf16" and torch.device(device).type == "cpu" and not native()
        return PrecisionChoice(requested, "asked for; no native bfloat16 here, so slow" if slow else "asked for")
    if torch.device(device).type != "cpu":
        return PrecisionChoice("fp32", f"auto: float32 on {torch.device(device).type}; bfloat16 is tried on CPUs")
    if not native():
        return PrecisionChoice("fp32", "auto: no native bfloat16 on this CPU")
    seconds = measured_seconds(measure or time_products)
    speedup = seconds["fp32"] / seconds["bf16"]
    if speedup > 1:
        return PrecisionChoice("bf16", f"auto: {speedup:.1f}× faster products on this CPU")
    return PrecisionChoice("fp32", f"auto: bfloat16 products {1 / speedup:.1f}× slower on this CPU")
