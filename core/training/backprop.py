"""The Gumbel-Softmax and straight-through steps of the categorical VAE, backward pass by hand.

Autograd's bookkeeping (a graph a step, a bias copy in every addmm, a fresh gradient tensor per
parameter) costs about a sixth of the seed network's step on a 2-core CPU. Here the forward
pass runs the same `core.gumbel` and `core.vae` functions as the model does, and the backward
pass is written out, each weight's gradient going straight into its `.grad` (with
`core.training.adam.FlatAdam`, the optimizer's buffer). The tests hold every gradient to
autograd's in float64, for both estimators and both logit heads.
"""

from __future__ import annotations

import torch
from torch import nn

from core.gumbel import gumbel_noise, one_hot_argmax, relax
from core.training.losses import StepLosses
from core.vae import CategoricalVAE, kl_terms, summed_reconstruction_nll


def _linears(mlp: nn.Sequential) -> list[nn.Linear]:
    return [layer for layer in mlp if isinstance(layer, nn.Linear)]


def _grad(p: torch.Tensor) -> torch.Tensor:
    if p.grad is None:
        p.grad = torch.empty_like(p)
    return p.grad


def mlp_forward(layers: list[nn.Linear], x: torch.Tensor, relu_last: bool) -> list[torch.Tensor]:
    """The input, then each layer's output after its ReLU (every layer but the last has one)."""
    outputs = [x]
    for i, layer in enumerate(layers):
        h = torch.addmm(layer.bias, outputs[-1], layer.weight.t())
        outputs.append(h.relu_() if relu_last or i < len(layers) - 1 else h)
    return outputs


def mlp_backward(
    layers: list[nn.Linear], outputs: list[torch.Tensor], grad: torch.Tensor, relu_last: bool, input_grad: bool
) -> torch.Tensor | None:
    """Write every layer's weight and bias gradient into its `.grad` (overwriting it), given the
    gradient at the last output; return the gradient at the input where `input_grad`."""
    for i in reversed(range(len(layers))):
        if relu_last or i < len(layers) - 1:
            # autograd's own ReLU backward (0 where the output is 0); a mask and masked_fill take 20x longer
            grad = torch.ops.aten.threshold_backward(grad, outputs[i + 1], 0)
        layer = layers[i]
        torch.mm(grad.t(), outputs[i], out=_grad(layer.weight))
        torch.sum(grad, 0, out=_grad(layer.bias))
        if i > 0 or input_grad:
            grad = grad.mm(layer.weight)
    return grad if input_grad else None


@torch.no_grad()
def relaxed_step(
    model: CategoricalVAE, x: torch.Tensor, tau: float, generator: torch.Generator | None, hard: bool = False
) -> StepLosses:
    """Leave the gradient of the relaxed objective's batch mean in every parameter's `.grad`.

    The draw is the one `model(x, "relaxed" or "straight_through", tau, generator)` makes; with
    `hard` the decoder sees the exact one-hot sample and the gradient is the soft one's
    (straight-through). The unrelaxed objective decodes that same draw's argmax.

    Each tensor operation costs ~5 us on top of its arithmetic here (a step's large products
    evict the interpreter's and torch's own data from the caches), so the latent maths below is
    written in as few operations as it takes: about 75 for the whole step.
    """
    config = model.config
    batch, classes = x.shape[0], config.classes
    x = x.reshape(batch, -1)
    encoder, decoder = _linears(model.encoder), _linears(model.decoder)
    encoded = mlp_forward(encoder, x, config.relu_logits)
    # The latent maths runs class-major, (classes, batch, variables): a reduction over 10 classes
    # is then 10 vector operations, not 3,000 short loops (5x faster for softmax and max on a CPU).
    natural = (batch, config.latent_vars, classes)
    logits = encoded[-1].view(natural).permute(2, 0, 1).contiguous()
    noise = gumbel_noise(natural, dtype=logits.dtype, device=logits.device, generator=generator)
    scores = torch.add(logits, noise.permute(2, 0, 1))  # the draw `perturbed_logits` makes
    soft = relax(scores, tau, dim=0)
    # The decoder's input: the relaxed code, then the exact sample (half the weight reads, larger
    # products); with `hard` the exact sample only.
    codes = x.new_empty((batch if hard else 2 * batch, config.latent_dim))
    code_views = codes.view(-1, *natural[1:]).permute(2, 0, 1)
    one_hot_argmax(scores, dim=0, out=code_views[:, -batch:])
    if not hard:
        code_views[:, :batch].copy_(soft)
    decoded = mlp_forward(decoder, codes, relu_last=False)
    nll = summed_reconstruction_nll(decoded[-1], x)  # soft, exact; summed over the batch
    q, t = kl_terms(logits, dim=0)  # KL(q || uniform) per variable = sum q t
    kl_per_variable = (q * t).sum(0)
    sums = torch.cat([nll, kl_per_variable.sum().view(1)]).tolist()
    rec, kl = sums[0] / batch, sums[-1] / batch
    unrelaxed = rec + kl if hard else sums[1] / batch + kl

    if not hard:
        decoded = [output[:batch] for output in decoded]
    # d(mean BCE)/d(pixel logits) = (sigmoid - x) / batch
    grad_pixels = torch.sigmoid(decoded[-1]).sub_(x).div_(batch)
    grad_code = mlp_backward(decoder, decoded, grad_pixels, relu_last=False, input_grad=True)
    assert grad_code is not None
    grad_code = grad_code.view(natural).permute(2, 0, 1)
    # Through softmax(scores / tau) (the noise is a constant added to the logits), plus the KL's
    # gradient / batch; written straight into the natural layout the encoder's backward reads.
    through_softmax = torch.sub(grad_code, (soft * grad_code).sum(0)).mul_(soft)
    grad_logits = torch.empty_like(encoded[-1])
    torch.add(
        t.sub_(kl_per_variable).mul_(q).div_(batch),  # the KL's gradient, q (t - sum q t)
        through_softmax,
        alpha=1 / tau,
        out=grad_logits.view(natural).permute(2, 0, 1),
    )
    mlp_backward(encoder, encoded, grad_logits, config.relu_logits, False)
    return StepLosses(rec + kl, unrelaxed, kl, rec)
