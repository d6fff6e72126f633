"""The Gumbel-Softmax and straight-through steps of the categorical VAE, backward pass by hand.

Autograd's bookkeeping (a graph a step, a bias copy in every addmm, a fresh gradient tensor per
parameter) costs about a sixth of the reference network's step on a 2-core CPU. Here the forward
pass runs the same `core.gumbel` and `core.vae` functions as the model does, and the backward
pass is written out, each weight's gradient going straight into its `.grad` (with
`core.training.adam.FlatAdam`, the optimizer's buffer). The tests hold every gradient to
autograd's in float64, for both estimators and both logit heads.

In bfloat16 (`Bf16Weights`) only the matrix products change: their operands are bfloat16 (the
weights' copies, refreshed once a step; the hidden activations and their gradients), oneDNN
accumulates in float32, and what leaves a network (the logits, the pixel logits), the sampler,
the softmax, the KL, the losses, the weight gradients and Adam stay float32.
"""

from __future__ import annotations

import torch
from torch import nn

from core.gumbel import gumbel_noise, one_hot_argmax, relax
from core.training.adam import FlatAdam
from core.training.losses import StepLosses
from core.vae import CategoricalVAE, kl_terms, summed_reconstruction_nll


def _linears(mlp: nn.Sequential) -> list[nn.Linear]:
    return [layer for layer in mlp if isinstance(layer, nn.Linear)]


def _grad(p: torch.Tensor) -> torch.Tensor:
    if p.grad is None:
        p.grad = torch.empty_like(p)
    return p.grad


# A layer's weight and bias as its products read them (bfloat16 copies), in the network's order.
Copies = list[tuple[torch.Tensor, torch.Tensor]]


class Bf16Weights:
    """bfloat16 copies of a model's weights for the bfloat16 step's products, in one buffer
    beside the `FlatAdam` buffer that holds the float32 weights.

    `refresh()` after each update casts the whole buffer once; casting each weight at its
    products instead would cast most of them twice a step (forward, and the input's gradient)."""

    def __init__(self, model: CategoricalVAE, optimizer: FlatAdam) -> None:
        self.source = optimizer.flat
        self.flat = optimizer.flat.to(torch.bfloat16)
        self.encoder = [(self._copy(layer.weight), self._copy(layer.bias)) for layer in _linears(model.encoder)]
        self.decoder = [(self._copy(layer.weight), self._copy(layer.bias)) for layer in _linears(model.decoder)]

    def refresh(self) -> None:
        """Copy the float32 weights as they are now (after an update) into the bfloat16 ones."""
        self.flat.copy_(self.source)

    def _copy(self, p: torch.Tensor) -> torch.Tensor:
        if p.untyped_storage().data_ptr() != self.source.untyped_storage().data_ptr():
            raise ValueError("the model's parameters are not in this optimizer's buffer: make FlatAdam on this model.")
        return self.flat.as_strided(p.shape, p.stride(), p.storage_offset() - self.source.storage_offset())


def mlp_forward(
    layers: list[nn.Linear], x: torch.Tensor, relu_last: bool, copies: Copies | None = None
) -> list[torch.Tensor]:
    """The input, then each layer's output after its ReLU (every layer but the last has one).

    With `copies` (each layer's bfloat16 weight and bias) the products run in bfloat16: the input
    and the hidden outputs are bfloat16 (the next products' operands), the last output float32,
    its bias added in float32."""
    outputs = [x if copies is None else x.to(torch.bfloat16)]
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        if copies is None:
            h = torch.addmm(layer.bias, outputs[-1], layer.weight.t())
        elif i < last:
            h = torch.addmm(copies[i][1], outputs[-1], copies[i][0].t())
        else:
            h = torch.add(layer.bias, torch.mm(outputs[-1], copies[i][0].t()))
        outputs.append(h.relu_() if relu_last or i < last else h)
    return outputs


def mlp_backward(
    layers: list[nn.Linear],
    outputs: list[torch.Tensor],
    grad: torch.Tensor,
    relu_last: bool,
    input_grad: bool,
    copies: Copies | None = None,
) -> torch.Tensor | None:
    """Write every layer's weight and bias gradient into its `.grad` (overwriting it), given the
    gradient at the last output; return the gradient at the input where `input_grad`. With
    `copies` the products run in bfloat16 (the gradients they pass on are bfloat16), and the
    weight and bias gradients land in float32."""
    for i in reversed(range(len(layers))):
        if relu_last or i < len(layers) - 1:
            # autograd's own ReLU backward (0 where the output is 0); a mask and masked_fill take 20x longer
            grad = torch.ops.aten.threshold_backward(grad, outputs[i + 1], 0)
        layer = layers[i]
        bias_grad = _grad(layer.bias)
        torch.sum(grad, 0, dtype=bias_grad.dtype, out=bias_grad)
        if copies is None:
            weight = layer.weight
            torch.mm(grad.t(), outputs[i], out=_grad(layer.weight))
        else:
            weight, grad = copies[i][0], grad.to(torch.bfloat16)
            _grad(layer.weight).copy_(torch.mm(grad.t(), outputs[i]))
        if i > 0 or input_grad:
            grad = grad.mm(weight)
    return grad if input_grad else None


@torch.no_grad()
def relaxed_step(
    model: CategoricalVAE,
    x: torch.Tensor,
    tau: float,
    generator: torch.Generator | None,
    hard: bool = False,
    bf16: Bf16Weights | None = None,
) -> StepLosses:
    """Leave the gradient of the relaxed objective's batch mean in every parameter's `.grad`.

    The draw is the one `model(x, "relaxed" or "straight_through", tau, generator)` makes; with
    `hard` the decoder sees the exact one-hot sample and the gradient is the soft one's
    (straight-through). The unrelaxed objective decodes that same draw's argmax. With `bf16`
    (the model's weights in bfloat16, current) the matrix products run in bfloat16.

    Each tensor operation costs ~5 us on top of its arithmetic here (a step's large products
    evict the interpreter's and torch's own data from the caches), so the latent maths below is
    written in as few operations as it takes: about 75 for the whole step.
    """
    config = model.config
    batch, classes = x.shape[0], config.classes
    x = x.reshape(batch, -1)
    encoder, decoder = _linears(model.encoder), _linears(model.decoder)
    encoder_copies, decoder_copies = (bf16.encoder, bf16.decoder) if bf16 else (None, None)
    encoded = mlp_forward(encoder, x, config.relu_logits, encoder_copies)
    # The latent maths runs class-major, (classes, batch, variables): a reduction over 10 classes
    # is then 10 vector operations, not 3,000 short loops (5x faster for softmax and max on a CPU).
    natural = (batch, config.latent_vars, classes)
    logits = encoded[-1].view(natural).permute(2, 0, 1).contiguous()
    noise = gumbel_noise(natural, dtype=logits.dtype, device=logits.device, generator=generator)
    scores = torch.add(logits, noise.permute(2, 0, 1))  # the draw `perturbed_logits` makes
    soft = relax(scores, tau, dim=0)
    # The decoder's input: the relaxed code, then the exact sample (half the weight reads, larger
    # products); with `hard` the exact sample only.
    codes = x.new_empty((batch if hard else 2 * batch, config.latent_dim), dtype=torch.bfloat16 if bf16 else x.dtype)
    code_views = codes.view(-1, *natural[1:]).permute(2, 0, 1)
    one_hot_argmax(scores, dim=0, out=code_views[:, -batch:])
    if not hard:
        code_views[:, :batch].copy_(soft)
    decoded = mlp_forward(decoder, codes, False, decoder_copies)
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
    grad_code = mlp_backward(decoder, decoded, grad_pixels, False, True, decoder_copies)
    assert grad_code is not None
    grad_code = grad_code.to(logits.dtype).view(natural).permute(2, 0, 1)  # the softmax's backward in float32
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
    mlp_backward(encoder, encoded, grad_logits, config.relu_logits, False, encoder_copies)
    return StepLosses(rec + kl, unrelaxed, kl, rec)
