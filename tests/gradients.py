"""Checks the straight-through tests of several structures share."""

from __future__ import annotations

import torch


def hard_output_with_the_relaxed_gradient(sample, inputs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The hard output of `sample(inputs, hard)`, after checking that it is 0/1 and that its gradient
    (of a weighted sum) is the relaxed output's, non-zero."""
    outputs, grads = [], []
    for hard in (True, False):
        x = inputs.clone().requires_grad_(True)
        out = sample(x, hard)
        (out * weights).sum().backward()
        outputs.append(out.detach())
        grads.append(x.grad)
    assert set(outputs[0].unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(grads[0], grads[1])
    assert grads[0].abs().sum() > 0
    return outputs[0]
