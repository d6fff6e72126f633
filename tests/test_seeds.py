"""Derived random streams: reproducible, distinct per purpose, and not related to each other."""

import pytest
import torch

from core.seeds import generator, stream_seed


def test_a_stream_is_the_same_for_the_same_seed_and_purpose() -> None:
    a = torch.rand(1000, generator=generator(7, "noise"))
    b = torch.rand(1000, generator=generator(7, "noise"))
    assert torch.equal(a, b)


def test_purposes_and_seeds_give_different_streams() -> None:
    seeds = {stream_seed(s, p) for s in range(20) for p in ("init", "noise", "shuffle", "evaluation")}
    assert len(seeds) == 80
    assert all(0 <= s < 2**63 for s in seeds)


def test_streams_of_neighbouring_seeds_are_uncorrelated() -> None:
    """`manual_seed(s)` and `manual_seed(s + 1)` were the old way; the derived streams of one seed
    for two purposes, and of neighbouring seeds, must look independent (|r| < 5 / sqrt(n))."""
    n = 100_000
    x = torch.rand(n, generator=generator(0, "init"), dtype=torch.float64)
    for other in (generator(0, "noise"), generator(1, "init")):
        y = torch.rand(n, generator=other, dtype=torch.float64)
        r = torch.corrcoef(torch.stack([x, y]))[0, 1].item()
        assert abs(r) < 5 / n**0.5


@pytest.mark.parametrize("seed", [-1, 1.5, "3"])
def test_bad_seeds_are_refused(seed: object) -> None:
    with pytest.raises(ValueError, match="seed"):
        stream_seed(seed, "noise")  # type: ignore[arg-type]


def test_a_purpose_is_required() -> None:
    with pytest.raises(ValueError, match="purpose"):
        stream_seed(0, "")
