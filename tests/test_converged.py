"""The converged protocol (issue 25): a validation split no step sees, the weights with the best
validation bound kept and early stopping, a learning-rate decay, a number of updates, and runs
that resume exactly where they stopped."""

import dataclasses
import json

import pytest
import torch

from core.data import VALIDATION_BINARIZE_SEED, MNISTSplit, held_out_pixels, split_validation
from core.store.checkpoints import load_checkpoint
from core.training import __main__ as cli
from core.training.config import TrainConfig
from core.training.loop import EpochMetrics, StepMetrics, Trainer
from core.training.record import checkpoint_metadata
from core.training.resume import load_state, save_state, state_path
from core.vae import VAEConfig
from tests.test_training import one_thread  # noqa: F401  (autouse: tiny models on one thread)

TINY = VAEConfig(latent_vars=3, classes=4, hidden=(16,))


def numbered_split(n: int) -> MNISTSplit:
    """Images that say which they are: image i holds i in base 256 in its first two pixels."""
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    index = torch.arange(n)
    images[:, 0, 0], images[:, 0, 1] = (index // 256).to(torch.uint8), (index % 256).to(torch.uint8)
    images[:, 1:, :] = torch.randint(0, 256, (n, 27, 28), generator=torch.Generator().manual_seed(n), dtype=torch.uint8)
    return MNISTSplit(images, index)


def indices(pixels: torch.Tensor) -> set[int]:
    """The numbers of `numbered_split` images, from their (grey-level) pixels."""
    numbers = (pixels[:, 0] * 255).round().long() * 256 + (pixels[:, 1] * 255).round().long()
    return set(numbers.tolist())


def config(**changes) -> TrainConfig:
    base = {"model": TINY, "epochs": 4, "batch_size": 20, "validation": 40, "validate_every": 1}
    return TrainConfig(**(base | {"validation_samples": 3} | changes))


# --- the validation split -------------------------------------------------------------------


def test_the_validation_split_is_the_last_images_and_never_overlaps_the_training_images():
    train = numbered_split(300)
    fit, held = split_validation(train, 100)
    assert len(fit) == 200 and len(held) == 100
    assert fit.labels.tolist() == list(range(200)) and held.labels.tolist() == list(range(200, 300))
    trainer = Trainer(config(validation=100), train, numbered_split(30))
    assert indices(trainer.x_train) == set(range(200))
    assert indices(trainer.x_valid) == set(range(200, 300))
    # a training subset is taken from the training part: it cannot reach into the validation images
    subset = Trainer(config(validation=100, train_subset=250), train, numbered_split(30))
    assert indices(subset.x_train) == set(range(200)) and indices(subset.x_valid) == set(range(200, 300))
    # and no step's batch ever holds a validation image
    seen: set[int] = set()
    batch = trainer.batch
    trainer.batch = lambda idx: (x := batch(idx), seen.update(indices(x)))[0]  # type: ignore[method-assign]
    for _ in trainer.events():
        pass
    assert seen == set(range(200))


def test_the_binarized_validation_images_are_one_fixed_draw_of_their_own(mnist):
    """Every binarized run sees the same validation images (whatever its seed and binarization),
    drawn from the validation images' grey levels with a seed of their own, not the test set's."""
    train, test = mnist
    a = Trainer(config(binarize="static", validation=500, train_subset=100, test_subset=50, seed=0), train, test)
    b = Trainer(config(binarize="dynamic", validation=500, train_subset=100, test_subset=50, seed=7), train, test)
    assert a.x_valid.shape == (500, 784) and torch.equal(a.x_valid, b.x_valid)
    assert set(a.x_valid.unique().tolist()) == {0.0, 1.0}
    grey = train.pixels()[-500:]
    assert torch.equal(a.x_valid[grey == 0], grey[grey == 0]) and torch.equal(a.x_valid[grey == 1], grey[grey == 1])
    held = split_validation(train, 500)[1]
    assert not torch.equal(a.x_valid, held_out_pixels(held, True))  # not the test set's draw
    assert torch.equal(a.x_valid, held_out_pixels(held, True, seed=VALIDATION_BINARIZE_SEED))


@pytest.mark.parametrize("images", [0, 300, -1])
def test_a_validation_split_must_leave_images_to_train_on(images):
    with pytest.raises(ValueError, match="validation images"):
        split_validation(numbered_split(300), images)


def test_settings_of_the_protocol_are_checked():
    for changes, words in [
        ({"lr_decay": 0.0}, "decay"),
        ({"lr_decay": 1.5}, "decay"),
        ({"lr_decay_every": 0}, "decay interval"),
        ({"updates": 0}, "updates"),
        ({"validate_every": 0}, "validate_every"),
        ({"validation_samples": 0}, "samples"),
        ({"validation": 0, "patience": 2}, "needs a validation split"),
    ]:
        with pytest.raises(ValueError, match=words):
            config(**changes)


# --- selection and early stopping -------------------------------------------------------------


def scripted_run(bounds: list[float], **changes):
    """A run whose validation bounds are `bounds` in turn; the weights at each epoch's end."""
    trainer = Trainer(config(epochs=len(bounds), **changes), numbered_split(140), numbered_split(30))
    scripted = iter(bounds)
    trainer.held_out_bounds = lambda: (next(scripted), 0.0)  # type: ignore[method-assign]
    weights, epochs = {}, []
    for event in trainer.events():
        if isinstance(event, EpochMetrics):
            epochs.append(event)
            weights[event.step] = trainer.optimizer.flat.clone()
    return trainer, weights, epochs


def test_the_run_ends_with_the_weights_of_the_best_validation_bound():
    trainer, weights, epochs = scripted_run([9.0, 7.0, 8.0, 7.5, 10.0])
    assert [e.validation_bound for e in epochs] == [9.0, 7.0, 8.0, 7.5, 10.0]
    best = epochs[1].step
    assert trainer.step == epochs[-1].step != best  # it trained to the end ...
    assert torch.equal(trainer.optimizer.flat, weights[best])  # ... and kept the best weights
    assert not torch.equal(weights[best], weights[epochs[-1].step])
    record = checkpoint_metadata(trainer, epochs)
    assert record["final_metrics"]["step"] == best and record["final_metrics"]["test"] == epochs[1].test
    assert record["selection"] == {
        "best_step": best,
        "best_epoch": 2,
        "validation_bound": 7.0,
        "validations": 5,
        "stopped_early": False,
    }


def test_early_stopping_after_patience_validations_without_a_better_bound():
    trainer, weights, epochs = scripted_run([9.0, 7.0, 8.0, 7.5, 6.0, 5.0], patience=2)
    assert len(epochs) == 4  # validations 3 and 4 did not beat 7.0: stop
    assert torch.equal(trainer.optimizer.flat, weights[epochs[1].step])
    assert checkpoint_metadata(trainer, epochs)["selection"]["stopped_early"] is True


def test_the_kept_bound_is_the_bound_of_the_weights_the_run_ends_with():
    """Real bounds: re-measured on the final weights, the validation bound is the best one seen."""
    trainer = Trainer(config(epochs=5), numbered_split(140), numbered_split(30))
    epochs = [e for e in trainer.events() if isinstance(e, EpochMetrics)]
    bounds = [e.validation_bound for e in epochs]
    assert all(b is not None for b in bounds) and all(e.test_bound is not None for e in epochs)
    assert trainer.selection is not None and trainer.selection.bound == min(bounds)
    assert trainer.held_out_bounds()[0] == min(bounds)


def test_validation_comes_at_the_epoch_that_reaches_each_multiple_and_at_the_end():
    trainer = Trainer(config(epochs=7, validate_every=15), numbered_split(140), numbered_split(30))
    trainer.held_out_bounds = lambda: (1.0, 1.0)  # type: ignore[method-assign]
    epochs = [e for e in trainer.events() if isinstance(e, EpochMetrics)]
    assert trainer.steps_per_epoch == 5
    assert [e.step for e in epochs if e.validation_bound is not None] == [15, 30, 35]


# --- learning-rate decay and updates ---------------------------------------------------------


def test_the_learning_rate_decays_by_its_factor_every_interval_and_a_change_overrides_it():
    data = (numbered_split(100), numbered_split(30))
    trainer = Trainer(config(validation=0, lr=1e-2, lr_decay=0.5, lr_decay_every=3, max_steps=8), *data)
    steps = [e for e in trainer.events() if isinstance(e, StepMetrics)]
    assert [e.lr for e in steps] == [1e-2] * 3 + [5e-3] * 3 + [2.5e-3] * 2
    trainer = Trainer(config(validation=0, lr_decay=0.5, lr_decay_every=1), *data)
    trainer.change("lr", 0.3)
    assert trainer.lr_at(10) == 0.3


def test_updates_train_that_many_steps_over_as_many_epochs_as_they_take():
    trainer = Trainer(config(validation=0, updates=12), numbered_split(100), numbered_split(30))
    assert trainer.steps_per_epoch == 5 and trainer.epochs_to_run == 3 and trainer.total_steps == 12
    epochs = [e for e in trainer.events() if isinstance(e, EpochMetrics)]
    assert [e.step for e in epochs] == [5, 10, 12]


# --- resuming ----------------------------------------------------------------------------------


def run_to_end(trainer: Trainer, epochs: list[EpochMetrics]) -> list[EpochMetrics]:
    return epochs + [e for e in trainer.events() if isinstance(e, EpochMetrics)]


def without_time(epochs: list[EpochMetrics]) -> list[EpochMetrics]:
    return [dataclasses.replace(e, seconds=0.0) for e in epochs]


@pytest.mark.parametrize("estimator", ["gumbel_softmax", "score_function"])
def test_a_resumed_run_takes_the_steps_the_uninterrupted_one_takes(tmp_path, estimator):
    settings = {"estimator": estimator, "epochs": 5, "binarize": "dynamic", "lr_decay": 0.7, "lr_decay_every": 4}
    data = (numbered_split(140), numbered_split(30))
    first = Trainer(config(**settings), *data)
    first.change("tau", 0.7)  # a mid-run change travels with the state too
    done = []
    for event in first.events():
        if isinstance(event, EpochMetrics):
            done.append(event)
            if event.epoch == 2:
                save_state(first, done, tmp_path / "s.pt", wall_seconds=12.5)
                break
    resumed = Trainer(config(**settings), *data)
    epochs, seconds = load_state(resumed, tmp_path / "s.pt")
    assert seconds == 12.5 and resumed.step == done[-1].step and resumed.changes == first.changes
    finished = run_to_end(resumed, epochs)
    straight = Trainer(config(**settings), *data)
    straight.change("tau", 0.7)
    reference = run_to_end(straight, [])
    assert len(reference) == 5 and without_time(finished) == without_time(reference)
    assert torch.equal(resumed.optimizer.flat, straight.optimizer.flat)


def test_a_state_of_other_settings_is_refused(tmp_path):
    data = (numbered_split(140), numbered_split(30))
    trainer = Trainer(config(), *data)
    save_state(trainer, [], tmp_path / "s.pt", 0.0)
    with pytest.raises(ValueError, match="other settings"):
        load_state(Trainer(config(seed=1), *data), tmp_path / "s.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a state")
    with pytest.raises(ValueError, match="not a readable training state"):
        load_state(trainer, tmp_path / "bad.pt")
    assert state_path(tmp_path / "run.pt") == tmp_path / "run.state.pt"


def test_the_cli_resumes_a_stopped_run_and_leaves_a_finished_one(data_root, tmp_path, monkeypatch, capsys):
    """Stopped after its first epoch (Ctrl-C), the run continues from there when asked to resume,
    and ends with the weights an uninterrupted run ends with; a finished run is left alone."""
    words = ["--preset", "jang", "--binarize", "static", "--epochs", "3", "--train-subset", "300"]
    words += ["--batch-size", "100", "--validation", "1000", "--validate-every", "2", "--validation-samples", "2"]
    words += ["--threads", "1", "--quiet", "--resume"]
    assert cli.main([*words, "--out", str(tmp_path / "straight")]) == 0

    format_epoch = cli.format_epoch

    def interrupt(event):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "format_epoch", interrupt)
    assert cli.main([*words, "--out", str(tmp_path / "run")]) == 130
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "stopped"
    assert state_path(tmp_path / "run.pt").is_file()
    monkeypatch.setattr(cli, "format_epoch", format_epoch)
    capsys.readouterr()
    assert cli.main([*words, "--out", str(tmp_path / "run")]) == 0
    assert "resuming at step 3 (epoch 1)" in capsys.readouterr().err
    assert not state_path(tmp_path / "run.pt").exists()
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["status"] == "finished" and [h["epoch"] for h in record["history"]] == [1, 2, 3]
    resumed, straight = load_checkpoint(tmp_path / "run.pt"), load_checkpoint(tmp_path / "straight.pt")
    assert all(torch.equal(p, q) for p, q in zip(resumed.model.parameters(), straight.model.parameters(), strict=True))
    assert record["selection"] == json.loads((tmp_path / "straight.json").read_text())["selection"]

    before = (tmp_path / "run.json").read_text()
    assert cli.main([*words, "--out", str(tmp_path / "run")]) == 0
    assert "finished already" in capsys.readouterr().err and (tmp_path / "run.json").read_text() == before


def test_resume_needs_the_runs_place(capsys):
    assert cli.main(["--resume"]) == 2
    assert "--resume needs" in capsys.readouterr().err
