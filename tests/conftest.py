"""Shared fixtures: a writable MNIST data root seeded from the shared raw files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_RAW = REPO.parent / "shared" / "data" / "MNIST" / "raw"


def _seed_data_root() -> Path | None:
    """$GUMBEL_LAB_DATA when set (CI sets it), else a copy of ../shared/data in the repo's data/."""
    if os.environ.get("GUMBEL_LAB_DATA"):
        return Path(os.environ["GUMBEL_LAB_DATA"])
    root = REPO / "data"
    raw = root / "MNIST" / "raw"
    if SHARED_RAW.is_dir():
        raw.mkdir(parents=True, exist_ok=True)
        for gz in SHARED_RAW.glob("*.gz"):
            if not (raw / gz.name).exists():
                shutil.copy(gz, raw / gz.name)
    return root if raw.is_dir() else None


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = _seed_data_root()
    if root is None:
        pytest.fail("No MNIST: set GUMBEL_LAB_DATA or put the raw files in ../shared/data/MNIST/raw.")
    os.environ["GUMBEL_LAB_DATA"] = str(root)
    return root


@pytest.fixture(scope="session")
def mnist(data_root):
    from core.data import load_mnist

    return load_mnist("train", data_root), load_mnist("test", data_root)


@pytest.fixture(scope="session", autouse=True)
def _runs_and_caches_in_temporary_folders(tmp_path_factory):
    """No test writes to the real run store or the user's cache folder: GUMBEL_LAB_RUNS and
    XDG_CACHE_HOME point at temporary folders unless a test sets its own. The cache starts with
    product timings that make "auto" float32 at every thread count, so no test times the CPU
    and every machine runs the tests' steps in float32 (tests of auto use a cache of their own)."""
    names = ("GUMBEL_LAB_RUNS", "XDG_CACHE_HOME")
    previous = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ[name] = str(tmp_path_factory.mktemp(name.lower()))
    from core.runtime.precision import cache_path, machine_key

    cache = cache_path()
    cache.parent.mkdir(parents=True)
    fp32_faster = {"fp32": 1.0, "bf16": 2.0}
    cache.write_text(json.dumps({machine_key(n): fp32_faster for n in range(1, (os.cpu_count() or 1) + 1)}))
    yield
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
