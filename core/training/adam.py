"""Adam over a model whose parameters, and their gradients, live in one flat buffer each.

One call a step of the fused kernel behind `torch.optim.Adam(fused=True)`, `torch._fused_adam_`,
with the same maths. It skips the `torch.optim.Optimizer` class on purpose: that constructor
imports torch._dynamo, 1.1 s of a one-epoch CLI run. It also skips the functional wrapper,
`torch.optim.adam.adam`, whose grouping of tensors by device took 50 us of the 5.5 ms step.
"""

from __future__ import annotations

import torch
from torch import nn

from core.guards import positive_number

# Moments below this are zeroed every FLUSH_EVERY steps. A weight whose gradient has gone to zero
# (a dead unit) keeps a first moment that decays by 0.9 a step into the denormal floats, and the
# CPU handles those ~100x slower: from the second epoch on, 2 % of the buffer was denormal and the
# step took twice as long. A moment of 1e-30 moves its weight by < 1e-25 (eps is 1e-8), and from
# 1e-30 a moment needs 170 steps to decay to a denormal, so none is ever reached.
NEGLIGIBLE_MOMENT = 1e-30
FLUSH_EVERY = 100


class FlatAdam:
    """Adam (torch's defaults: betas 0.9 and 0.999, eps 1e-8, no weight decay) on `model`.

    The model's parameters become views of `self.flat` and their `.grad`s views of `self.grad`,
    so autograd accumulates into the buffer and a hand-written backward pass can write into it.
    Make it after the model is on its device: moving the model afterwards would copy its
    parameters out of the buffer."""

    def __init__(self, model: nn.Module, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        params = list(model.parameters())
        if not params:
            raise ValueError("the model has no parameters to optimize.")
        if len({(p.dtype, p.device) for p in params}) > 1:
            raise ValueError("one flat buffer needs every parameter on one device, in one dtype.")
        self.lr = positive_number(lr, "the learning rate")
        self.betas = betas
        self.eps = eps
        self.flat = torch.cat([p.detach().reshape(-1) for p in params])
        self.grad = torch.zeros_like(self.flat)
        offset = 0
        for p in params:
            size = p.numel()
            p.data = self.flat[offset : offset + size].view_as(p)
            p.grad = self.grad[offset : offset + size].view_as(p)
            offset += size
        self.exp_avg = torch.zeros_like(self.flat)
        self.exp_avg_sq = torch.zeros_like(self.flat)
        self.steps = torch.zeros((), dtype=torch.float32, device=self.flat.device)
        self.steps_taken = 0  # `steps` counted on the host: reading the tensor would wait for a GPU

    def zero_grad(self) -> None:
        """Zero the gradients before a backward pass that accumulates into them (autograd's)."""
        self.grad.zero_()

    def step(self) -> None:
        self.steps.add_(1)
        torch._fused_adam_(
            [self.flat],
            [self.grad],
            [self.exp_avg],
            [self.exp_avg_sq],
            [],
            [self.steps],
            lr=self.lr,
            beta1=self.betas[0],
            beta2=self.betas[1],
            weight_decay=0.0,
            eps=self.eps,
            amsgrad=False,
            maximize=False,
        )
        self.steps_taken += 1
        if self.steps_taken % FLUSH_EVERY == 0:
            for moment in (self.exp_avg, self.exp_avg_sq):  # in place: no 5 MB mask to allocate
                torch.hardshrink(moment, NEGLIGIBLE_MOMENT, out=moment)

    def state_dict(self) -> dict:
        """The weights, both moments, the step count and the learning rate (a resumable run's)."""
        return {
            "flat": self.flat,
            "exp_avg": self.exp_avg,
            "exp_avg_sq": self.exp_avg_sq,
            "steps": self.steps_taken,
            "lr": self.lr,
        }

    def load_state_dict(self, state: dict) -> None:
        """Copy a `state_dict` of an optimizer over the same model back in (the buffers stay the model's)."""
        for name in ("flat", "exp_avg", "exp_avg_sq"):
            buffer = getattr(self, name)
            if state[name].shape != buffer.shape:
                saved, here = state[name].numel(), buffer.numel()
                raise ValueError(f"the saved {name} has {saved:,} numbers; this model has {here:,}.")
            buffer.copy_(state[name])
        self.steps_taken = int(state["steps"])
        self.steps.fill_(self.steps_taken)
        self.lr = positive_number(state["lr"], "the learning rate")
