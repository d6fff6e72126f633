"""The categorical VAE of the reference script: 30 categorical latents of 10 classes, uniform prior.

The decoder returns pixel logits; the reconstruction term is binary cross-entropy with
logits, which equals the reference script's sigmoid + BCE but never takes log(0).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from core.guards import shown, whole_number
from core.gumbel import log_softmax, one_hot_argmax, perturbed_logits, relax, softmax

Generator = torch.Generator | None
Mode = Literal["relaxed", "straight_through", "sample", "mode"]
MODES: tuple[str, ...] = ("relaxed", "straight_through", "sample", "mode")


# What the app supports. A model file names its sizes, and a size is memory: each bound is
# many times what the presets use (784-512-256-(30x10), 1.3 M parameters, 5 MB), so any model
# someone would train here fits, while no file can ask the server for more than
# MAX_PARAMETERS (64 MiB of float32 weights) before its weights are checked. Each size is
# bounded alone, so a refusal names it; the sizes together are held to MAX_PARAMETERS.
MAX_LATENT_VARS = 256  # categorical variables; the presets use 20 or 30
MAX_CLASSES = 256  # classes per variable; the presets use 10
MAX_HIDDEN_LAYERS = 8  # hidden layers per network; the presets use 2
MAX_LAYER_WIDTH = 8192  # units in a hidden layer; the presets' widest has 512
MAX_INPUT_DIM = 4096  # pixels, a 64 x 64 image; MNIST's are 28 x 28 = 784
MAX_PARAMETERS = 16 * 2**20  # weights and biases of both networks, 12x the presets'


@dataclass(frozen=True)
class VAEConfig:
    """Architecture of a categorical VAE; `relu_logits` is the reference script's ReLU on the logits.

    Every size must be a whole number (not a bool, float or string) within the bounds above, so
    a config read from a file cannot ask for a model the app does not support."""

    latent_vars: int = 30
    classes: int = 10
    hidden: tuple[int, ...] = (512, 256)
    input_dim: int = 784
    relu_logits: bool = True

    def __post_init__(self) -> None:
        hidden = self.hidden
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise ValueError(f"hidden must list the hidden layers' sizes, got {shown(hidden)}.")
        if not 1 <= len(hidden) <= MAX_HIDDEN_LAYERS:
            raise ValueError(
                f"hidden must list 1 to {MAX_HIDDEN_LAYERS} layer sizes (the most layers the app supports), "
                f"got {len(hidden):,}."
            )
        sizes = tuple(whole_number(h, f"hidden[{i}]", 1, MAX_LAYER_WIDTH) for i, h in enumerate(hidden))
        object.__setattr__(self, "hidden", sizes)
        for name, least, most in (
            ("latent_vars", 1, MAX_LATENT_VARS),
            ("classes", 2, MAX_CLASSES),
            ("input_dim", 1, MAX_INPUT_DIM),
        ):
            object.__setattr__(self, name, whole_number(getattr(self, name), name, least, most))
        if not isinstance(self.relu_logits, bool):
            raise ValueError(f"relu_logits must be true or false, got {shown(self.relu_logits)}.")
        if self.parameter_count > MAX_PARAMETERS:
            raise ValueError(
                f"input_dim, hidden and latent_vars x classes make a model of {self.parameter_count:,} parameters "
                f"({4 * self.parameter_count / 2**20:,.0f} MiB); the app supports at most "
                f"{MAX_PARAMETERS:,} ({4 * MAX_PARAMETERS / 2**20:,.0f} MiB)."
            )

    @property
    def latent_dim(self) -> int:
        return self.latent_vars * self.classes

    @property
    def encoder_sizes(self) -> list[int]:
        """Units per layer of the encoder, input first."""
        return [self.input_dim, *self.hidden, self.latent_dim]

    @property
    def decoder_sizes(self) -> list[int]:
        """Units per layer of the decoder, code first."""
        return [self.latent_dim, *reversed(self.hidden), self.input_dim]

    @property
    def parameter_count(self) -> int:
        """Weights and biases of both networks, counted without building them."""
        layers = [*itertools.pairwise(self.encoder_sizes), *itertools.pairwise(self.decoder_sizes)]
        return sum((n_in + 1) * n_out for n_in, n_out in layers)

    def to_dict(self) -> dict:
        return asdict(self) | {"hidden": list(self.hidden)}

    @classmethod
    def from_dict(cls, data: object) -> VAEConfig:
        """A config from plain values (a model file's), every setting present and none unknown."""
        if not isinstance(data, dict):
            raise ValueError(f"the model settings must be a mapping of names to values, got {shown(data)}.")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(map(shown, set(data) - known))
        if unknown:
            raise ValueError(f"unknown model settings: {', '.join(unknown[:5])}.")
        missing = sorted(known - set(data))
        if missing:
            raise ValueError(f"missing model settings: {', '.join(missing)}.")
        return cls(**data)


PRESETS: dict[str, VAEConfig] = {
    "faithful": VAEConfig(relu_logits=True),
    "linear": VAEConfig(relu_logits=False),
    # Jang et al. 2017, Section 4.3: 20 categorical variables of 10 classes, 784-512-256 encoder.
    "jang": VAEConfig(latent_vars=20, relu_logits=False),
}


def _mlp(sizes: list[int], device: str | None = None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out, device=device))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _at_least_float32(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.promote_types(t.dtype, torch.float32))


@dataclass
class VAELoss:
    """Per-batch means of the negative ELBO and its two parts."""

    total: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


@dataclass
class Forward:
    """What one pass produces: logits of q, the code fed to the decoder, pixel logits."""

    logits: torch.Tensor
    code: torch.Tensor
    pixel_logits: torch.Tensor
    scores: torch.Tensor | None = field(default=None, repr=False)


def _initialise(layer: nn.Linear, generator: torch.Generator) -> None:
    """PyTorch's default initialisation of a linear layer (`nn.Linear.reset_parameters`: the
    same distributions, in the same order), drawn from `generator`."""
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
    bound = 1 / math.sqrt(layer.in_features)
    nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


class CategoricalVAE(nn.Module):
    def __init__(self, config: VAEConfig = VAEConfig(), generator: Generator = None) -> None:
        """Initial weights from `generator` (on its device), leaving the global random state
        alone; without one, from the global state as `nn.Linear` draws them."""
        super().__init__()
        self.config = config
        # With a generator, the layers start on the meta device (no memory, no draws) and get
        # their storage and values below.
        device = "meta" if generator is not None else None
        self.encoder = _mlp(config.encoder_sizes, device)
        self.decoder = _mlp(config.decoder_sizes, device)
        if generator is not None:
            self.to_empty(device=generator.device)
            for layer in self.modules():
                if isinstance(layer, nn.Linear):
                    _initialise(layer, generator)

    @classmethod
    def skeleton(cls, config: VAEConfig) -> CategoricalVAE:
        """The model on the meta device: every weight's name, shape and dtype, but no memory and no
        random draws. `to_empty(device=...)` then gives it (uninitialised) memory to load into."""
        with torch.device("meta"):
            return cls(config)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of q(z | x), shape (batch, latent_vars, classes).

        Under bfloat16 autocast the layers multiply in bfloat16; what leaves the network (here
        and in `decode_logits`) is float32, so samplers and losses keep their precision."""
        h = _at_least_float32(self.encoder(x.reshape(x.shape[0], -1)))
        if self.config.relu_logits:
            h = F.relu(h)
        return h.view(-1, self.config.latent_vars, self.config.classes)

    def decode_logits(self, code: torch.Tensor) -> torch.Tensor:
        """Pixel logits for codes of shape (batch, latent_vars, classes)."""
        return _at_least_float32(self.decoder(code.reshape(code.shape[0], -1)))

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Pixel intensities in [0, 1], shape (batch, input_dim)."""
        return torch.sigmoid(self.decode_logits(code))

    def sample_code(
        self, logits: torch.Tensor, mode: Mode = "relaxed", tau: float = 1.0, generator: Generator = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The code for a mode, and the perturbed logits it came from (None for "mode")."""
        if mode == "mode":
            return one_hot_argmax(logits), None
        scores = perturbed_logits(logits, generator)
        if mode == "sample":
            return one_hot_argmax(scores), scores
        if mode in ("relaxed", "straight_through"):
            return relax(scores, tau, hard=mode == "straight_through"), scores
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}.")

    def forward(
        self, x: torch.Tensor, mode: Mode = "relaxed", tau: float = 1.0, generator: Generator = None
    ) -> Forward:
        logits = self.encode(x)
        code, scores = self.sample_code(logits, mode, tau, generator)
        return Forward(logits, code, self.decode_logits(code), scores)

    def random_codes(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n one-hot codes drawn from the uniform prior."""
        device = next(self.parameters()).device
        shape = (n, self.config.latent_vars, self.config.classes)
        return one_hot_argmax(perturbed_logits(torch.zeros(shape, device=device), generator))


def kl_terms(logits: torch.Tensor, dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """q and log(C q), classes along `dim`, whose product summed over classes is each variable's
    KL(q || uniform) (a hand-written backward pass needs both)."""
    log_q = log_softmax(logits, dim=dim)
    return log_q.exp(), log_q + math.log(logits.shape[dim])


def kl_to_uniform(logits: torch.Tensor) -> torch.Tensor:
    """KL(q || uniform) per example, summed over the latent variables: sum q log(C q)."""
    q, t = kl_terms(logits)
    return (q * t).sum(dim=(-2, -1))


def reconstruction_nll(pixel_logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy summed over pixels, per example."""
    target = x.reshape(x.shape[0], -1)
    return F.binary_cross_entropy_with_logits(pixel_logits, target, reduction="none").sum(-1)


def summed_reconstruction_nll(pixel_logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """`reconstruction_nll` summed over the batch, for each of k batches of pixel logits
    stacked on x's batch (shape (k n, pixels), x (n, pixels)): a k-vector.

    BCE with logits is softplus(z) - x z; summed, the x z part is one matrix-vector product, and
    the whole takes three passes over the logits instead of the per-pixel loss's several."""
    x = x.reshape(-1)
    stacked = pixel_logits.reshape(-1, x.numel())
    return F.softplus(stacked).sum(1).sub_(torch.mv(stacked, x))


def vae_loss(pixel_logits: torch.Tensor, x: torch.Tensor, logits: torch.Tensor) -> VAELoss:
    """The seed's loss: BCE summed over pixels + KL to the uniform prior, mean over the batch."""
    rec = reconstruction_nll(pixel_logits, x).mean()
    kl = kl_to_uniform(logits).mean()
    return VAELoss(rec + kl, rec, kl)


def _exact_samples(
    model: CategoricalVAE, x: torch.Tensor, samples: int, generator: Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The logits of q(z | x), `samples` exact one-hot samples of z per image (no gradient),
    log q of each sample (shape (samples, batch), with gradient to the encoder) and each
    sample's reconstruction loss (samples, batch), whose gradient reaches the decoder only."""
    if samples < 2:
        raise ValueError(f"a leave-one-out baseline needs at least 2 samples per image, got {samples}.")
    logits = model.encode(x)
    with torch.no_grad():
        code = one_hot_argmax(perturbed_logits(logits.detach().expand(samples, *logits.shape), generator))
    pixel_logits = model.decode_logits(code.reshape(samples * x.shape[0], *logits.shape[1:]))
    rec = reconstruction_nll(pixel_logits, x.reshape(x.shape[0], -1).repeat(samples, 1)).view(samples, -1)
    log_q_code = (log_softmax(logits, dim=-1) * code).sum(dim=(-2, -1))
    return logits, code, log_q_code, rec


def _centred(f: torch.Tensor, leave_one_out: bool) -> torch.Tensor:
    """f (samples, batch) minus each sample's baseline: the mean of the image's other samples
    (unbiased), or with `leave_one_out=False` of all its samples, its own included (biased)."""
    samples = f.shape[0]
    baseline = (f.sum(0, keepdim=True) - f) / (samples - 1) if leave_one_out else f.mean(0, keepdim=True)
    return f - baseline


def _surrogate(logits: torch.Tensor, rec: torch.Tensor, encoder_term: torch.Tensor) -> tuple[VAELoss, torch.Tensor]:
    """The exact-sample objective, and the surrogate adding the encoder's score term to it."""
    kl = kl_to_uniform(logits).mean()
    rec_mean = rec.mean()
    return VAELoss(rec_mean + kl, rec_mean, kl), rec_mean + kl + encoder_term


def score_function_loss(
    model: CategoricalVAE,
    x: torch.Tensor,
    samples: int = 4,
    generator: Generator = None,
    *,
    leave_one_out: bool = True,
) -> tuple[VAELoss, torch.Tensor]:
    """The objective with `samples` exact samples per image, and the surrogate whose gradient
    is the score-function (REINFORCE) estimator with a leave-one-out baseline.

    The reconstruction term's gradient reaches the encoder through log q(z | x) only:
    (f(z_k) - b_k) * grad log q(z_k | x), where f is the reconstruction loss and b_k the mean
    of f over the other samples of the same image (independent of z_k, so the estimate stays
    unbiased). The decoder gets the pathwise gradient of f at the sampled codes and the KL
    term its exact gradient. `leave_one_out=False` uses the mean over all samples, z_k's own
    loss included: a biased baseline (the gradient shrinks by (K - 1) / K), kept for the test
    that tells the two apart.
    """
    logits, _, log_q_code, rec = _exact_samples(model, x, samples, generator)
    return _surrogate(logits, rec, (_centred(rec.detach(), leave_one_out) * log_q_code).mean())


def _taylor_control_variate(
    model: CategoricalVAE, x: torch.Tensor, logits: torch.Tensor, code: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """MuProp's control variate: h(z) = f(mu) + f'(mu) . (z - mu), the first-order Taylor expansion
    of the reconstruction loss f around the mean-field point mu = softmax(logits) (held fixed),
    at every sample (samples, batch), no gradient; and the term whose gradient is that of
    E_q[h] = f(mu) + f'(mu) . (E_q[z] - mu), that is f'(mu) . grad E_q[z], batch-averaged."""
    q = softmax(logits, dim=-1)
    point = q.detach().requires_grad_(True)
    with torch.enable_grad():
        at_point = reconstruction_nll(model.decode_logits(point), x)
        (slope,) = torch.autograd.grad(at_point.sum(), point)  # the decoder's weights get no gradient
    taylor = at_point.detach() + (slope * (code - point.detach())).sum(dim=(-2, -1))
    return taylor, (slope * q).sum(dim=(-2, -1)).mean()


def muprop_loss(
    model: CategoricalVAE,
    x: torch.Tensor,
    samples: int = 4,
    generator: Generator = None,
    *,
    leave_one_out: bool = True,
) -> tuple[VAELoss, torch.Tensor]:
    """The objective with `samples` exact samples per image, and the surrogate whose gradient is
    MuProp (Gu et al. 2016) with a leave-one-out baseline.

    The encoder gets (r_k - b_k) grad log q(z_k | x) + f'(mu) . grad mu: the score function of
    the residual r_k = f(z_k) - h(z_k) left by the Taylor control variate h (`_taylor_control_variate`;
    one stochastic layer, so its mean-field point is mu = E_q[z] = softmax(logits)), plus the
    analytic gradient of E_q[h]; b_k is the mean residual of the image's other samples. Each part
    is unbiased, so the sum is: the baseline costs nothing beyond the K samples the score function
    draws anyway and needs no learned parameters (Gu et al. pair MuProp with a baseline too). The
    decoder gets the pathwise gradient of f at the samples and the KL term its exact gradient, as
    in `score_function_loss`; `leave_one_out=False` is that function's biased baseline.
    """
    logits, code, log_q_code, rec = _exact_samples(model, x, samples, generator)
    taylor, analytic = _taylor_control_variate(model, x, logits, code)
    residual = _centred(rec.detach() - taylor, leave_one_out)
    return _surrogate(logits, rec, (residual * log_q_code).mean() + analytic)
