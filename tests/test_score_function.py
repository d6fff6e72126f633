"""Training estimators that decode exact samples, against enumeration on a tiny model: the score
function (REINFORCE) and MuProp are unbiased (their gradient's mean is the exact gradient, by
enumerating every code), and a broken baseline or control variate is caught; plain
straight-through's mean is its own enumerated expectation."""

import copy
import itertools

import pytest
import torch

from core import vae
from core.gumbel import straight_through_sample
from core.training.config import TrainConfig
from core.training.loop import Trainer
from core.vae import (
    CategoricalVAE,
    VAEConfig,
    kl_to_uniform,
    muprop_loss,
    reconstruction_nll,
    score_function_loss,
    vae_loss,
)
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


def enumerated(model, x, straight_through=False):
    """The gradient of E_q[reconstruction] + KL, averaged over the images, by enumerating the 9
    codes; with `straight_through`, the expectation of plain straight-through's gradient instead:
    each code's decoder loss differentiated through code + q - q.detach(), weighted by q(code)."""
    logits = model.encode(x)
    q = torch.softmax(logits, -1)
    expected = 0
    for code in itertools.product(range(3), repeat=2):
        one_hot = torch.nn.functional.one_hot(torch.tensor(code), 3).double().expand(x.shape[0], -1, -1)
        prob = (q * one_hot).sum(-1).prod(-1)
        if straight_through:
            prob, one_hot = prob.detach(), one_hot + q - q.detach()
        expected = expected + prob * reconstruction_nll(model.decode_logits(one_hot), x)
    return flat_grad(model, (expected + kl_to_uniform(logits)).mean())


def sampled_surrogate(loss, samples=2, leave_one_out=True):
    """One of the estimators that decode several exact samples per image, as a surrogate of (model, x, generator)."""
    return lambda model, x, generator: loss(model, x, samples, generator, leave_one_out=leave_one_out)[1]


def plain_straight_through(model, x, generator, tau=1.0):
    logits = model.encode(x)
    code = straight_through_sample(logits, tau, generator)  # what Trainer._forward does
    return vae_loss(model.decode_logits(code), x, logits).total


def estimated_gradients(model, x, surrogate, groups=GROUPS):
    """`groups` gradient estimates, each the mean over REPEATS copies of every image."""
    generator = torch.Generator().manual_seed(0)
    xs = x.repeat(REPEATS, 1)
    return torch.stack([flat_grad(model, surrogate(model, xs, generator)) for _ in range(groups)])


def z_scores(model, x, surrogate, straight_through=False, groups=GROUPS):
    """How many standard errors each gradient entry's mean lies from its enumerated expectation."""
    exact = enumerated(model, x, straight_through)
    grads = estimated_gradients(model, x, surrogate, groups)
    mean, se = grads.mean(0), grads.std(0) / groups**0.5
    live = se > 1e-9  # parameters no sample's gradient reaches (a dead ReLU) are exactly 0 in both
    assert torch.allclose(mean[~live], exact[~live], atol=1e-9)
    return ((mean - exact) / se)[live], exact


@pytest.mark.parametrize("loss", [score_function_loss, muprop_loss], ids=["score_function", "muprop"])
def test_gradient_mean_matches_enumeration_within_its_standard_error(loss):
    """10,000 estimates per image (2 samples each), in 40 groups: every one of the ~170 gradient
    entries lies within 4.5 standard errors of the exact gradient."""
    model, x = tiny_model_and_data()
    z, exact = z_scores(model, x, sampled_surrogate(loss))
    assert exact.abs().max() > 0.1  # a gradient worth estimating
    assert z.abs().max() < 4.5, z.abs().max()
    assert 0.5 < z.pow(2).mean() < 1.6  # and the standard errors are the right size


@pytest.mark.parametrize("loss", [score_function_loss, muprop_loss], ids=["score_function", "muprop"])
def test_a_baseline_with_the_samples_own_loss_is_biased_and_caught(loss):
    """The mean over all samples as baseline scales the score term by (K - 1) / K = 1/2."""
    model, x = tiny_model_and_data()
    z, _ = z_scores(model, x, sampled_surrogate(loss, leave_one_out=False))
    assert z.abs().max() > 8


def test_muprop_without_the_analytic_gradient_of_its_control_variate_is_biased_and_caught(monkeypatch):
    """Subtracting the Taylor control variate h from f without adding back the gradient of E_q[h]
    (f'(mu) . grad mu) removes a part of the gradient: the test tells it from MuProp."""
    model, x = tiny_model_and_data()
    control_variate = vae._taylor_control_variate
    monkeypatch.setattr(
        vae, "_taylor_control_variate", lambda *args: (lambda h, term: (h, 0 * term))(*control_variate(*args))
    )
    z, _ = z_scores(model, x, sampled_surrogate(muprop_loss))
    assert z.abs().max() > 8


def test_plain_straight_through_has_its_enumerated_mean_and_not_the_exact_gradient():
    """Plain straight-through is biased: its mean is the enumerated expectation of its own
    gradient, which lies many standard errors from the exact gradient. Its only noise is the
    sampled code (9 outcomes), so its entries move together and the mean square of their z-scores
    spreads wider than for the score function's: 160 groups instead of 40."""
    model, x = tiny_model_and_data()
    z, _ = z_scores(model, x, plain_straight_through, straight_through=True, groups=160)
    assert z.abs().max() < 4.5, z.abs().max()
    assert 0.5 < z.pow(2).mean() < 1.6
    against_exact, _ = z_scores(model, x, plain_straight_through)
    assert against_exact.abs().max() > 8, against_exact.abs().max()


def test_loss_values_are_the_exact_sample_objective():
    model, x = tiny_model_and_data()
    for sampled in (score_function_loss, muprop_loss):
        loss, surrogate = sampled(model, x, 3, torch.Generator().manual_seed(0))
        assert loss.total.item() == pytest.approx(loss.reconstruction.item() + loss.kl.item())
        assert torch.isfinite(surrogate)
        with pytest.raises(ValueError, match="at least 2"):
            sampled(model, x, 1)


@pytest.mark.parametrize("estimator", ["score_function", "muprop", "plain_straight_through"])
def test_training_with_exact_samples_learns_and_reports_one_objective(estimator):
    torch.set_num_threads(1)
    config = TrainConfig(
        model=VAEConfig(latent_vars=4, classes=5, hidden=(32,)),
        epochs=2,
        batch_size=50,
        estimator=estimator,
        binarize="dynamic",
        train_subset=500,
    )
    trainer = Trainer(config, fake_split(500, 0), fake_split(100, 1))
    epochs = [e for e in trainer.events() if not hasattr(e, "images_per_second")]
    assert len(epochs) == 2
    assert all(e.relaxed == e.unrelaxed for e in epochs)  # exact samples forward: one objective
    assert epochs[1].relaxed < epochs[0].relaxed
    with pytest.raises(ValueError, match="sf_samples"):
        TrainConfig(estimator=estimator, sf_samples=1)


@pytest.mark.parametrize(
    "estimator, surrogate",
    [
        ("muprop", lambda model, x, noise: muprop_loss(model, x, 3, noise)[1]),
        ("plain_straight_through", lambda model, x, noise: plain_straight_through(model, x, noise, tau=0.7)),
    ],
)
def test_a_training_step_follows_the_estimators_gradient(estimator, surrogate):
    """The trainer's step leaves exactly the gradient of the estimator's surrogate, from the same
    noise, in the optimizer's buffer (plain straight-through at the step's τ, MuProp with its samples)."""
    torch.set_num_threads(1)
    config = TrainConfig(
        model=VAEConfig(latent_vars=4, classes=5, hidden=(32,)), batch_size=50, estimator=estimator, sf_samples=3
    )
    trainer = Trainer(config, fake_split(100, 0), fake_split(20, 1))
    before = copy.deepcopy(trainer.model)
    noise = torch.Generator().set_state(trainer.noise.get_state())
    x = trainer.x_train[:50]
    trainer.train_step(x, 0.7)
    torch.testing.assert_close(trainer.optimizer.grad, flat_grad(before, surrogate(before, x, noise)))
