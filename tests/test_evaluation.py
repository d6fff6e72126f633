"""The held-out bounds against exact values computed by enumerating every code of a tiny model."""

import itertools
import math

import pytest
import torch

from core.evaluation import EVAL_BATCH, exact_sample_objective, held_out_bounds
from core.vae import PRESETS, CategoricalVAE, VAEConfig, kl_to_uniform, reconstruction_nll


def tiny_model_and_data():
    torch.manual_seed(0)
    config = VAEConfig(latent_vars=2, classes=3, hidden=(8,), input_dim=6, relu_logits=False)
    model = CategoricalVAE(config).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)  # a sharper posterior and decoder than the default init, so bounds differ
    x = torch.rand(5, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64).round()
    return model, x


def exact_values(model, x):
    """Per image: the exact negative ELBO and the exact -log p(x), by enumerating all 9 codes."""
    logits = model.encode(x)
    log_q = torch.log_softmax(logits, -1)
    codes = list(itertools.product(range(3), repeat=2))
    log_px_z, log_q_z = [], []
    for code in codes:
        one_hot = torch.nn.functional.one_hot(torch.tensor(code), 3).double().expand(x.shape[0], -1, -1)
        log_px_z.append(-reconstruction_nll(model.decode_logits(one_hot), x))
        log_q_z.append((log_q * one_hot).sum((-2, -1)))
    log_px_z, log_q_z = torch.stack(log_px_z), torch.stack(log_q_z)
    q = log_q_z.exp()
    neg_elbo = -(q * log_px_z).sum(0) + kl_to_uniform(logits)
    nll = -torch.logsumexp(log_px_z - 2 * math.log(3), 0)
    return neg_elbo.mean().item(), nll.mean().item()


def test_bounds_match_enumeration():
    model, x = tiny_model_and_data()
    exact_elbo, exact_nll = exact_values(model, x)
    assert exact_nll < exact_elbo - 0.5  # the test can tell the two apart
    bounds = held_out_bounds(model, x, elbo_samples=4000, is_samples=4000, seed=0)
    assert bounds.negative_elbo == pytest.approx(exact_elbo, abs=0.05)
    assert bounds.nll == pytest.approx(exact_nll, abs=0.04)  # heavy-tailed weights: q(z) reaches 0.005


def test_importance_sampling_tightens_with_samples():
    model, x = tiny_model_and_data()
    _, exact_nll = exact_values(model, x)
    one = held_out_bounds(model, x, elbo_samples=1, is_samples=1, seed=3)
    many = held_out_bounds(model, x, elbo_samples=1, is_samples=500, seed=3)
    assert abs(many.nll - exact_nll) < abs(one.nll - exact_nll)


def test_bad_sample_counts():
    model, x = tiny_model_and_data()
    with pytest.raises(ValueError, match="is_samples"):
        held_out_bounds(model, x, is_samples=0)


def test_is_1000_matches_the_exact_likelihood_within_its_standard_error():
    """The papers' estimator: 1,000 importance samples per image. Its mean over the images lies
    within 3 of its own Monte Carlo standard errors of -log p(x) by enumeration, and so does the
    10-sample negative ELBO of the exact negative ELBO."""
    model, x = tiny_model_and_data()
    exact_elbo, exact_nll = exact_values(model, x)
    bounds = held_out_bounds(model, x, elbo_samples=10, is_samples=1000, seed=0, batch_size=2)
    assert 0 < bounds.nll_se < 0.1 and 0 < bounds.negative_elbo_se < 1
    assert abs(bounds.nll - exact_nll) < 3 * bounds.nll_se, (bounds.nll, exact_nll, bounds.nll_se)
    assert abs(bounds.negative_elbo - exact_elbo) < 3 * bounds.negative_elbo_se


def test_standard_errors_shrink_like_one_over_root_samples():
    model, x = tiny_model_and_data()
    few = held_out_bounds(model, x, elbo_samples=100, is_samples=100, seed=1)
    many = held_out_bounds(model, x, elbo_samples=1600, is_samples=1600, seed=1)
    assert many.nll_se == pytest.approx(few.nll_se / 4, rel=0.5)
    assert many.negative_elbo_se == pytest.approx(few.negative_elbo_se / 4, rel=0.5)
    assert math.isnan(held_out_bounds(model, x, elbo_samples=1, is_samples=1).nll_se)


def test_exact_sample_objective_does_not_depend_on_the_batch_size(mnist):
    """The same draws in any batch size: only the order of the float sums changes."""
    torch.manual_seed(0)
    model = CategoricalVAE(PRESETS["faithful"])
    x = mnist[1].subset(2500).pixels()
    reference = exact_sample_objective(model, x, seed=3, batch_size=1000)
    for batch_size in (EVAL_BATCH, 700, 2500):
        got = exact_sample_objective(model, x, seed=3, batch_size=batch_size)
        for name in ("total", "reconstruction", "kl"):
            assert getattr(got, name) == pytest.approx(getattr(reference, name), rel=1e-6, abs=1e-6)
    assert exact_sample_objective(model, x, seed=4).reconstruction != pytest.approx(reference.reconstruction, rel=1e-6)
