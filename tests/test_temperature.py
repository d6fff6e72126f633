"""The Temperature page's numbers: shared noise, closeness to one-hot, the Gumbel-max check."""

import pytest
import torch

from core.studies.temperature import (
    categorical_probabilities,
    gumbel_max_check,
    logit_preset,
    one_hotness_curve,
    simplex_cloud,
    study_temperatures,
)


def test_presets_have_the_right_shape_and_modes():
    assert logit_preset("uniform", 4) == [0.0] * 4
    peaked = logit_preset("peaked", 5)
    assert max(range(5), key=peaked.__getitem__) == 0
    two = logit_preset("two modes", 6)
    assert sorted(two)[-2:] == [1.0, 1.0] and two[0] == 1.0
    with pytest.raises(ValueError, match="between 2 and 10"):
        logit_preset("uniform", 11)
    with pytest.raises(ValueError, match="unknown preset"):
        logit_preset("spiky", 3)


def test_mean_relaxed_sample_matches_softmax_only_at_low_temperature():
    logits = [2.0, 0.0, -1.0]
    study = study_temperatures(logits, [0.05, 5.0], draws=20000, seed=0)
    probs = categorical_probabilities(logits)
    cold, hot = study.means
    assert torch.allclose(cold, probs, atol=4 * study.mean_errors[0].max().item() + 0.01)
    assert (hot - probs).abs().max() > 0.2  # hot samples drift to the centre of the simplex
    assert torch.allclose(study.means.sum(-1), torch.ones(2, dtype=study.means.dtype))


def test_shown_samples_share_noise_across_temperatures():
    study = study_temperatures([1.0, 0.5, 0.0, -0.5], [0.1, 1.0, 10.0], shown=6, seed=3)
    argmax = study.shown.argmax(-1)
    assert (argmax == argmax[0]).all()  # same noise: the winner is the same class at every temperature
    largest = study.shown.amax(-1)  # (T, S): each sample moves towards the centre as tau grows
    assert (largest[:-1] > largest[1:]).all()


def test_seed_reproduces_and_changes_draws():
    a = study_temperatures([0.0, 1.0], [1.0], seed=1).shown
    b = study_temperatures([0.0, 1.0], [1.0], seed=1).shown
    c = study_temperatures([0.0, 1.0], [1.0], seed=2).shown
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_one_hotness_curve_runs_from_one_hot_to_uniform():
    taus, values = one_hotness_curve([0.0, 0.0, 0.0, 0.0])
    assert values[0] > 0.99 and values[-1] < 0.3
    assert (values[:-1] >= values[1:] - 1e-9).all()
    assert taus[0] < taus[-1]


def test_simplex_cloud_needs_three_classes():
    cloud = simplex_cloud([0.0, 1.0, 2.0], [0.5, 2.0], draws=50)
    assert cloud.shape == (2, 50, 3)
    assert torch.allclose(cloud.sum(-1), torch.ones(2, 50, dtype=cloud.dtype))
    with pytest.raises(ValueError, match="exactly 3 classes"):
        simplex_cloud([0.0, 1.0], [1.0])


def test_gumbel_max_check_accepts_exact_sampler_and_skips_impossible_classes():
    check = gumbel_max_check([1.0, float("-inf"), 0.0, 2.0], draws=20000, seed=0)
    assert check.counts[1] == 0
    assert check.counts.sum() == 20000
    assert check.p_value > 0.001


def test_gumbel_max_check_p_value_detects_a_wrong_reference(monkeypatch):
    import core.studies.temperature as temperature

    real = temperature.gumbel_argmax
    monkeypatch.setattr(temperature, "gumbel_argmax", lambda logits, generator: real(logits * 1.3, generator=generator))
    assert gumbel_max_check([1.0, 0.0, -1.0], draws=20000, seed=0).p_value < 1e-6


@pytest.mark.parametrize("taus", [[], [0.0], [float("nan")]])
def test_bad_temperatures(taus):
    with pytest.raises(ValueError):
        study_temperatures([0.0, 1.0], taus)
