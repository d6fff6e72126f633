"""The training engine: schedules, configs, steps, epochs, and runs in their own process."""

import copy
import dataclasses
import gc
import itertools
import json
import math
import os
import signal
import struct
import time
import types

import pytest
import torch

from core.evaluation import exact_sample_objective
from core.gumbel import gumbel_noise, one_hot_argmax
from core.runtime.slots import RunSlots
from core.store.checkpoints import load_checkpoint
from core.training import backprop
from core.training.config import TemperatureSchedule, TrainConfig
from core.training.live import make_preview
from core.training.loop import Change, EpochMetrics, StepMetrics, Trainer
from core.training.run import TrainingRun
from core.vae import CategoricalVAE, VAEConfig, vae_loss

TINY = VAEConfig(latent_vars=4, classes=5, hidden=(32,))


def tiny(**changes):
    """A model and data small enough for a step to take about a millisecond."""
    return TrainConfig(
        **({"model": TINY, "epochs": 1, "batch_size": 50, "train_subset": 500, "test_subset": 200} | changes)
    )


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models on a shared CPU: a second intra-op thread mostly waits at barriers (30x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def wait_until(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the run"
        time.sleep(0.02)


# --- temperature schedule ----------------------------------------------------------------


def test_constant_schedule():
    schedule = TemperatureSchedule(tau0=0.7)
    assert [schedule.at(s) for s in (0, 1, 999, 10**6)] == [0.7] * 4


def test_annealed_schedule_holds_for_every_steps_and_floors_at_tau_min():
    schedule = TemperatureSchedule(tau0=2.0, tau_min=0.5, rate=1e-3, every=100)
    assert schedule.at(0) == schedule.at(99) == 2.0
    assert schedule.at(100) == schedule.at(199) == pytest.approx(2.0 * math.exp(-0.1))
    assert schedule.at(250) == pytest.approx(2.0 * math.exp(-0.2))
    assert schedule.at(1300) == pytest.approx(2.0 * math.exp(-1.3))  # 0.545, still above the floor
    assert schedule.at(1400) == 0.5  # 2 e^-1.4 = 0.49 would be below it
    assert schedule.at(10**7) == 0.5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tau0": 0.0},
        {"tau0": float("nan")},
        {"tau0": float("inf")},
        {"tau_min": 0.0},
        {"tau_min": -1.0},
        {"rate": -1e-3},
        {"rate": float("nan")},
        {"every": 0},
    ],
)
def test_schedule_validation(kwargs):
    with pytest.raises(ValueError):
        TemperatureSchedule(**kwargs)


# --- config ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": 0.0}, "learning rate"),
        ({"lr": float("nan")}, "learning rate"),
        ({"lr": -1e-3}, "learning rate"),
        ({"estimator": "reinforce"}, "unknown estimator"),
        ({"batch_size": 0}, "batch size"),
        ({"max_steps": 0}, "max steps"),
        ({"train_subset": 0}, "train_subset"),
        ({"tau": 0.0}, "temperature"),
        ({"anneal_every": 0}, "interval"),
        ({"device": "banana"}, "device"),
        ({"precision": "fp16"}, "unknown precision"),
    ],
)
def test_config_validation(kwargs, words):
    with pytest.raises(ValueError, match=words):
        TrainConfig(**kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_refused():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        TrainConfig(device="cuda")


def test_auto_precision_is_decided_for_the_hand_written_step_only(mnist, monkeypatch, tmp_path):
    """The autograd estimators stay float32 under auto, even where the trial would pick bfloat16."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no timings cached: the (faked) trial runs
    monkeypatch.setattr("core.runtime.precision.bf16_native", lambda: True)
    monkeypatch.setattr("core.runtime.precision.time_products", lambda: {"fp32": 0.006, "bf16": 0.002})
    by_hand = Trainer(tiny(), *mnist)
    assert by_hand.precision_choice.describe() == "bf16 (auto: 3.0× faster products on this CPU)"
    autograd = Trainer(tiny(estimator="gumbel_rao"), *mnist)
    assert autograd.precision == "fp32" and "hand-written step only" in autograd.precision_choice.reason
    assert Trainer(tiny(precision="fp32", estimator="gumbel_rao"), *mnist).precision == "fp32"
    assert Trainer(tiny(precision="bf16", estimator="gumbel_rao"), *mnist).precision == "bf16"


def test_bf16_step_multiplies_in_bf16_and_keeps_float32_weights_and_losses(mnist):
    """Same weights, same batch, same noise: bfloat16 products move the losses by a little
    (8-bit mantissas), not by nothing (it really ran in bf16) and not by much."""
    losses = {}
    for precision in ("fp32", "bf16"):
        trainer = Trainer(tiny(precision=precision), *mnist)
        assert trainer.precision == precision
        x = trainer.x_train[:50]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            assert trainer.model.encoder[0](x).dtype == (torch.bfloat16 if precision == "bf16" else torch.float32)
            assert trainer.model.encode(x).dtype == torch.float32  # what leaves the network is float32
        losses[precision] = trainer.train_step(x, 1.0)
        assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    assert losses["bf16"].relaxed != losses["fp32"].relaxed
    assert losses["bf16"].relaxed == pytest.approx(losses["fp32"].relaxed, rel=0.01)
    assert losses["bf16"].kl == pytest.approx(losses["fp32"].kl, rel=0.01)


def test_config_to_dict_is_json():
    data = json.loads(json.dumps(tiny().to_dict()))
    assert data["model"]["hidden"] == [32] and data["estimator"] == "gumbel_softmax"


# --- trainer -----------------------------------------------------------------------------


def first_steps(config, mnist, n=5):
    """The first n step metrics, without the (timing-dependent) speed."""
    events = itertools.islice(Trainer(config, *mnist).events(), n)
    return [dataclasses.replace(e, images_per_second=0.0) for e in events]


def test_same_seed_same_steps_different_seed_different_steps(mnist):
    a = first_steps(tiny(seed=3), mnist)
    assert all(isinstance(e, StepMetrics) for e in a)
    assert a == first_steps(tiny(seed=3), mnist)
    assert [e.relaxed for e in a] != [e.relaxed for e in first_steps(tiny(seed=4), mnist)]


def one_step_of_the_seeds_model(mnist, monkeypatch, seed=0):
    """A trainer of the reference script's model before any update, and the Gumbel noise its first step drew."""
    drawn = []

    def recording(*args, **kwargs):
        drawn.append(gumbel_noise(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(backprop, "gumbel_noise", recording)
    trainer = Trainer(TrainConfig(train_subset=100, test_subset=100, precision="fp32", seed=seed), *mnist)
    initial = copy.deepcopy(trainer.model)
    next(trainer.events())
    (noise,) = drawn
    return trainer, initial, noise


def r_squared(x: torch.Tensor, y: torch.Tensor) -> float:
    """R² of the least-squares line of y on x (the squared correlation)."""
    return torch.corrcoef(torch.stack([x.double(), y.double()]))[0, 1].item() ** 2


def test_initial_weights_are_no_function_of_the_first_steps_noise(mnist, monkeypatch):
    """Seeding the weights and the noise with one seed made the first encoder weights an affine
    map of step 1's Gumbel uniforms (R² = 1); from separate streams R² is that of independent
    draws (~1/n; the bound is 25/n, a correlation of 5 standard errors)."""
    _, initial, noise = one_step_of_the_seeds_model(mnist, monkeypatch)
    uniforms = (-(-noise.double()).exp()).exp().flatten()  # U back from G = -log(-log U)
    weights = initial.encoder[0].weight.detach().flatten()[: uniforms.numel()]
    assert uniforms.numel() == 100 * 30 * 10
    assert r_squared(uniforms, weights) < 25 / uniforms.numel()
    assert r_squared(noise.flatten(), weights) < 25 / uniforms.numel()


def test_each_stream_comes_from_the_recorded_seed_and_none_from_the_global_one(mnist, monkeypatch):
    """The same seed gives the same initial weights and first noise whatever the global random
    state, a run leaves that state alone, and each purpose has its own stream of the seed."""
    torch.manual_seed(1)
    before = torch.get_rng_state()
    a, a_initial, a_noise = one_step_of_the_seeds_model(mnist, monkeypatch, seed=3)
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(2)
    _, b_initial, b_noise = one_step_of_the_seeds_model(mnist, monkeypatch, seed=3)
    assert torch.equal(a_noise, b_noise)
    assert all(torch.equal(p, q) for p, q in zip(a_initial.parameters(), b_initial.parameters(), strict=True))
    _, c_initial, c_noise = one_step_of_the_seeds_model(mnist, monkeypatch, seed=4)
    assert not torch.equal(a_noise, c_noise)
    assert not torch.equal(a_initial.encoder[0].weight, c_initial.encoder[0].weight)
    config = a.config
    reference = CategoricalVAE(config.model, torch.Generator().manual_seed(config.stream_seed("init")))
    assert all(torch.equal(p, q) for p, q in zip(a_initial.parameters(), reference.parameters(), strict=True))
    used = {"noise": a.noise, "shuffle": a.shuffle, "binarize": a.binarizer}
    assert {name: g.initial_seed() for name, g in used.items()} == {name: config.stream_seed(name) for name in used}
    purposes = ("init", "noise", "shuffle", "binarize", "evaluation", "preview")
    assert len({config.stream_seed(p) for p in purposes}) == len(purposes)
    assert config.seed not in {config.stream_seed(p) for p in purposes}


def test_the_test_objective_is_scored_with_the_evaluation_stream(mnist):
    trainer = Trainer(tiny(seed=5), *mnist)
    scored = trainer.test_objective()
    assert scored == trainer.test_objective()  # the stream restarts: every epoch sees the same draws
    seed = trainer.config.stream_seed("evaluation")
    assert scored == exact_sample_objective(trainer.model, trainer.x_test, seed=seed)
    assert scored.reconstruction != exact_sample_objective(trainer.model, trainer.x_test, seed=5).reconstruction


def test_unrelaxed_decodes_the_argmax_of_the_same_draw_with_the_same_weights(mnist):
    """Both objectives of a step describe the model before its update, on one Gumbel draw."""
    trainer = Trainer(tiny(), *mnist)
    x = trainer.x_train[:50]
    before = copy.deepcopy(trainer.model)
    noise = torch.Generator().set_state(trainer.noise.get_state())
    losses = trainer.train_step(x, 0.5)
    with torch.no_grad():
        out = before(x, "relaxed", 0.5, noise)
        soft = vae_loss(out.pixel_logits, x, out.logits)
        exact = vae_loss(before.decode_logits(one_hot_argmax(out.scores)), x, out.logits)
    assert any(not torch.equal(p, q) for p, q in zip(before.parameters(), trainer.model.parameters()))
    assert losses.relaxed == pytest.approx(soft.total.item(), rel=1e-6)
    assert losses.kl == pytest.approx(soft.kl.item(), rel=1e-6)
    assert losses.reconstruction == pytest.approx(soft.reconstruction.item(), rel=1e-6)
    assert losses.unrelaxed == pytest.approx(exact.total.item(), rel=1e-6)


def test_straight_through_objectives_coincide(mnist):
    """Its forward code already is the exact sample, so relaxed == unrelaxed."""
    steps = first_steps(tiny(estimator="straight_through"), mnist)
    assert all(e.relaxed == e.unrelaxed for e in steps)


def test_max_steps_stops_mid_epoch_with_a_final_epoch_event(mnist):
    trainer = Trainer(tiny(epochs=3, max_steps=15), *mnist)
    assert trainer.steps_per_epoch == 10 and trainer.total_steps == 15
    events = list(trainer.events())
    steps = [e for e in events if isinstance(e, StepMetrics)]
    epochs = [e for e in events if isinstance(e, EpochMetrics)]
    assert [e.step for e in steps] == list(range(1, 16))
    assert [(e.epoch, e.step) for e in epochs] == [(1, 10), (2, 15)]
    assert isinstance(events[-1], EpochMetrics) and math.isfinite(events[-1].test)
    assert epochs[-1].relaxed == pytest.approx(sum(e.relaxed for e in steps[10:]) / 5)


def test_steps_follow_the_schedule(mnist):
    config = tiny(max_steps=7, anneal_rate=0.1, anneal_every=3, tau_min=0.1)
    steps = [e for e in Trainer(config, *mnist).events() if isinstance(e, StepMetrics)]
    assert [e.tau for e in steps] == [config.schedule.at(i) for i in range(7)]


@pytest.mark.slow
def test_short_training_lowers_the_test_vae_loss(mnist):
    """60 steps of the reference script's model on 3000 images: the exact-sample test objective drops a lot."""
    config = TrainConfig(epochs=3, train_subset=3000, test_subset=1000, max_steps=60)
    trainer = Trainer(config, *mnist)
    before = trainer.test_objective().total
    epochs = [e for e in trainer.events() if isinstance(e, EpochMetrics)]
    after = trainer.test_objective().total
    assert [e.step for e in epochs] == [30, 60]
    assert epochs[-1].test == pytest.approx(after)
    assert after < 0.6 * before


# --- runs in their own process --------------------------------------------------------------------


def forever(**changes):
    return tiny(epochs=100_000, **changes)


def test_run_pauses_resumes_and_stops_with_a_checkpoint(mnist, tmp_path):
    run = TrainingRun(forever(), *mnist, checkpoint_dir=tmp_path, name="live").start()
    try:
        wait_until(lambda: run.snapshot().step >= 3)
        run.pause()
        assert run.snapshot().status == "paused"
        time.sleep(0.5)  # the step under way when paused may still land
        paused_at = run.snapshot().step
        time.sleep(0.5)
        assert run.snapshot().step == paused_at
        assert run.snapshot().stalled_seconds == 0.0  # a paused run is not stalled
        run.resume()
        resumed = run.snapshot()
        assert resumed.status == "running" and resumed.stalled_seconds < 0.4  # the pause is not counted
        wait_until(lambda: run.snapshot().step > paused_at + 2)
    finally:
        run.stop()
        assert run.join(30)
    snap = run.snapshot()
    assert snap.status == "stopped" and run.done and snap.error is None
    assert snap.checkpoint == tmp_path / "live.pt" and snap.checkpoint.is_file()
    loaded = load_checkpoint(snap.checkpoint)
    assert loaded.metadata["status"] == "stopped" and loaded.metadata["steps"] == snap.step
    assert loaded.model.config == TINY


def test_finished_run_has_epochs_preview_and_checkpoint(mnist, tmp_path):
    run = TrainingRun(tiny(epochs=2), *mnist, checkpoint_dir=tmp_path, name="done").start()
    assert run.join(60)
    snap = run.snapshot()
    assert snap.status == "finished" and snap.step == snap.total_steps == 20
    assert [e.epoch for e in snap.epochs] == [1, 2]
    assert snap.preview.epoch == 2 and snap.preview.reconstructions.shape == (8, 28, 28)
    final = load_checkpoint(snap.checkpoint)
    assert final.metadata["final_metrics"]["step"] == 20
    # The prior samples come from the run's preview stream, not from the seed itself.
    config, x = run.config, snap.preview.originals.reshape(8, -1)
    own = make_preview(final.model, x, 2, seed=config.stream_seed("preview")).prior_samples
    assert torch.allclose(snap.preview.prior_samples, own, atol=1e-5)
    from_the_seed = make_preview(final.model, x, 2, seed=config.seed).prior_samples
    assert not torch.allclose(snap.preview.prior_samples, from_the_seed, atol=1e-2)
    assert snap.precision.startswith("fp32 (auto: ")  # the tests' cache makes auto float32; the page shows why


def test_history_is_bounded(mnist):
    run = TrainingRun(forever(), *mnist, history=5).start()
    try:
        wait_until(lambda: run.snapshot().step >= 20)
    finally:
        run.stop()
        assert run.join(30)
    snap = run.snapshot()
    assert [e.step for e in snap.steps] == list(range(snap.step - 4, snap.step + 1))
    assert snap.checkpoint is None  # no checkpoint_dir given


def test_runs_past_the_limit_wait_in_line_and_start_by_themselves(mnist, tmp_path):
    """Limit 1, three starts: one runs, two wait at places 1 and 2, nobody is refused. When the
    first ends, the second starts by itself and the third moves up to place 1."""
    slots = RunSlots(1)
    first = TrainingRun(forever(), *mnist, slots=slots, name="first").start()
    second = TrainingRun(tiny(max_steps=3), *mnist, slots=slots, checkpoint_dir=tmp_path, name="second").start()
    third = TrainingRun(tiny(max_steps=3), *mnist, slots=slots, name="third").start()
    try:
        assert [r.snapshot().status for r in (first, second, third)] == ["running", "queued", "queued"]
        assert [second.snapshot().place.position, third.snapshot().place.position] == [1, 2]
        assert second.snapshot().step == 0 and second.pid is None  # nothing forked while it waits
        wait_until(lambda: first.snapshot().step >= 1)
        first.stop()
        assert first.join(30)
        wait_until(lambda: second.snapshot().status != "queued")
        assert third.snapshot().status == "queued" and third.snapshot().place.position == 1
        assert second.join(30) and second.snapshot().status == "finished" and second.snapshot().began
        assert second.snapshot().checkpoint.is_file()
        assert third.join(30) and third.snapshot().status == "finished"
    finally:
        for run in (first, second, third):
            run.stop()
            assert run.join(30)
    assert slots.request("next").granted  # every slot came back


def test_a_queued_run_that_is_stopped_or_abandoned_leaves_the_line(mnist, tmp_path):
    slots = RunSlots(1)
    holder = TrainingRun(forever(), *mnist, slots=slots, name="holder").start()
    left = TrainingRun(tiny(), *mnist, slots=slots, name="left").start()
    gone = TrainingRun(tiny(), *mnist, slots=slots, checkpoint_dir=tmp_path, name="gone", abandon_after=1.0).start()
    try:
        assert gone.snapshot().place.position == 2
        left.stop()  # the visitor pressed "Leave the line": out at once
        assert slots.view().waiting == ("gone",)
        assert left.join(30) and left.snapshot().status == "stopped" and not left.snapshot().began
        assert gone.join(30)  # nobody polls it: it leaves the line by itself
        snap = gone.snapshot()
        assert snap.status == "stopped" and snap.abandoned and not snap.began and snap.step == 0
        assert slots.view().waiting == () and gone.pid is None and not list(tmp_path.iterdir())
        assert holder.snapshot().status == "running"  # the others' runs go on
    finally:
        holder.stop()
        assert holder.join(30)


def test_failing_run_reports_and_releases_its_slot(mnist, tmp_path, monkeypatch):
    def explode(self, x, tau):
        raise RuntimeError("exploded on purpose")

    monkeypatch.setattr(Trainer, "train_step", explode)
    slots = RunSlots(1)
    run = TrainingRun(tiny(), *mnist, slots=slots, checkpoint_dir=tmp_path).start()
    assert run.join(30)
    snap = run.snapshot()
    assert snap.status == "failed" and snap.error == "RuntimeError: exploded on purpose"
    assert snap.checkpoint is None and not list(tmp_path.glob("*.pt"))  # never a half-written model
    (record,) = tmp_path.glob("*.json")  # but a readable record of the failure (the run store's)
    side = json.loads(record.read_text())
    assert side["status"] == "failed" and side["error"] == "RuntimeError: exploded on purpose"
    assert slots.request("next").granted  # the slot came back


def test_an_abandoned_run_is_stopped_saved_and_frees_its_slot(mnist, tmp_path):
    slots = RunSlots(1)
    run = TrainingRun(forever(), *mnist, slots=slots, checkpoint_dir=tmp_path, name="gone", abandon_after=1.0)
    run.start()
    watched_until = time.monotonic() + 2.5  # polled more often than abandon_after: it keeps going
    while time.monotonic() < watched_until:
        assert run.snapshot().status == "running"
        time.sleep(0.1)
    assert run.join(30)  # nobody polls any more: the watchdog stops it
    snap = run.snapshot()
    assert snap.status == "stopped" and snap.abandoned and snap.step > 0
    assert load_checkpoint(snap.checkpoint).metadata["steps"] == snap.step
    assert slots.request("next").granted  # the slot came back


def reachable_tensors(root: object, skip: object) -> list[torch.Tensor]:
    """Every tensor reachable from `root` through object references, except through `skip`."""
    seen, todo, found = set(), [root], []
    while todo:
        obj = todo.pop()
        if id(obj) in seen or obj is skip or isinstance(obj, type | types.ModuleType | types.FunctionType):
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.Tensor):
            found.append(obj)
        else:
            todo.extend(gc.get_referents(obj))
    return found


def test_a_finished_run_releases_its_process_and_data(mnist):
    run = TrainingRun(tiny(), *mnist).start()
    assert run.join(60)
    snap = run.snapshot()
    assert snap.status == "finished" and run.exitcode == 0
    with pytest.raises(ProcessLookupError):  # the trainer, its model and its float pixels went with it
        os.kill(run.pid, 0)
    assert reachable_tensors(run, skip=snap.preview) == []  # the images it shows, and nothing else


def test_a_process_that_dies_in_the_middle_of_a_message_fails_the_run(mnist, monkeypatch):
    """A preview is larger than a pipe's buffer, so a process can die having written part of one:
    the page must read that as the end, not wait for the rest of the message forever."""

    def half_a_message(run):
        # a multiprocessing message: a 4-byte big-endian length, then that many bytes; here 100 of 1 MB
        os.write(run._sender.fileno(), struct.pack("!i", 1_000_000) + b"x" * 100)
        os._exit(3)

    monkeypatch.setattr(TrainingRun, "_child", half_a_message)
    run = TrainingRun(tiny(), *mnist).start()
    assert run.join(30)
    snap = run.snapshot()
    assert snap.status == "failed" and "ended unexpectedly (exit code 3)" in snap.error


def test_a_killed_training_process_fails_the_run_with_a_message(mnist, tmp_path):
    slots = RunSlots(1)
    run = TrainingRun(forever(), *mnist, slots=slots, checkpoint_dir=tmp_path).start()
    wait_until(lambda: run.snapshot().step >= 1)
    os.kill(run.pid, signal.SIGKILL)
    assert run.join(30)
    snap = run.snapshot()
    assert snap.status == "failed" and run.done and "ended unexpectedly" in snap.error
    assert snap.checkpoint is None and not list(tmp_path.glob("*.pt"))  # never a half-written model
    (record,) = tmp_path.glob("*.json")  # but a readable record of the failure (the run store's)
    side = json.loads(record.read_text())
    assert side["status"] == "failed" and "ended unexpectedly" in side["error"]
    assert slots.request("next").granted


# --- τ and the learning rate changed while a run trains ---------------------------------------


def test_trainer_change_applies_to_the_next_step_and_is_recorded(mnist):
    trainer = Trainer(tiny(epochs=2), *mnist)
    events = trainer.events()
    first = next(events)
    assert isinstance(first, StepMetrics) and first.tau == 1.0 and first.lr == 1e-3
    assert trainer.change("tau", 0.25) == Change(1, "tau", 0.25)
    trainer.change("lr", 5e-4)
    second = next(events)
    assert (second.tau, second.lr) == (0.25, 5e-4)
    assert trainer.optimizer.lr == 5e-4
    with pytest.raises(ValueError, match="only tau and lr"):
        trainer.change("batch_size", 10)
    with pytest.raises(ValueError, match="temperature"):
        trainer.change("tau", -1.0)


def test_a_mid_run_change_reaches_the_runs_history(mnist, tmp_path):
    """The page's Apply calls run.set_tau / run.set_lr; the forked child picks the value up at its
    next step, without a restart or a pause, and the history and the checkpoint record it."""
    run = TrainingRun(forever(), *mnist, checkpoint_dir=tmp_path, name="changed").start()
    try:
        wait_until(lambda: run.snapshot().step >= 3)
        run.set_tau(0.3)
        run.set_lr(2e-4)
        wait_until(lambda: len(run.snapshot().changes) == 2)
        changes = run.snapshot().changes
        at = changes[0].step
        wait_until(lambda: run.snapshot().step >= at + 3)
        assert run.snapshot().status == "running"
        with pytest.raises(ValueError):
            run.set_lr(float("nan"))
    finally:
        run.stop()
        assert run.join(30)
    snap = run.snapshot()
    assert [(c.name, c.value) for c in changes] == [("tau", 0.3), ("lr", 2e-4)]
    before = [s for s in snap.steps if s.step <= at]
    after = [s for s in snap.steps if s.step > changes[-1].step]
    assert before and all(s.tau == 1.0 and s.lr == 1e-3 for s in before)
    assert after and all(s.tau == 0.3 and s.lr == 2e-4 for s in after)
    saved = load_checkpoint(snap.checkpoint).metadata["changes"]
    assert [(c["name"], c["value"]) for c in saved] == [("tau", 0.3), ("lr", 2e-4)]
