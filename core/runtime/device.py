"""Where models run: the default device, the devices on offer and their readable names.

One place for `core`, the CLI and the app, so every surface names a device the same way.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch

from core.names import PRECISIONS

# The CPU features a benchmark's figures depend on, by architecture: the vector width and
# whether bfloat16 products are native (AVX-512 BF16 or AMX on x86, BF16 on Arm).
SPEED_FLAGS = {"x86_64": ("avx2", "avx512f", "avx512_bf16", "amx_bf16"), "aarch64": ("asimd", "sve", "bf16")}


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
    threads = torch.get_num_threads()
    return f"CPU ({cpu_model()}, {threads} thread{'' if threads == 1 else 's'})"


def cpu_model() -> str:
    return _cpuinfo("model name") or platform.machine()


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}.")
    return precision


def cpu_flags() -> set[str]:
    """The CPU's feature flags (x86 "flags", Arm "Features"); empty where there is no /proc/cpuinfo."""
    return set((_cpuinfo("flags") or _cpuinfo("Features")).split())


def describe_cpu() -> str:
    """One line for a benchmark's figures: the CPU, the features that decide its speed (vector
    width, native bfloat16), the BLAS and oneDNN torch was built with, and torch's version."""
    flags, wanted = cpu_flags(), SPEED_FLAGS.get(platform.machine(), ())
    has = ", ".join(f for f in wanted if f in flags)
    lacks = ", ".join(f for f in wanted if f not in flags)
    features = "; ".join(part for part in (has, f"no {lacks}" if lacks else "") if part)
    config = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=(\w+)", config)
    onednn = re.search(r"MKL-DNN (v[\d.]+)", config)
    return (
        f"CPU: {cpu_model()}, {os.cpu_count()} logical cores ({features or 'flags unknown'}); "
        f"BLAS {blas.group(1) if blas else 'unknown'}, oneDNN {onednn.group(1) if onednn else 'none'}; "
        f"torch {torch.__version__}"
    )


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
