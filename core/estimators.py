"""Gradient estimators for a categorical objective, measured against the exact gradient.

The objective is E_{z ~ Cat(softmax(logits))}[f(z)] over V independent variables of K
classes, with z one-hot of shape (V, K). The problems are small enough to enumerate, so the
exact gradient is known; every estimator returns the per-draw gradients of N draws, and
`summarize` turns them into bias, variance, mean squared error and cosine similarity.

The relaxed estimators differentiate a different (relaxed) objective, so their bias is
measured against the exact gradient of the discrete one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch
import torch.nn.functional as F

from core.guards import whole_number
from core.gumbel import check_tau, gumbel_rao, one_hot_argmax, perturbed_logits, relax, straight_through_sample
from core.names import ESTIMATOR_LABELS
from core.vae import CategoricalVAE, reconstruction_nll

MAX_OUTCOMES = 100_000

TEMPERATURE_FREE: tuple[str, ...] = ("score_function", "score_function_loo", "muprop")

Objective = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Problem:
    """A categorical objective small enough to enumerate.

    `f` maps codes of shape (n, V, K) to values of shape (n,), each row on its own (the
    per-draw gradients rely on it), and must be differentiable for the relaxed estimators.
    """

    name: str
    logits: torch.Tensor
    f: Objective

    def __post_init__(self) -> None:
        logits = self.logits
        if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
            raise ValueError("logits must be a floating torch.Tensor of shape (variables, classes).")
        if logits.dim() != 2 or logits.shape[0] < 1 or logits.shape[1] < 2:
            raise ValueError(f"logits must have shape (variables >= 1, classes >= 2), got {tuple(logits.shape)}.")
        if not torch.isfinite(logits).all():
            raise ValueError("logits must be finite; give impossible classes a very low logit instead.")
        if self.outcomes > MAX_OUTCOMES:
            raise ValueError(
                f"{self.classes} classes ^ {self.variables} variables = {self.outcomes:,} outcomes is "
                f"too many to enumerate for the exact gradient (limit {MAX_OUTCOMES:,}); "
                "use fewer variables or classes."
            )

    @property
    def variables(self) -> int:
        return self.logits.shape[0]

    @property
    def classes(self) -> int:
        return self.logits.shape[1]

    @property
    def outcomes(self) -> int:
        return self.classes**self.variables

    @cached_property
    def codes(self) -> torch.Tensor:
        """Every outcome as a one-hot code, (outcomes, V, K)."""
        return enumerate_codes(self.variables, self.classes, dtype=self.logits.dtype, device=self.logits.device)

    @cached_property
    def vertex_table(self) -> tuple[torch.Tensor, torch.Tensor]:
        """f and its gradient d f / d z at every outcome, (outcomes,) and (outcomes, V, K).

        Every estimator that evaluates f at a one-hot code reads it from here, so its cost
        does not grow with the number of draws times the cost of f.
        """
        codes = self.codes.clone().requires_grad_(True)
        with torch.enable_grad():
            values = self.f(codes)
            if not isinstance(values, torch.Tensor) or values.shape != (self.outcomes,):
                raise ValueError(
                    f"f must map codes of shape (n, V, K) to values of shape (n,); for n = {self.outcomes} "
                    f"it returned {getattr(values, 'shape', type(values).__name__)}."
                )
            if values.requires_grad:
                (slopes,) = torch.autograd.grad(values.sum(), codes, allow_unused=True)
            else:
                slopes = None
        slopes = torch.zeros_like(codes) if slopes is None else slopes  # f does not depend on z
        return values.detach().to(self.logits.dtype), slopes.detach().to(self.logits.dtype)

    def outcome_index(self, codes: torch.Tensor) -> torch.Tensor:
        """The row of `codes` (one-hot, (..., V, K)) in the enumeration: the last variable fastest."""
        places = self.classes ** torch.arange(self.variables - 1, -1, -1, device=codes.device)
        return (codes.argmax(dim=-1) * places).sum(dim=-1)


def _generator(problem: Problem, generator: torch.Generator | None) -> torch.Generator:
    return generator if generator is not None else torch.Generator(problem.logits.device)


# --- exact gradient by enumeration -------------------------------------------------------


def enumerate_codes(
    variables: int, classes: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> torch.Tensor:
    """Every one-hot code, shape (classes ** variables, variables, classes), the last variable fastest."""
    variables = whole_number(variables, "the number of variables", 1)
    classes = whole_number(classes, "the number of classes", 2)
    if classes**variables > MAX_OUTCOMES:
        raise ValueError(f"{classes**variables:,} outcomes is more than {MAX_OUTCOMES:,} to enumerate.")
    index = torch.cartesian_prod(*[torch.arange(classes, device=device)] * variables).reshape(-1, variables)
    return F.one_hot(index, classes).to(dtype)


def _outcome_probabilities(logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """p(z) = prod_v softmax(logits_v)[z_v] for each enumerated code."""
    return (codes * torch.log_softmax(logits, dim=-1)).sum(dim=(-2, -1)).exp()


def expected_value(problem: Problem, logits: torch.Tensor | None = None) -> torch.Tensor:
    """E f(z) as the sum over all outcomes; differentiable in `logits` (default: the problem's)."""
    logits = problem.logits if logits is None else logits
    codes = problem.codes.to(logits.dtype)
    return (_outcome_probabilities(logits, codes) * problem.f(codes).to(logits.dtype)).sum()


def exact_gradient(problem: Problem) -> torch.Tensor:
    """d E f / d logits in closed form: sum_z p(z) f(z) (z_v - p_v) for each variable v."""
    logits = problem.logits.detach()
    values, _ = problem.vertex_table
    weighted = _outcome_probabilities(logits, problem.codes) * values
    return torch.einsum("s,svk->vk", weighted, problem.codes) - weighted.sum() * torch.softmax(logits, dim=-1)


# --- Gumbel-Rao: relaxed gradients averaged over Gumbels conditioned on the sample --------


# --- per-draw gradients of N draws -------------------------------------------------------


def _per_draw_logits(problem: Problem, draws: int) -> torch.Tensor:
    """One copy of the logits per draw, so one backward pass gives every draw's gradient."""
    return problem.logits.detach().expand(draws, -1, -1).clone().requires_grad_(True)


def _relaxed_gradient(problem: Problem, codes: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Per-draw gradients of f at relaxed codes, through f itself."""
    (gradient,) = torch.autograd.grad(problem.f(codes).sum(), logits)
    return gradient


def _hard_gradient(problem: Problem, codes: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Per-draw gradients of f at codes whose forward value is one-hot: the chain rule with
    d f / d z read from the vertex table, times the codes' backward pass."""
    _, slopes = problem.vertex_table
    surrogate = (slopes[problem.outcome_index(codes.detach())] * codes).sum()
    (gradient,) = torch.autograd.grad(surrogate, logits)
    return gradient


def score_function_gradients(
    problem: Problem, draws: int, generator: torch.Generator | None = None, baseline: bool = False
) -> torch.Tensor:
    """REINFORCE: f(z) * d log p(z) / d logits = f(z) (z - p), shape (draws, V, K).

    With `baseline`, each draw subtracts the mean f of the other draws (leave-one-out,
    Kool et al. 2019): still unbiased, usually far less noisy.
    """
    draws = whole_number(draws, "the number of draws", 2 if baseline else 1)
    logits = problem.logits.detach()
    codes = one_hot_argmax(perturbed_logits(logits.expand(draws, -1, -1), _generator(problem, generator)))
    values = problem.vertex_table[0][problem.outcome_index(codes)]
    if baseline:
        values = values - (values.sum() - values) / (draws - 1)
    return values[:, None, None] * (codes - torch.softmax(logits, dim=-1))


def gumbel_softmax_gradients(
    problem: Problem,
    draws: int,
    tau: float,
    generator: torch.Generator | None = None,
    hard: bool = False,
) -> torch.Tensor:
    """Gradients of f at the relaxed sample (or, with `hard`, straight-through: f at the
    one-hot argmax, the relaxed sample's gradient), shape (draws, V, K)."""
    draws = whole_number(draws, "the number of draws", 1)
    tau = check_tau(tau)
    logits = _per_draw_logits(problem, draws)
    codes = relax(perturbed_logits(logits, _generator(problem, generator)), tau, hard=hard)
    return (_hard_gradient if hard else _relaxed_gradient)(problem, codes, logits)


def plain_straight_through_gradients(
    problem: Problem, draws: int, tau: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Plain straight-through (`core.gumbel.straight_through_sample`): f's slope at an exact
    sample, through the Jacobian of softmax(logits / tau) (no noise), shape (draws, V, K)."""
    draws = whole_number(draws, "the number of draws", 1)
    logits = _per_draw_logits(problem, draws)
    codes = straight_through_sample(logits, tau, _generator(problem, generator))
    return _hard_gradient(problem, codes, logits)


def muprop_gradients(problem: Problem, draws: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """MuProp (Gu et al. 2016), one sample each, shape (draws, V, K):
    (f(z) - h(z)) (z - p) + J_p^T f'(p), where h(z) = f(p) + f'(p) . (z - p) is f's first-order
    Taylor expansion around the mean-field point p = softmax(logits) and J_p^T f'(p) the exact
    gradient of E[h]. Unbiased; the closer f is to linear, the smaller its variance (0 for a
    linear f). Needs f differentiable at p, as the relaxed estimators do."""
    draws = whole_number(draws, "the number of draws", 1)
    logits = problem.logits.detach()
    p = torch.softmax(logits, dim=-1)
    point = p.clone().requires_grad_(True)
    with torch.enable_grad():
        at_point = problem.f(point[None])[0]
        (slope,) = torch.autograd.grad(at_point, point)
    codes = one_hot_argmax(perturbed_logits(logits.expand(draws, -1, -1), _generator(problem, generator)))
    values = problem.vertex_table[0][problem.outcome_index(codes)]
    residual = values - at_point.detach() - (slope * (codes - p)).sum(dim=(-2, -1))
    return residual[:, None, None] * (codes - p) + p * (slope - (p * slope).sum(dim=-1, keepdim=True))


def gumbel_rao_gradients(
    problem: Problem, draws: int, tau: float, samples: int = 10, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Gumbel-Rao gradients with `samples` conditional draws each, shape (draws, V, K)."""
    draws = whole_number(draws, "the number of draws", 1)
    logits = _per_draw_logits(problem, draws)
    codes = gumbel_rao(logits, tau, samples, _generator(problem, generator))
    return _hard_gradient(problem, codes, logits)


def estimator_gradients(
    problem: Problem,
    estimator: str,
    draws: int,
    tau: float = 1.0,
    seed: int = 0,
    rao_samples: int = 10,
) -> torch.Tensor:
    """Per-draw gradients of one named estimator (see ESTIMATOR_LABELS), seeded."""
    generator = torch.Generator(problem.logits.device).manual_seed(int(seed))
    if estimator == "score_function":
        return score_function_gradients(problem, draws, generator)
    if estimator == "score_function_loo":
        return score_function_gradients(problem, draws, generator, baseline=True)
    if estimator in ("gumbel_softmax", "straight_through"):
        return gumbel_softmax_gradients(problem, draws, tau, generator, hard=estimator == "straight_through")
    if estimator == "gumbel_rao":
        return gumbel_rao_gradients(problem, draws, tau, rao_samples, generator)
    if estimator == "plain_straight_through":
        return plain_straight_through_gradients(problem, draws, tau, generator)
    if estimator == "muprop":
        return muprop_gradients(problem, draws, generator)
    raise ValueError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATOR_LABELS)}.")


# --- how far from the exact gradient ------------------------------------------------------


@dataclass(frozen=True)
class EstimatorStats:
    """How one estimator's draws relate to the exact gradient; norms over all logits.

    `bias_floor` is sqrt(variance / draws): the bias an unbiased estimator shows from the
    draws' noise alone. `cosine` is the mean over draws (a zero draw counts 0; NaN when
    the exact gradient is zero).
    """

    estimator: str
    tau: float | None
    draws: int
    mean: torch.Tensor
    bias: float
    bias_floor: float
    variance: float
    mse: float
    cosine: float


def summarize(
    gradients: torch.Tensor, exact: torch.Tensor, estimator: str = "", tau: float | None = None
) -> EstimatorStats:
    """Bias, variance (trace of the covariance), mean squared error and cosine similarity of
    per-draw gradients (draws, V, K) against the exact gradient (V, K)."""
    if gradients.dim() < 2 or gradients.shape[1:] != exact.shape:
        raise ValueError(f"gradients must have shape (draws, *{tuple(exact.shape)}), got {tuple(gradients.shape)}.")
    draws = gradients.shape[0]
    if draws < 2:
        raise ValueError("the variance needs at least 2 draws.")
    flat = gradients.detach().reshape(draws, -1).double()
    target = exact.detach().reshape(-1).double().to(flat.device)
    mean = flat.mean(dim=0)
    variance = flat.var(dim=0).sum().item()
    if target.norm() > 0:
        cosine = F.cosine_similarity(flat, target.expand_as(flat), dim=1).mean().item()
    else:
        cosine = math.nan
    return EstimatorStats(
        estimator=estimator,
        tau=tau,
        draws=draws,
        mean=mean.reshape(exact.shape).cpu(),
        bias=(mean - target).norm().item(),
        bias_floor=math.sqrt(variance / draws),
        variance=variance,
        mse=(flat - target).square().sum(dim=1).mean().item(),
        cosine=cosine,
    )


@dataclass(frozen=True)
class Comparison:
    """Every estimator's statistics at every temperature for one problem.

    Temperature-free estimators are computed once and listed at each temperature.
    """

    problem: str
    exact: torch.Tensor
    value: float
    temperatures: tuple[float, ...]
    draws: int
    rao_samples: int
    stats: tuple[EstimatorStats, ...]

    @property
    def estimators(self) -> list[str]:
        return list(dict.fromkeys(s.estimator for s in self.stats))

    def series(self, estimator: str, metric: str) -> list[float]:
        """One metric of one estimator, in the order of `temperatures`."""
        if metric not in ("bias", "bias_floor", "variance", "mse", "cosine"):
            raise ValueError(f"unknown metric {metric!r}.")
        by_tau = {s.tau: getattr(s, metric) for s in self.stats if s.estimator == estimator}
        if not by_tau:
            raise ValueError(f"no statistics for estimator {estimator!r}.")
        return [by_tau[tau] if tau in by_tau else by_tau[None] for tau in self.temperatures]

    def lowest_mse(self) -> EstimatorStats:
        """The estimator and temperature whose single draw lands closest to the exact gradient."""
        return min(self.stats, key=lambda s: s.mse)

    def rows(self) -> list[dict]:
        """A table: one row per estimator and temperature."""
        return [
            {
                "estimator": ESTIMATOR_LABELS.get(s.estimator, s.estimator),
                "temperature": tau,
                "bias": s.bias,
                "bias floor": s.bias_floor,
                "variance": s.variance,
                "MSE": s.mse,
                "cosine": s.cosine,
            }
            for tau in self.temperatures
            for s in self.stats
            if s.tau in (tau, None)
        ]


def compare_estimators(
    problem: Problem,
    temperatures: list[float] | tuple[float, ...],
    draws: int = 1000,
    seed: int = 0,
    rao_samples: int = 10,
    estimators: list[str] | tuple[str, ...] = tuple(ESTIMATOR_LABELS),
) -> Comparison:
    """Per-draw gradients of each estimator at each temperature, summarized.

    Every call reuses `seed`, so the temperatures share their Gumbel draws (smooth curves)
    and straight-through and Gumbel-Rao share their one-hot samples.
    """
    temperatures = tuple(sorted({check_tau(t) for t in temperatures}))
    if not temperatures:
        raise ValueError("give at least one temperature.")
    draws = whole_number(draws, "the number of draws", 2)
    rao_samples = whole_number(rao_samples, "the number of Gumbel-Rao draws", 1)
    unknown = [e for e in estimators if e not in ESTIMATOR_LABELS]
    if unknown or not estimators:
        raise ValueError(f"unknown estimators {unknown}; choose from {', '.join(ESTIMATOR_LABELS)}.")
    exact = exact_gradient(problem)
    stats: list[EstimatorStats] = []
    for estimator in estimators:
        for tau in (None,) if estimator in TEMPERATURE_FREE else temperatures:
            gradients = estimator_gradients(problem, estimator, draws, tau or 1.0, seed, rao_samples)
            stats.append(summarize(gradients, exact, estimator, tau))
    with torch.no_grad():
        value = expected_value(problem).item()
    return Comparison(problem.name, exact.cpu(), value, temperatures, draws, rao_samples, tuple(stats))


# --- preset problems ----------------------------------------------------------------------


def _preset_logits(variables: int, classes: int, seed: int) -> torch.Tensor:
    variables = whole_number(variables, "the number of variables", 1)
    classes = whole_number(classes, "the number of classes", 2)
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(variables, classes, dtype=torch.float64, generator=generator)


def quadratic_target(classes: int) -> torch.Tensor:
    """The target t of the quadratic preset: evenly spaced in [0, 1], so the last class is best."""
    return torch.linspace(0.0, 1.0, whole_number(classes, "the number of classes", 2), dtype=torch.float64)


def quadratic_problem(classes: int = 10, variables: int = 1, seed: int = 0) -> Problem:
    """f(z) = sum_v ||z_v - t||^2 with standard-normal logits drawn from `seed`.

    On one-hot codes f is linear (||z||^2 = 1); on relaxed codes it is not, which is
    where the relaxed estimators' bias comes from.
    """
    logits = _preset_logits(variables, classes, seed)
    target = quadratic_target(classes)

    def f(codes: torch.Tensor) -> torch.Tensor:
        return (codes - target.to(codes)).square().sum(dim=(-2, -1))

    return Problem("quadratic", logits, f)


def reward_problem(classes: int = 10, variables: int = 1, rewarded_class: int = 0, seed: int = 0) -> Problem:
    """f(z) = number of variables that pick `rewarded_class`: a linear f."""
    logits = _preset_logits(variables, classes, seed)
    if not 0 <= rewarded_class < classes:
        raise ValueError(f"the rewarded class must be between 0 and {classes - 1}, got {rewarded_class}.")

    def f(codes: torch.Tensor) -> torch.Tensor:
        return codes[..., rewarded_class].sum(dim=-1)

    return Problem("reward", logits, f)


def decoder_problem(model: CategoricalVAE, image: torch.Tensor, variable: int) -> Problem:
    """f(z) = the decoder's binary cross-entropy on `image` when latent `variable` takes z and
    every other variable keeps the class the encoder finds most likely for that image.

    The logits are the encoder's for that variable, so the problem is one step of the VAE's
    training signal with one variable edited at a time.
    """
    config = model.config
    if not 0 <= variable < config.latent_vars:
        raise ValueError(f"the latent variable must be between 0 and {config.latent_vars - 1}, got {variable}.")
    if not isinstance(image, torch.Tensor) or image.numel() != config.input_dim:
        raise ValueError(f"the image must be a tensor of {config.input_dim} pixels.")
    parameter = next(model.parameters())
    x = image.reshape(1, -1).to(parameter.device, parameter.dtype)
    if x.min() < 0 or x.max() > 1:
        raise ValueError("pixel intensities must lie in [0, 1] (divide uint8 images by 255).")
    with torch.no_grad():
        logits = model.encode(x)[0]
    code = one_hot_argmax(logits)
    before, after = code[:variable], code[variable + 1 :]

    def f(codes: torch.Tensor) -> torch.Tensor:
        n = codes.shape[0]
        full = torch.cat([before.expand(n, -1, -1), codes.to(code.dtype), after.expand(n, -1, -1)], dim=1)
        return reconstruction_nll(model.decode_logits(full), x.expand(n, -1)).to(codes.dtype)

    return Problem(f"decoder loss, variable {variable}", logits[variable : variable + 1].double(), f)
