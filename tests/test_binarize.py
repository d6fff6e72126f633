"""Binarized MNIST: dynamic binarization is seeded and Bernoulli, the test set's is fixed."""

import pytest
import torch

from core.data import MNISTSplit, bernoulli, binarized, held_out_pixels
from core.training.config import TrainConfig
from core.training.loop import Trainer
from core.vae import VAEConfig


def fake_split(n, seed):
    """Grey-level images with every intensity 0..255 present, no MNIST needed."""
    images = torch.randint(0, 256, (n, 28, 28), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    images[0].view(-1)[:256] = torch.arange(256, dtype=torch.uint8)
    return MNISTSplit(images, torch.zeros(n, dtype=torch.long))


def test_bernoulli_mean_matches_the_grey_level():
    """4,000 draws of 256 grey levels with seed 0: every empirical mean lies within 4.5 standard
    errors sqrt(p (1 - p) / 4000) of its grey level p (at most 0.036), and 0 and 1 are exact."""
    p = torch.arange(256, dtype=torch.float32) / 255
    draws = bernoulli(p.expand(4000, -1).contiguous(), torch.Generator().manual_seed(0))
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    mean = draws.mean(0)
    se = (p * (1 - p) / 4000).sqrt()
    assert (mean - p).abs().le(4.5 * se + 1e-12).all(), (mean - p).abs().max()
    assert mean[0] == 0 and mean[-1] == 1


def test_binarization_is_seeded():
    p = torch.rand(50, 784, generator=torch.Generator().manual_seed(1))
    assert torch.equal(binarized(p, 3), binarized(p, 3))
    assert not torch.equal(binarized(p, 3), binarized(p, 4))


def test_bernoulli_refuses_integer_images():
    with pytest.raises(ValueError, match="floating"):
        bernoulli(torch.zeros(3, dtype=torch.uint8))


def epochs_of_binarized_batches(binarize, seed=0):
    """Per epoch, the training images as the steps saw them, in index order."""
    train, test = fake_split(40, 0), fake_split(20, 1)
    config = TrainConfig(
        model=VAEConfig(latent_vars=2, classes=3, hidden=(8,)),
        epochs=2,
        batch_size=10,
        binarize=binarize,
        seed=seed,
    )
    trainer = Trainer(config, train, test)
    seen: list[dict[int, torch.Tensor]] = [{}, {}]
    batch = trainer.batch

    def recording_batch(idx):
        x = batch(idx)
        for i, row in zip(idx.tolist(), x, strict=True):
            seen[trainer.epoch - 1][i] = row
        return x

    trainer.batch = recording_batch  # type: ignore[method-assign]
    list(trainer.events())
    grey = train.pixels()
    return [torch.stack([epoch[i] for i in range(40)]) for epoch in seen], grey, trainer


def test_dynamic_binarization_differs_between_epochs_and_is_seeded():
    (first, second), grey, _ = epochs_of_binarized_batches("dynamic")
    for x in (first, second):
        assert set(x.unique().tolist()) <= {0.0, 1.0}
        assert torch.equal(x[grey == 0], torch.zeros_like(x[grey == 0]))
        assert torch.equal(x[grey == 1], torch.ones_like(x[grey == 1]))
    grey_pixels = (grey > 0) & (grey < 1)
    changed = (first != second)[grey_pixels].float().mean().item()
    assert changed > 0.3  # two epochs, two independent draws: ~2 p (1 - p) of grey pixels flip
    (again, _), _, _ = epochs_of_binarized_batches("dynamic")
    assert torch.equal(first, again)
    (other, _), _, _ = epochs_of_binarized_batches("dynamic", seed=1)
    assert not torch.equal(first, other)
    # Over 40 images x 784 pixels the draw's mean matches the grey levels' mean within 0.01.
    assert abs(first.mean().item() - grey.mean().item()) < 0.01


def test_static_binarization_is_the_same_every_epoch():
    (first, second), _, _ = epochs_of_binarized_batches("static")
    assert torch.equal(first, second)
    assert set(first.unique().tolist()) <= {0.0, 1.0}


def test_grey_levels_stay_the_default():
    (first, _), grey, trainer = epochs_of_binarized_batches("none")
    assert TrainConfig().binarize == "none"
    assert torch.equal(first, grey)
    assert torch.equal(trainer.x_test, fake_split(20, 1).pixels())


def test_binarized_test_set_is_fixed_for_every_run_and_subset():
    _, _, a = epochs_of_binarized_batches("dynamic", seed=0)
    _, _, b = epochs_of_binarized_batches("static", seed=5)
    assert torch.equal(a.x_test, b.x_test)
    assert set(a.x_test.unique().tolist()) <= {0.0, 1.0}
    test = fake_split(20, 1)
    assert torch.equal(held_out_pixels(test, True)[:7], held_out_pixels(MNISTSplit(test.images, test.labels), True)[:7])


def test_unknown_binarization_is_refused():
    with pytest.raises(ValueError, match="binarization"):
        TrainConfig(binarize="otsu")
