"""Gradient estimators: exact gradient, unbiasedness, relaxation bias, Gumbel-Rao variance and
conditional sampling, summaries, figures, and Gumbel-Rao training."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from core.estimators import (
    Problem,
    compare_estimators,
    decoder_problem,
    enumerate_codes,
    estimator_gradients,
    exact_gradient,
    expected_value,
    quadratic_problem,
    reward_problem,
    summarize,
)
from core.evaluation import exact_sample_objective
from core.figures.estimators import estimator_figure, gradient_figure
from core.gumbel import gumbel_rao
from core.names import ESTIMATOR_LABELS
from core.training.config import TrainConfig
from core.training.loop import Trainer
from core.vae import CategoricalVAE, VAEConfig

SMALL_VAE = VAEConfig(latent_vars=4, classes=5, hidden=(32,))


@pytest.fixture(scope="module")
def small_vae() -> CategoricalVAE:
    torch.manual_seed(0)
    return CategoricalVAE(SMALL_VAE).eval()


@pytest.fixture(scope="module")
def digit(mnist) -> torch.Tensor:
    return mnist[1].pixels()[0]


def toy_problems() -> list[Problem]:
    return [quadratic_problem(5, 2, seed=1), reward_problem(4, 3, rewarded_class=2, seed=2)]


# --- exact gradient -----------------------------------------------------------------------


def test_enumeration_lists_every_code_once() -> None:
    codes = enumerate_codes(3, 4)
    assert codes.shape == (64, 3, 4)
    assert torch.equal(codes.sum(-1), torch.ones(64, 3, dtype=codes.dtype))
    assert len({tuple(c.argmax(-1).tolist()) for c in codes}) == 64


@pytest.mark.parametrize("problem", toy_problems(), ids=lambda p: p.name)
def test_exact_gradient_matches_autograd_through_the_enumeration(problem: Problem) -> None:
    logits = problem.logits.clone().requires_grad_(True)
    (autograd,) = torch.autograd.grad(expected_value(problem, logits), logits)
    assert autograd.dtype == torch.float64
    torch.testing.assert_close(exact_gradient(problem), autograd, rtol=1e-12, atol=1e-14)


def test_exact_gradient_of_the_decoder_matches_autograd(small_vae, digit) -> None:
    problem = decoder_problem(small_vae, digit, variable=2)
    logits = problem.logits.clone().requires_grad_(True)
    (autograd,) = torch.autograd.grad(expected_value(problem, logits), logits)
    torch.testing.assert_close(exact_gradient(problem), autograd, rtol=1e-10, atol=1e-12)
    assert exact_gradient(problem).abs().max() > 0


# --- the estimators -----------------------------------------------------------------------


@pytest.mark.parametrize("estimator", ["score_function", "score_function_loo", "muprop"])
def test_score_function_mean_matches_the_exact_gradient_within_its_standard_error(estimator: str) -> None:
    problem = quadratic_problem(5, 2, seed=3)
    draws = 20_000
    gradients = estimator_gradients(problem, estimator, draws, seed=4)
    standard_error = gradients.std(dim=0) / math.sqrt(draws)
    assert (standard_error > 0).all()
    z = (gradients.mean(dim=0) - exact_gradient(problem)) / standard_error
    # 10 coordinates: P(any |z| > 4) is about 6e-4 for an unbiased estimator.
    assert z.abs().max() < 4, z


def test_muprop_is_exact_in_every_draw_for_a_linear_f() -> None:
    """f linear in z: its Taylor expansion is f itself, the residual is 0 and the analytic term
    is the whole gradient, so every single draw is the exact gradient."""
    problem = reward_problem(5, 3, rewarded_class=1, seed=4)
    gradients = estimator_gradients(problem, "muprop", 200, seed=1)
    torch.testing.assert_close(gradients, exact_gradient(problem).expand_as(gradients), rtol=0, atol=1e-12)


def test_plain_straight_through_is_exact_for_a_linear_f_and_its_own_mean_otherwise(small_vae, digit) -> None:
    """Plain straight-through's gradient is J^T f'(z) at the sample z, with J the Jacobian of
    softmax(logits): exact for a linear f (f' is constant, J^T f' is the gradient), and for
    the decoder's f its mean is sum_z p(z) J^T f'(z) by enumeration, within its standard error;
    straight-through Gumbel-Softmax, whose Jacobian is taken at the noisy logits, is not."""
    linear = reward_problem(5, 3, rewarded_class=1, seed=4)
    gradients = estimator_gradients(linear, "plain_straight_through", 100, 1.0, seed=1)
    torch.testing.assert_close(gradients, exact_gradient(linear).expand_as(gradients), rtol=0, atol=1e-12)

    problem = decoder_problem(small_vae, digit, variable=2)
    _, slopes = problem.vertex_table
    p = torch.softmax(problem.logits, -1)
    per_code = p * (slopes - (p * slopes).sum(-1, keepdim=True))  # J^T f'(z) for every code z
    probabilities = (problem.codes * p.log()).sum((-2, -1)).exp()
    expected = torch.einsum("s,svk->vk", probabilities, per_code)
    assert (expected - exact_gradient(problem)).norm() > 0.05 * exact_gradient(problem).norm()  # biased

    def z_scores(estimator: str) -> torch.Tensor:
        draws = estimator_gradients(problem, estimator, 20_000, 1.0, seed=6)
        return (draws.mean(0) - expected) / (draws.std(0) / math.sqrt(draws.shape[0]))

    assert z_scores("plain_straight_through").abs().max() < 4.5
    assert z_scores("straight_through").abs().max() > 8


def test_relaxed_bias_shrinks_as_the_temperature_falls_for_a_linear_f() -> None:
    problem = reward_problem(4, 1, rewarded_class=0, seed=0)
    exact = exact_gradient(problem)
    stats = [
        summarize(estimator_gradients(problem, "gumbel_softmax", 20_000, tau, seed=1), exact)
        for tau in (2.0, 1.0, 0.5, 0.25)
    ]
    for warmer, colder in itertools.pairwise(stats):
        # the drop must exceed what the draws' noise alone could produce (3 floors each side)
        assert colder.bias + 3 * (warmer.bias_floor + colder.bias_floor) < warmer.bias
    assert stats[-1].bias < 0.1 * stats[0].bias


def _presets(small_vae, digit) -> list[Problem]:
    return [quadratic_problem(10, 1, seed=0), reward_problem(10, 1, seed=0), decoder_problem(small_vae, digit, 1)]


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0, 2.0])
def test_gumbel_rao_variance_is_no_larger_than_straight_through_on_the_presets(small_vae, digit, tau) -> None:
    # Same seed: both estimators see the same one-hot samples, so only Gumbel-Rao's
    # averaging over conditional draws differs (a Rao-Blackwellisation of straight-through).
    for problem in _presets(small_vae, digit):
        exact = exact_gradient(problem)
        straight = summarize(estimator_gradients(problem, "straight_through", 1000, tau, seed=5), exact)
        rao = summarize(estimator_gradients(problem, "gumbel_rao", 1000, tau, seed=5, rao_samples=10), exact)
        assert rao.variance <= straight.variance, (problem.name, rao.variance, straight.variance)


def test_gumbel_rao_estimates_the_straight_through_mean() -> None:
    problem = quadratic_problem(6, 1, seed=2)
    straight = estimator_gradients(problem, "straight_through", 500, 1.0, seed=9)
    rao = estimator_gradients(problem, "gumbel_rao", 500, 1.0, seed=9, rao_samples=200)
    # With many conditional draws each Gumbel-Rao estimate is E[straight-through | sample]:
    # averaged over the draws both estimate the same mean.
    standard_error = straight.std(dim=0) / math.sqrt(500)
    assert ((rao.mean(0) - straight.mean(0)).abs() < 4 * standard_error + 1e-12).all()


def test_estimators_are_seeded() -> None:
    problem = quadratic_problem(4, 2, seed=0)
    for estimator in ESTIMATOR_LABELS:
        first = estimator_gradients(problem, estimator, 50, 0.5, seed=7)
        assert torch.equal(first, estimator_gradients(problem, estimator, 50, 0.5, seed=7))
        assert not torch.equal(first, estimator_gradients(problem, estimator, 50, 0.5, seed=8))
        assert first.shape == (50, 2, 4)


# --- conditional Gumbels and the Gumbel-Rao sample -----------------------------------------


def test_summary_numbers_by_hand() -> None:
    exact = torch.tensor([1.0, 0.0])
    stats = summarize(torch.tensor([[2.0, 0.0], [0.0, 0.0]]), exact)
    assert stats.bias == 0
    assert stats.variance == pytest.approx(2.0)  # (1 + 1) / (2 - 1) in the first coordinate
    assert stats.bias_floor == pytest.approx(1.0)
    assert stats.mse == pytest.approx(1.0)
    assert stats.cosine == pytest.approx(0.5)  # the zero draw counts 0


def test_compare_estimators_lists_every_estimator_at_every_temperature() -> None:
    comparison = compare_estimators(quadratic_problem(4), [1.0, 0.1, 10.0], draws=200, seed=0)
    assert comparison.temperatures == (0.1, 1.0, 10.0)
    assert comparison.estimators == list(ESTIMATOR_LABELS)
    assert len(comparison.rows()) == 3 * len(ESTIMATOR_LABELS)
    flat = comparison.series("score_function", "variance")
    assert len(set(flat)) == 1
    assert len(set(comparison.series("gumbel_softmax", "variance"))) == 3


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: quadratic_problem(20, 5), "too many to enumerate"),
        (lambda: reward_problem(4, rewarded_class=4), "rewarded class"),
        (lambda: estimator_gradients(quadratic_problem(3), "gumbel_softmax", 10, tau=0.0), "temperature"),
        (lambda: estimator_gradients(quadratic_problem(3), "score_function_loo", 1), "draws"),
        (lambda: estimator_gradients(quadratic_problem(3), "vimco", 10), "unknown estimator"),
        (lambda: compare_estimators(quadratic_problem(3), [], draws=10), "temperature"),
        (lambda: gumbel_rao(torch.zeros(3), samples=0), "conditional draws"),
        (lambda: Problem("x", torch.tensor([[0.0, math.nan]]), lambda z: z.sum((-2, -1))), "finite"),
        (lambda: exact_gradient(Problem("x", torch.zeros(1, 3), lambda z: z.sum())), "values of shape"),
    ],
)
def test_bad_inputs_raise_actionable_errors(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_decoder_problem_rejects_a_missing_variable(small_vae, digit) -> None:
    with pytest.raises(ValueError, match="between 0 and 3"):
        decoder_problem(small_vae, digit, variable=4)


# --- figures ------------------------------------------------------------------------------


def test_figures_plot_every_estimator_on_log_axes() -> None:
    comparison = compare_estimators(reward_problem(3), [0.5, 1.0, 2.0], draws=100, seed=0)
    figure = estimator_figure(comparison)
    names = {trace.name for trace in figure.data if trace.showlegend}
    assert len(names) == len(ESTIMATOR_LABELS)
    assert figure.layout.xaxis.type == "log" and figure.layout.yaxis.type == "log"
    assert figure.layout.yaxis4.type != "log"  # cosine
    bars = gradient_figure(comparison, 1.0)
    assert len(bars.data) == 1 + len(ESTIMATOR_LABELS)
    assert list(bars.data[0].y) == pytest.approx(comparison.exact.reshape(-1).tolist())
    with pytest.raises(ValueError, match="not computed"):
        gradient_figure(comparison, 0.3)


# --- training with Gumbel-Rao ---------------------------------------------------------------


def test_a_gumbel_rao_training_step_decodes_one_hot_codes(mnist) -> None:
    config = TrainConfig(
        model=SMALL_VAE, estimator="gumbel_rao", rao_samples=4, batch_size=20, train_subset=40, test_subset=20
    )
    trainer = Trainer(config, *mnist)
    codes = []
    decode = trainer.model.decode_logits
    trainer.model.decode_logits = lambda code: codes.append(code.detach()) or decode(code)
    losses = trainer.train_step(trainer.x_train[:20], tau=1.0)
    assert len(codes) == 1 and codes[0].shape == (20, 4, 5)
    assert torch.equal(codes[0].sum(-1), torch.ones(20, 4)) and set(codes[0].unique().tolist()) == {0.0, 1.0}
    assert losses.relaxed == losses.unrelaxed  # the forward pass already is the exact sample
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in trainer.model.parameters())


def test_a_short_gumbel_rao_run_lowers_the_test_loss(mnist) -> None:
    config = TrainConfig(
        model=SMALL_VAE, estimator="gumbel_rao", epochs=1, batch_size=50, train_subset=2000, test_subset=500, seed=1
    )
    trainer = Trainer(config, *mnist)
    before = exact_sample_objective(trainer.model, trainer.x_test).total
    for _ in trainer.events():
        pass
    after = exact_sample_objective(trainer.model, trainer.x_test).total
    assert after < before - 50, (before, after)


def test_rao_samples_must_be_positive() -> None:
    with pytest.raises(ValueError, match="Gumbel-Rao"):
        TrainConfig(estimator="gumbel_rao", rao_samples=0)
