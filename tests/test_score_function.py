"""Score-function (REINFORCE) training: its gradient's mean is the exact gradient, which we get
by enumerating every code of a tiny model; a baseline that includes a sample's own loss is not."""

import itertools

import pytest
import torch

from core.training.config import TrainConfig
from core.training.loop import Trainer
from core.vae import CategoricalVAE, VAEConfig, kl_to_uniform, reconstruction_nll, score_function_loss
from tests.test_binarize import fake_split

GROUPS = 40  # independent gradient means, whose spread gives the standard error
REPEATS = 250  # copies of each image per group: one backward pass averages their estimates


def tiny_model_and_data():
    torch.manual_seed(0)
    model = CategoricalVAE(VAEConfig(latent_vars=2, classes=3, hidden=(8,), input_dim=6, relu_logits=False)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2)
    x = torch.rand(3, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64).round()
    return model, x


def flat_grad(model, loss):
    model.zero_grad()
    loss.backward()
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def exact_gradient(model, x):
    """The gradient of E_q[reconstruction] + KL, averaged over the images, by enumerating the 9 codes."""
    logits = model.encode(x)
    q = torch.softmax(logits, -1)
    expected = 0
    for code in itertools.product(range(3), repeat=2):
        one_hot = torch.nn.functional.one_hot(torch.tensor(code), 3).double().expand(x.shape[0], -1, -1)
        prob = (q * one_hot).sum(-1).prod(-1)
        expected = expected + prob * reconstruction_nll(model.decode_logits(one_hot), x)
    return flat_grad(model, (expected + kl_to_uniform(logits)).mean())


def estimated_gradients(model, x, leave_one_out, samples=2):
    generator = torch.Generator().manual_seed(0)
    xs = x.repeat(REPEATS, 1)
    grads = []
    for _ in range(GROUPS):
        _, surrogate = score_function_loss(model, xs, samples, generator, leave_one_out=leave_one_out)
        grads.append(flat_grad(model, surrogate))
    return torch.stack(grads)


def z_scores(model, x, leave_one_out):
    exact = exact_gradient(model, x)
    grads = estimated_gradients(model, x, leave_one_out)
    mean, se = grads.mean(0), grads.std(0) / GROUPS**0.5
    live = se > 1e-9  # parameters no sample's gradient reaches (a dead ReLU) are exactly 0 in both
    assert torch.allclose(mean[~live], exact[~live], atol=1e-9)
    return ((mean - exact) / se)[live], exact


def test_gradient_mean_matches_enumeration_within_its_standard_error():
    """10,000 estimates per image (2 samples each), in 40 groups: every one of the ~170 gradient
    entries lies within 4.5 standard errors of the exact gradient."""
    model, x = tiny_model_and_data()
    z, exact = z_scores(model, x, leave_one_out=True)
    assert exact.abs().max() > 0.1  # a gradient worth estimating
    assert z.abs().max() < 4.5, z.abs().max()
    assert 0.5 < z.pow(2).mean() < 1.6  # and the standard errors are the right size


def test_a_baseline_with_the_samples_own_loss_is_biased_and_caught():
    """The mean over all samples as baseline scales the score term by (K - 1) / K = 1/2."""
    model, x = tiny_model_and_data()
    z, _ = z_scores(model, x, leave_one_out=False)
    assert z.abs().max() > 8


def test_loss_values_are_the_exact_sample_objective():
    model, x = tiny_model_and_data()
    loss, surrogate = score_function_loss(model, x, 3, torch.Generator().manual_seed(0))
    assert loss.total.item() == pytest.approx(loss.reconstruction.item() + loss.kl.item())
    assert torch.isfinite(surrogate)
    with pytest.raises(ValueError, match="at least 2"):
        score_function_loss(model, x, 1)


def test_training_with_the_score_function_learns_and_reports_one_objective():
    torch.set_num_threads(1)
    config = TrainConfig(
        model=VAEConfig(latent_vars=4, classes=5, hidden=(32,)),
        epochs=2,
        batch_size=50,
        estimator="score_function",
        binarize="dynamic",
        train_subset=500,
    )
    trainer = Trainer(config, fake_split(500, 0), fake_split(100, 1))
    epochs = [e for e in trainer.events() if not hasattr(e, "images_per_second")]
    assert len(epochs) == 2
    assert all(e.relaxed == e.unrelaxed for e in epochs)  # exact samples forward: one objective
    assert epochs[1].relaxed < epochs[0].relaxed
    with pytest.raises(ValueError, match="sf_samples"):
        TrainConfig(estimator="score_function", sf_samples=1)
