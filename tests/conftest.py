"""Shared fixtures: a writable MNIST data root seeded from the shared raw files."""

from __future__ import annotations

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
def _runs_in_a_temporary_store(tmp_path_factory):
    """No test writes to the real run store: runs go to a temporary GUMBEL_LAB_RUNS unless a test sets its own."""
    previous = os.environ.get("GUMBEL_LAB_RUNS")
    os.environ["GUMBEL_LAB_RUNS"] = str(tmp_path_factory.mktemp("runs"))
    yield
    if previous is None:
        os.environ.pop("GUMBEL_LAB_RUNS", None)
    else:
        os.environ["GUMBEL_LAB_RUNS"] = previous
