"""Every shipped model loads, is small, says where it came from, and still meets its own bound."""

from pathlib import Path

import pytest

from core.checkpoints import list_checkpoints, load_checkpoint
from core.evaluation import exact_sample_objective

SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints"
MODELS = list_checkpoints(SHIPPED)


def test_the_faithful_and_the_default_model_ship():
    assert {p.stem for p in MODELS} >= {"faithful", "best"}


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_shipped_model_meets_its_bound(path, mnist):
    assert path.stat().st_size < 5_000_000
    checkpoint = load_checkpoint(path)
    meta = checkpoint.metadata
    for key in ("config", "data", "epochs", "seed", "final_metrics", "command", "quality_check"):
        assert key in meta, key
    check = meta["quality_check"]
    _, test = mnist
    x = test.pixels()[: check["test_images"]]
    measured = exact_sample_objective(checkpoint.model, x, seed=check["seed"]).total
    assert measured <= check["bound"], f"{path.stem}: {measured:.2f} > bound {check['bound']}"
