"""Every shipped model loads, is small, says where it came from, and meets the quality bound its
configuration's row in the results table sets: the 3-seed mean + 2 standard deviations of the
test objective (one exact sample per image, all 10,000 test images), not a bound from itself."""

import json
import statistics
from pathlib import Path

import pytest

from core.data import held_out_pixels
from core.evaluation import exact_sample_objective
from core.store.checkpoints import list_checkpoints, load_checkpoint, recorded_seed
from core.store.compare import pixels

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "checkpoints"
MODELS = list_checkpoints(SHIPPED)


def table_bound(table: str, config: str) -> float:
    tests = [run["test"] for run in json.loads((REPO / table).read_text())[config]]
    assert len(tests) >= 3, f"{config}: the table has {len(tests)} seeds"
    return statistics.fmean(tests) + 2 * statistics.stdev(tests)


def test_the_faithful_and_the_default_model_ship():
    assert {p.stem for p in MODELS} >= {"faithful", "best"}


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_shipped_model_meets_its_configurations_bound(path, mnist):
    assert path.stat().st_size < 5_000_000
    checkpoint = load_checkpoint(path)
    meta = checkpoint.metadata
    for key in ("config", "data", "epochs", "final_metrics", "command", "quality_check", "source_run"):
        assert key in meta, key
    assert recorded_seed(meta) is not None
    check = meta["quality_check"]
    config = meta["source_run"].rsplit("-s", 1)[0]
    assert check["config"] == config
    bound = table_bound(check.get("table", "docs/results.json"), config)
    assert check["bound"] == pytest.approx(bound, abs=1e-3)  # the metadata says what the table says
    _, test = mnist
    x = held_out_pixels(test, pixels(meta) != "none")[: check["test_images"]]
    measured = exact_sample_objective(checkpoint.model, x, seed=check["seed"]).total
    assert measured <= bound, f"{path.stem}: {measured:.2f} > {config}'s mean + 2 sd {bound:.2f}"
