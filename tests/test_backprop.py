"""The hand-written backward pass and the flat Adam: held to autograd and torch.optim.Adam."""

import subprocess
import sys

import pytest
import torch

from core.gumbel import one_hot_argmax
from core.training.adam import FlatAdam
from core.training.backprop import relaxed_step
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
