"""Gumbel noise, Gumbel-max and Gumbel-Softmax: statistics, numerics, gradients, validation."""

import math

import pytest
import torch
import torch.nn.functional as F
from scipy import stats

import core.gumbel
from core.gumbel import (
    conditional_perturbed_logits,
    gumbel_argmax,
    gumbel_from_uniform,
    gumbel_noise,
    gumbel_rao,
    gumbel_softmax,
)

EULER_GAMMA = 0.5772156649015329
GUMBEL_VARIANCE = math.pi**2 / 6
INF = float("inf")


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- noise -------------------------------------------------------------------------------


def test_noise_mean_and_variance_are_gumbels():
    """Mean gamma and variance pi^2/6, within 5 standard errors of a million draws."""
    n = 1_000_000
    g = gumbel_noise((n,), dtype=torch.float64, generator=gen(0))
    var = math.pi**2 / 6
    se_mean = math.sqrt(var / n)
    se_var = var * math.sqrt((2.4 + 2) / n)  # excess kurtosis of a Gumbel is 12/5
    assert abs(g.mean().item() - EULER_GAMMA) < 5 * se_mean
    assert abs(g.var().item() - var) < 5 * se_var


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_noise_is_finite_in_its_dtype(dtype):
    g = gumbel_noise((200_000,), dtype=dtype, generator=gen(1))
    assert g.dtype == dtype
    assert torch.isfinite(g).all()


@pytest.mark.parametrize("top", [False, True], ids=["zero", "largest-below-one"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_extreme_uniform_draws_stay_finite(monkeypatch, top, dtype):
    """The ends of torch.rand's range must not give inf (-log(-log 0) is -inf without care)."""

    def constant_rand(shape, *, dtype=None, device=None, generator=None):
        zero = torch.zeros(shape, dtype=dtype, device=device)
        return torch.nextafter(torch.ones_like(zero), zero) if top else zero

    monkeypatch.setattr(core.gumbel.torch, "rand", constant_rand)
    assert torch.isfinite(gumbel_noise((8,), dtype=dtype)).all()
    logits = torch.tensor([[0.0, 1.0, -INF]], dtype=dtype)
    for tau in (1.0, 1e-3):
        y = gumbel_softmax(logits, tau)
        assert torch.isfinite(y).all() and y[0, 2] == 0


def test_noise_from_given_uniforms_is_what_the_generator_makes():
    """gumbel_from_uniform on torch.rand's own draws gives gumbel_noise's values exactly."""
    u = torch.rand((1000,), dtype=torch.float64, generator=gen(5))
    assert torch.equal(gumbel_from_uniform(u), gumbel_noise((1000,), dtype=torch.float64, generator=gen(5)))
    assert torch.equal(u, torch.rand((1000,), dtype=torch.float64, generator=gen(5)))  # the input is left alone
    exact = -torch.log(-torch.log(torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)))
    assert torch.equal(gumbel_from_uniform(torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)), exact)
    assert torch.isfinite(gumbel_from_uniform(torch.zeros(3))).all()


@pytest.mark.parametrize(
    "u", [torch.tensor([0.5, 1.0]), torch.tensor([-0.1]), torch.tensor([float("nan")]), torch.ones(2, dtype=torch.long)]
)
def test_uniforms_outside_the_unit_interval_are_refused(u):
    with pytest.raises(ValueError):
        gumbel_from_uniform(u)


def test_integer_dtype_noise_is_refused():
    with pytest.raises(ValueError, match="floating"):
        gumbel_noise((3,), dtype=torch.int64)


def test_generator_determinism():
    a = gumbel_noise((1000,), generator=gen(7))
    assert torch.equal(a, gumbel_noise((1000,), generator=gen(7)))
    assert not torch.equal(a, gumbel_noise((1000,), generator=gen(8)))
    logits = torch.randn(50, 10, generator=gen(0))
    assert torch.equal(gumbel_softmax(logits, 0.5, generator=gen(3)), gumbel_softmax(logits, 0.5, generator=gen(3)))
    assert not torch.equal(gumbel_softmax(logits, 0.5, generator=gen(3)), gumbel_softmax(logits, 0.5, generator=gen(4)))
    assert torch.equal(gumbel_argmax(logits, generator=gen(3)), gumbel_argmax(logits, generator=gen(3)))


# --- Gumbel-max --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [[0.0, 0.0, 0.0], [2.0, -1.0, 0.5, 3.0], [-3.0, 0.0, 1.0, 2.0, 4.0], [1.0, -INF, 0.0, -2.0]],
    ids=["uniform", "mixed", "spread", "impossible-class"],
)
def test_gumbel_argmax_frequencies_match_softmax(values):
    """Chi-square on 200k draws: Gumbel-max is an exact categorical sampler."""
    n = 200_000
    logits = torch.tensor(values, dtype=torch.float64)
    draws = gumbel_argmax(logits.expand(n, -1), generator=gen(11))
    assert torch.all(draws.sum(-1) == 1)
    counts = draws.sum(0)
    possible = torch.isfinite(logits)
    assert torch.all(counts[~possible] == 0)
    expected = torch.softmax(logits, -1)[possible] * n
    p = stats.chisquare(counts[possible].numpy(), expected.numpy()).pvalue
    assert p > 0.001


def test_gumbel_argmax_along_another_dim():
    """Each column has one possible class, so the one-hot along dim 0 is forced."""
    logits = torch.tensor([[0.0, -INF, -INF], [-INF, 0.0, 0.0]])
    y = gumbel_argmax(logits, dim=0, generator=gen(0))
    assert torch.equal(y, torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]))


# --- Gumbel-Softmax ----------------------------------------------------------------------


@pytest.mark.parametrize("tau", [0.1, 1.0, 10.0])
def test_soft_samples_lie_on_the_simplex(tau):
    y = gumbel_softmax(torch.randn(1000, 10, generator=gen(0)) * 3, tau, generator=gen(1))
    assert torch.all(y >= 0)
    assert torch.allclose(y.sum(-1), torch.ones(1000), atol=1e-5)


def test_samples_approach_one_hot_as_tau_shrinks():
    """Mean largest component rises with falling tau and is ~1 at tau = 1e-3."""
    logits = torch.randn(20_000, 10, generator=gen(0))
    peaks = [
        gumbel_softmax(logits, tau, generator=gen(1)).max(-1).values.mean().item()
        for tau in (5.0, 1.0, 0.1, 0.01, 1e-3)
    ]
    assert peaks == sorted(peaks) and len(set(peaks)) == len(peaks)
    assert peaks[-1] > 0.999


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_extreme_inputs_stay_finite(dtype, hard):
    """Tiny tau, logits of magnitude 1e4 and -inf classes: finite, dtype kept, -inf gets 0."""
    logits = torch.randn(500, 6, generator=gen(0)) * 1e4
    logits[:, 2] = -INF
    logits = logits.to(dtype)
    for tau in (1e-3, 1.0):
        y = gumbel_softmax(logits, tau, hard=hard, generator=gen(1))
        assert y.dtype == dtype
        assert torch.isfinite(y).all()
        assert torch.all(y[:, 2] == 0)
        assert torch.allclose(y.float().sum(-1), torch.ones(500), atol=1e-2)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_at_moderate_scale(dtype):
    logits = torch.randn(300, 10, generator=gen(2)).to(dtype)
    y = gumbel_softmax(logits, 0.5, generator=gen(3))
    assert y.dtype == dtype and torch.isfinite(y).all() and torch.all(y >= 0)


def test_hard_is_one_hot_argmax_of_the_same_soft_sample():
    logits = torch.randn(400, 30, 10, generator=gen(0))
    soft = gumbel_softmax(logits, 0.7, generator=gen(5))
    hard = gumbel_softmax(logits, 0.7, hard=True, generator=gen(5))
    assert set(hard.unique().tolist()) <= {0.0, 1.0}
    assert torch.all(hard.sum(-1) == 1)
    assert torch.equal(hard.argmax(-1), soft.argmax(-1))


def test_hard_gradient_equals_relaxed_gradient():
    """Straight-through: backward is the soft sample's gradient, for the same draw."""
    base = torch.randn(64, 10, generator=gen(0))
    weights = torch.randn(64, 10, generator=gen(1))
    grads = []
    for hard in (False, True):
        logits = base.clone().requires_grad_()
        y = gumbel_softmax(logits, 0.5, hard=hard, generator=gen(2))
        (y * weights).sum().backward()
        grads.append(logits.grad)
    assert grads[0].abs().sum() > 0
    assert torch.equal(grads[0], grads[1])


def test_matches_torch_gumbel_softmax_in_distribution():
    """Per-class mean of soft samples agrees with torch's within 5 standard errors."""
    n = 200_000
    logits = torch.tensor([1.0, 0.0, -1.0, 2.0]).expand(n, -1)
    ours = gumbel_softmax(logits, 0.5, generator=gen(0))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        theirs = F.gumbel_softmax(logits, tau=0.5)
    se = torch.sqrt(ours.var(0) / n + theirs.var(0) / n)
    assert torch.all((ours.mean(0) - theirs.mean(0)).abs() < 5 * se)


# --- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tau, words",
    [
        (0.0, "tau"),
        (-1.0, "tau"),
        (float("nan"), "tau"),
        (INF, "tau"),
        ("hot", "number"),
        ("0.5", "number"),
        (None, "number"),
    ],
)
def test_bad_tau_raises(tau, words):
    with pytest.raises(ValueError, match=words):
        gumbel_softmax(torch.zeros(3), tau)


BAD_LOGITS = [
    (torch.zeros(3, 4), {"dim": 2}, "dim=2 is out of range"),
    (torch.zeros(3, 4), {"dim": -3}, "dim=-3 is out of range"),
    (torch.zeros(0), {}, "empty"),
    (torch.zeros(4, 0), {}, "empty"),
    (torch.tensor([1, 2, 3]), {}, "floating"),
    (torch.tensor([0.0, float("nan")]), {}, "NaN"),
    (torch.tensor([0.0, INF]), {}, r"\+inf"),
    (torch.tensor([[0.0, 1.0], [-INF, -INF]]), {}, "-inf"),
    (torch.tensor(1.0), {}, "at least one dimension"),
    ([0.0, 1.0], {}, "torch.Tensor"),
]


@pytest.mark.parametrize("logits, kwargs, message", BAD_LOGITS)
@pytest.mark.parametrize("sampler", [gumbel_softmax, gumbel_argmax])
def test_bad_logits_raise(sampler, logits, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sampler(logits, **kwargs)


# --- Gumbel-Rao: conditional Gumbel draws given the sampled class ---------------------------


def test_conditional_draws_always_have_the_sampled_class_as_argmax() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5, 8.0], [0.0, 0.0, -30.0, 1.0]], dtype=torch.float64)
    for k in range(4):
        sample = torch.nn.functional.one_hot(torch.full((2,), k), 4).double()
        draws = conditional_perturbed_logits(logits, sample, 5000, torch.Generator().manual_seed(k))
        assert draws.shape == (5000, 2, 4)
        assert (draws.argmax(-1) == k).all()


def test_conditional_draws_mixed_over_classes_are_the_unconditional_gumbels() -> None:
    logits = torch.tensor([1.0, -0.5, 0.3, -2.0], dtype=torch.float64)
    n = 100_000
    generator = torch.Generator().manual_seed(11)
    samples = gumbel_argmax(logits.expand(n, -1), generator=generator)
    draws = conditional_perturbed_logits(logits.expand(n, -1), samples, 1, generator)[0]
    standard_error = math.sqrt(GUMBEL_VARIANCE / n)
    # Each coordinate of logits + Gumbel noise has mean logit + gamma and variance pi^2 / 6.
    assert ((draws.mean(0) - logits - EULER_GAMMA).abs() < 4 * standard_error).all()
    assert ((draws.var(0) - GUMBEL_VARIANCE).abs() < 0.05).all()  # about 4.5 standard errors
    # The maximum is Gumbel(logsumexp(logits)) whichever class won.
    top = draws.max(-1).values
    for k in range(4):
        chosen = top[samples[:, k] == 1]
        assert abs(chosen.mean() - torch.logsumexp(logits, 0) - EULER_GAMMA) < 4 * math.sqrt(
            GUMBEL_VARIANCE / len(chosen)
        )


def test_gumbel_rao_forwards_the_exact_sample_and_backwards_a_finite_gradient() -> None:
    logits = torch.tensor([[0.5, -math.inf, 1.5], [2.0, 0.0, -1.0]]).expand(64, -1, -1).clone()
    logits.requires_grad_(True)
    code = gumbel_rao(logits, tau=0.5, samples=10, generator=torch.Generator().manual_seed(3))
    expected = gumbel_argmax(logits.detach(), generator=torch.Generator().manual_seed(3))
    assert torch.equal(code, expected)
    (code * torch.arange(3.0)).sum().backward()
    assert torch.isfinite(logits.grad).all()
    assert (logits.grad[:, 0, 1] == 0).all()


# --- summaries and validation -------------------------------------------------------------


@pytest.mark.parametrize("shape", [(7, 10), (5, 30, 10), (2, 3, 4, 65), (4, 1)])
@pytest.mark.parametrize("dim", [-1, 0])
def test_softmax_helpers_match_torch_in_value_and_gradient(shape, dim):
    """The transposed route (taken for few classes on the last dim) is the same function."""
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    weights = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for ours, theirs in ((core.gumbel.softmax, torch.softmax), (core.gumbel.log_softmax, torch.log_softmax)):
        (grad_ours,) = torch.autograd.grad((ours(x, dim) * weights).sum(), x)
        (grad_theirs,) = torch.autograd.grad((theirs(x, dim) * weights).sum(), x)
        torch.testing.assert_close(ours(x, dim), theirs(x, dim), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(grad_ours, grad_theirs, rtol=1e-10, atol=1e-12)


def test_one_hot_argmax_takes_the_first_of_tied_maxima():
    scores = torch.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [-1.0, -5.0, -1.0, -2.0]])
    expected = torch.tensor([[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    assert torch.equal(core.gumbel.one_hot_argmax(scores), expected)
    assert torch.equal(core.gumbel.one_hot_argmax(scores.T, dim=0), expected.T)


def test_one_hot_argmax_writes_into_a_strided_out_and_overwrites_it():
    scores = torch.randn(5, 3, 4, generator=torch.Generator().manual_seed(0))
    buffer = torch.full((3, 4, 5), 7.0)  # natural layout; out is its class-major view
    got = core.gumbel.one_hot_argmax(scores, dim=0, out=buffer.permute(2, 0, 1))
    assert got.data_ptr() == buffer.data_ptr()
    assert torch.equal(buffer.permute(2, 0, 1), core.gumbel.one_hot_argmax(scores, dim=0))
    assert torch.equal(buffer.sum(-1), torch.ones(3, 4))
