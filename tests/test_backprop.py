"""The hand-written backward pass and the flat Adam: held to autograd and torch.optim.Adam."""

import copy
import subprocess
import sys

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from core.gumbel import one_hot_argmax
from core.training.adam import FlatAdam
from core.training.backprop import Bf16Weights, relaxed_step
from core.training.config import TrainConfig
from core.training.loop import Trainer
from core.vae import CategoricalVAE, VAEConfig, reconstruction_nll, vae_loss

SMALL = VAEConfig(latent_vars=4, classes=3, hidden=(7, 5), input_dim=6)


def small_model(**changes) -> CategoricalVAE:
    torch.manual_seed(0)
    model = CategoricalVAE(VAEConfig(**(SMALL.to_dict() | changes))).double()
    with torch.no_grad():  # logits of either sign, so the ReLU head cuts some and passes others
        model.encoder[-1].bias.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(1))
    return model


def autograd_reference(model, x, tau, seed, hard):
    """Gradients and step values the way the model's own forward pass and autograd give them."""
    model.zero_grad(set_to_none=True)
    out = model(x, "straight_through" if hard else "relaxed", tau, torch.Generator().manual_seed(seed))
    loss = vae_loss(out.pixel_logits, x, out.logits)
    loss.total.backward()
    with torch.no_grad():
        exact = one_hot_argmax(out.scores)
        unrelaxed = reconstruction_nll(model.decode_logits(exact), x).mean() + loss.kl
    grads = [p.grad.clone() for p in model.parameters()]
    return grads, (loss.total.item(), unrelaxed.item(), loss.kl.item(), loss.reconstruction.item())


@pytest.mark.parametrize("relu_logits", [True, False])
@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("hidden", [(7, 5), (9,)])
def test_hand_written_gradients_equal_autograd_in_float64(relu_logits, hard, hidden):
    model = small_model(relu_logits=relu_logits, hidden=hidden)
    x = torch.rand(8, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    expected, values = autograd_reference(model, x, 0.7, seed=3, hard=hard)
    for p in model.parameters():  # stale gradients must be overwritten, not added to
        p.grad = torch.full_like(p, 123.0)
    got = relaxed_step(model, x, 0.7, torch.Generator().manual_seed(3), hard=hard)
    for p, reference in zip(model.parameters(), expected, strict=True):
        torch.testing.assert_close(p.grad, reference, rtol=1e-12, atol=1e-14)
    assert any(g.abs().max() > 1e-3 for g in expected)  # a real gradient, not zeros on both sides
    measured = (got.relaxed, got.unrelaxed, got.kl, got.reconstruction)
    assert measured == pytest.approx(values, rel=1e-12)


def test_the_relaxed_step_draws_the_models_noise():
    """Same generator, same draw: the unrelaxed objective differs from the relaxed one and
    matches the exact sample of the model's own pass, and the generator ends in the same state."""
    model = small_model()
    x = torch.rand(8, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    ours, theirs = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    got = relaxed_step(model, x, 0.5, ours)
    _, values = autograd_reference(model, x, 0.5, seed=5, hard=False)
    theirs.manual_seed(5)
    model(x, "relaxed", 0.5, theirs)
    assert torch.equal(ours.get_state(), theirs.get_state())
    assert got.unrelaxed == pytest.approx(values[1], rel=1e-12)
    assert got.unrelaxed != pytest.approx(got.relaxed, rel=1e-5)  # a second decode, not a copy


def test_flat_adam_steps_like_torch_adam():
    ours, theirs = small_model().float(), small_model().float()
    flat = FlatAdam(ours, lr=0.01)
    reference = torch.optim.Adam(theirs.parameters(), lr=0.01, fused=True)
    x = torch.rand(8, 6, generator=torch.Generator().manual_seed(2))
    for step in range(12):
        if step == 6:
            flat.lr = reference.param_groups[0]["lr"] = 0.003
        for model in (ours, theirs):
            out = model(x, "relaxed", 1.0, torch.Generator().manual_seed(step))
            vae_loss(out.pixel_logits, x, out.logits).total.backward()
        flat.step()
        reference.step()
        flat.zero_grad()
        reference.zero_grad()
    # Equal up to rounding: the kernel's vector loop and scalar tail split one buffer and
    # twelve tensors differently.
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.equal(ours.encoder[0].weight, small_model().float().encoder[0].weight)


def test_flat_adam_holds_parameters_and_gradients_in_one_buffer_each():
    model = small_model().float()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    adam = FlatAdam(model, lr=1e-3)
    assert adam.flat.numel() == sum(p.numel() for p in model.parameters())
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name])  # the values survive the move into the buffer
        assert p.untyped_storage().data_ptr() == adam.flat.untyped_storage().data_ptr()
        assert p.grad.untyped_storage().data_ptr() == adam.grad.untyped_storage().data_ptr()
    model.encoder[0].bias.grad.fill_(2.0)
    assert adam.grad.sum() == 2.0 * model.encoder[0].bias.numel()


def test_flat_adam_never_lets_a_moment_decay_into_denormal_floats():
    """A weight whose gradient goes to zero keeps a first moment of 0.1 * 0.9^k: denormal (and
    ~100x slower to compute with) after ~810 steps, unless it is flushed first."""
    model = torch.nn.Linear(3, 1, bias=False)
    adam = FlatAdam(model, lr=1e-3)
    tiny = torch.finfo(torch.float32).tiny
    adam.grad.fill_(1.0)
    for step in range(1000):
        adam.step()
        adam.grad.zero_()
        for moment in (adam.exp_avg, adam.exp_avg_sq):
            assert not ((moment != 0) & (moment.abs() < tiny)).any(), f"a denormal moment after step {step + 1}"
    assert adam.exp_avg.eq(0).all() and adam.exp_avg_sq.gt(0).all()  # the first flushed, the second still live


def test_flat_adam_refuses_what_one_buffer_cannot_hold():
    with pytest.raises(ValueError, match="no parameters"):
        FlatAdam(torch.nn.ReLU(), lr=1e-3)
    mixed = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2).double())
    with pytest.raises(ValueError, match="one dtype"):
        FlatAdam(mixed, lr=1e-3)
    with pytest.raises(ValueError, match="learning rate"):
        FlatAdam(small_model(), lr=0.0)


def test_flat_adam_leaves_torch_dynamo_unimported():
    """torch.optim.Adam's constructor imports torch._dynamo: a second of every CLI run's start-up."""
    script = (
        "import sys, torch\n"
        "from core.training.adam import FlatAdam\n"
        "model = torch.nn.Linear(3, 2)\n"
        "adam = FlatAdam(model, 1e-3)\n"
        "model(torch.ones(1, 3)).sum().backward()\n"
        "adam.step()\n"
        "assert 'torch._dynamo' not in sys.modules, 'torch._dynamo was imported'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


@pytest.mark.parametrize("estimator", ["gumbel_softmax", "straight_through"])
def test_the_trainer_trains_the_same_by_hand_and_by_autograd(mnist, estimator):
    config = TrainConfig(
        model=VAEConfig(latent_vars=4, classes=5, hidden=(32, 16)),
        estimator=estimator,
        batch_size=50,
        train_subset=400,
        test_subset=100,
        epochs=1,
    )
    by_hand, by_autograd = Trainer(config, *mnist), Trainer(config, *mnist)
    by_autograd.handwritten = False
    assert by_hand.handwritten
    hand_events, autograd_events = list(by_hand.events()), list(by_autograd.events())
    assert len(hand_events) == len(autograd_events) == 9
    for a, b in zip(hand_events, autograd_events, strict=True):
        assert a.relaxed == pytest.approx(b.relaxed, rel=1e-4)
        assert a.unrelaxed == pytest.approx(b.unrelaxed, rel=1e-4)
        assert a.kl == pytest.approx(b.kl, rel=1e-4, abs=1e-5)
    for a, b in zip(by_hand.model.parameters(), by_autograd.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


# --- the bfloat16 step ---------------------------------------------------------------------

MEDIUM = VAEConfig(latent_vars=6, classes=10, hidden=(64, 32))
BF16_TOLERANCE = 2.0**-4  # norm-wise, per parameter: see the test below


def step_gradients(model: CategoricalVAE, x: torch.Tensor, hard: bool, bf16: bool):
    """The hand-written step's losses and gradients on a copy of `model`, in float32 or with bfloat16 products."""
    model = copy.deepcopy(model)
    weights = Bf16Weights(model, FlatAdam(model, 1e-3)) if bf16 else None
    losses = relaxed_step(model, x, 1.0, torch.Generator().manual_seed(3), hard, weights)
    return losses, [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("relu_logits", [True, False])
@pytest.mark.parametrize("hard", [False, True])
def test_bf16_gradients_equal_the_float32_steps_to_bfloat16_rounding(mnist, relu_logits, hard):
    """bfloat16 keeps 8 significant bits: a rounding is off by at most u = 2^-9 relative. A
    gradient here ends a chain of up to 11 products (the encoder's first weight: 6 forward, 5
    backward), each with rounded operands and output; independent roundings add in quadrature,
    about sqrt(22) u = 0.9e-2, and a product's sum multiplies its operands' relative error by its
    cancellation (sum |a_k b_k| / |sum a_k b_k|), which a gradient summed over a batch has.
    Measured on these models and the faithful preset: 1e-4 to 3.4e-2 norm-wise per parameter,
    the first weights of the encoder and the decoder the worst. The bound, 2^-4 (32 u), is about
    twice that; a wrong step (a term left out, a layer's weight swapped) is off by O(1). The
    float32 step is held to float64 autograd above; and some parameter must differ by 2^-14 or
    more, where float32 against itself differs by ~1e-7: the products really were rounded."""
    torch.manual_seed(0)
    model = CategoricalVAE(VAEConfig(**(MEDIUM.to_dict() | {"relu_logits": relu_logits})))
    x = mnist[0].pixels()[:50]
    (exact_losses, exact), (losses, got) = (step_gradients(model, x, hard, bf16) for bf16 in (False, True))
    errors = [((g - e).norm() / e.norm()).item() for g, e in zip(got, exact, strict=True)]
    assert max(errors) < BF16_TOLERANCE, errors
    assert max(errors) > 2.0**-14, errors
    # float32 sums of many terms, whose roundings average out: within one rounding (1.7e-4 measured)
    measured = (losses.relaxed, losses.unrelaxed, losses.kl, losses.reconstruction)
    expected = (exact_losses.relaxed, exact_losses.unrelaxed, exact_losses.kl, exact_losses.reconstruction)
    assert measured == pytest.approx(expected, rel=2.0**-9)


# Operations a bfloat16 value may pass through: the products, the ReLU and its backward, casts,
# views, and writing the code the decoder reads. Everything else (the sampler, the softmax, the
# KL, the losses) must see float32 only.
BF16_CARRIERS = {"mm", "addmm", "relu_", "threshold_backward", "_to_copy", "copy_", "add", "sum", "t", "view",
                 "slice", "permute", "new_empty", "scatter_", "zero_"}  # fmt: skip
LOSS_OPS = {"softplus", "mv", "sigmoid", "_log_softmax", "_softmax", "exp", "log_", "rand"}


class DtypeLog(TorchDispatchMode):
    """Every aten operation run under it, with the floating dtypes of its inputs and outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, set[torch.dtype]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        tensors = tree_leaves((args, kwargs, out))
        dtypes = {t.dtype for t in tensors if isinstance(t, torch.Tensor) and t.is_floating_point()}
        self.calls.append((func.overloadpacket.__name__, dtypes))
        return out


@pytest.mark.parametrize("hard", [False, True])
def test_the_bf16_step_multiplies_in_bf16_and_samples_and_scores_in_float32(hard):
    """Fails if a product silently stays float32 or a loss (or the sampler) is computed in bfloat16."""
    model = small_model().float()
    weights = Bf16Weights(model, FlatAdam(model, 1e-3))
    x = torch.rand(8, 6, generator=torch.Generator().manual_seed(2))
    with DtypeLog() as log:
        relaxed_step(model, x, 0.7, torch.Generator().manual_seed(3), hard, weights)
    products = [dtypes for name, dtypes in log.calls if name in ("mm", "addmm")]
    # forward: 3 + 3 layers; backward: every weight's gradient, every input's but the encoder's
    assert len(products) == 6 + 6 + 5
    assert all(dtypes == {torch.bfloat16} for dtypes in products)
    in_bf16 = {name for name, dtypes in log.calls if torch.bfloat16 in dtypes}
    assert in_bf16 <= BF16_CARRIERS, in_bf16 - BF16_CARRIERS
    scoring = [(name, dtypes) for name, dtypes in log.calls if name in LOSS_OPS]
    assert {name for name, _ in scoring} == LOSS_OPS
    assert all(dtypes == {torch.float32} for _, dtypes in scoring), scoring
    assert all(p.grad.dtype == torch.float32 for p in model.parameters())


def test_bf16_weights_are_one_buffer_of_the_float32_weights_refreshed_on_demand():
    model = small_model().float()
    adam = FlatAdam(model, lr=1e-3)
    weights = Bf16Weights(model, adam)
    layers = [layer for layer in model.modules() if isinstance(layer, torch.nn.Linear)]
    copies = weights.encoder + weights.decoder
    assert len(copies) == len(layers)
    for (w, b), layer in zip(copies, layers, strict=True):
        assert torch.equal(w, layer.weight.detach().to(torch.bfloat16))
        assert torch.equal(b, layer.bias.detach().to(torch.bfloat16))
        assert w.untyped_storage().data_ptr() == weights.flat.untyped_storage().data_ptr()
    adam.flat.add_(1.0)  # an update
    assert not torch.equal(copies[0][0], layers[0].weight.detach().to(torch.bfloat16))
    weights.refresh()
    assert torch.equal(copies[0][0], layers[0].weight.detach().to(torch.bfloat16))
    with pytest.raises(ValueError, match="FlatAdam"):
        Bf16Weights(small_model().float(), adam)


def test_the_trainer_steps_in_bf16_by_hand_and_refreshes_the_copies_after_adam(mnist):
    config = TrainConfig(
        model=VAEConfig(latent_vars=4, classes=5, hidden=(32, 16)), batch_size=50, train_subset=400, test_subset=100,
        epochs=1, precision="bf16",
    )  # fmt: skip
    trainer = Trainer(config, *mnist)
    assert trainer.handwritten and trainer.precision == "bf16"
    before = trainer.optimizer.flat.clone()
    with DtypeLog() as log:
        trainer.train_step(trainer.x_train[:50], 1.0)
    assert not torch.equal(before, trainer.optimizer.flat)  # Adam moved the float32 weights
    assert torch.equal(trainer.bf16_weights.flat, trainer.optimizer.flat.to(torch.bfloat16))
    assert all(dtypes == {torch.bfloat16} for name, dtypes in log.calls if name in ("mm", "addmm"))
