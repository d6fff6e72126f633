"""Where models run: the default device, the devices on offer and their readable names.

One place for `core`, the CLI and the app, so every surface names a device the same way.
"""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from core.names import PRECISIONS


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def available_devices() -> list[str]:
    """The GPU first when there is one, so it is the default choice."""
    return (["cuda"] if torch.cuda.is_available() else []) + ["cpu"]


def device_label(device: str) -> str:
    """A short label for a picker: "CPU", or "GPU: <model>"."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(torch.device(device))}"
    return "CPU"


def device_name(device: str) -> str:
    """A readable name for a results table: the GPU's model, or the CPU's with its threads."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"CPU ({cpu_model()}, {torch.get_num_threads()} threads)"


def cpu_model() -> str:
    return _cpuinfo("model name") or platform.machine()


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}.")
    return precision


def native_bf16(device: str) -> bool:
    """Whether the hardware multiplies bfloat16 matrices natively (emulated, they are slower:
    5x slower than float32 on an AVX-512 CPU without avx512_bf16, measured)."""
    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    flags = _cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: str) -> str:
    """The precision a run uses. "auto" is bfloat16 on a CPU that has it natively (1.23x faster
    per step with one thread on an AMX/avx512_bf16 Xeon, measured), else float32: on a GPU the
    small network waits on kernel launches, so bfloat16 gained nothing end to end (H200: 2.36
    against 2.62 ms per step, but 17.3 against 14.5 s for 10 epochs)."""
    if check_precision(precision) != "auto":
        return precision
    return "bf16" if device == "cpu" and native_bf16(device) else "fp32"


def _cpu_flags() -> set[str]:
    return set(_cpuinfo("flags").split())


def _cpuinfo(field: str) -> str:
    """The value of the first `field` line of /proc/cpuinfo ("" where there is none: not Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def check_device(device: str) -> str:
    """A device name torch knows and this machine has, else a ValueError that says which to use."""
    try:
        torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; use 'cpu' or 'cuda'.") from None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but no CUDA GPU is available here.")
    return device
