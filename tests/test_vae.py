"""The categorical VAE: architecture, sampling modes, the objective, its config."""

import json
import math

import pytest
import torch

from core.vae import (
    MAX_CLASSES,
    MAX_HIDDEN_LAYERS,
    MAX_INPUT_DIM,
    MAX_LATENT_VARS,
    MAX_LAYER_WIDTH,
    MAX_PARAMETERS,
    MODES,
    PRESETS,
    CategoricalVAE,
    VAEConfig,
    kl_terms,
    reconstruction_nll,
    summed_reconstruction_nll,
    vae_loss,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return CategoricalVAE(PRESETS["faithful"])


def test_a_generator_draws_pytorchs_default_initialisation_and_leaves_the_global_state():
    """The same draws as nn.Linear's own initialisation from a global state seeded alike, exactly."""
    torch.manual_seed(11)
    before = torch.get_rng_state()
    drawn = CategoricalVAE(PRESETS["faithful"], gen(5))
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(5)
    default = CategoricalVAE(PRESETS["faithful"])
    pairs = zip(drawn.state_dict().items(), default.state_dict().items(), strict=True)
    assert all(a == b and torch.equal(x, y) for (a, x), (b, y) in pairs)
    assert not torch.equal(drawn.encoder[0].weight, CategoricalVAE(PRESETS["faithful"], gen(6)).encoder[0].weight)


def test_faithful_architecture_is_the_seeds():
    """784-512-256-300 encoder, mirrored decoder, ReLU between layers."""
    vae = CategoricalVAE(PRESETS["faithful"])
    linear = [(m.in_features, m.out_features) for m in vae.encoder if isinstance(m, torch.nn.Linear)]
    assert linear == [(784, 512), (512, 256), (256, 300)]
    linear = [(m.in_features, m.out_features) for m in vae.decoder if isinstance(m, torch.nn.Linear)]
    assert linear == [(300, 256), (256, 512), (512, 784)]
    assert sum(isinstance(m, torch.nn.ReLU) for m in vae.encoder) == 2


@pytest.mark.parametrize("mode", MODES)
def test_shapes_for_each_mode(model, mode):
    x = torch.rand(5, 1, 28, 28, generator=gen(0))
    out = model(x, mode, tau=0.5, generator=gen(1))
    assert out.logits.shape == (5, 30, 10)
    assert out.code.shape == (5, 30, 10)
    assert out.pixel_logits.shape == (5, 784)
    assert (out.scores is None) == (mode == "mode")
    assert torch.allclose(out.code.sum(-1), torch.ones(5, 30), atol=1e-5)
    if mode != "relaxed":
        assert set(out.code.detach().unique().tolist()) <= {0.0, 1.0}
    images = model.decode(out.code)
    assert images.shape == (5, 784) and images.min() >= 0 and images.max() <= 1


def test_encode_decode_shapes(model):
    x = torch.rand(3, 784, generator=gen(0))
    assert model.encode(x).shape == (3, 30, 10)
    assert model.decode_logits(torch.zeros(3, 30, 10)).shape == (3, 784)
    codes = model.random_codes(4, generator=gen(2))
    assert codes.shape == (4, 30, 10) and torch.all(codes.sum(-1) == 1)


def test_mode_is_the_argmax_of_q(model):
    x = torch.rand(4, 784, generator=gen(0))
    out = model(x, "mode")
    assert torch.equal(out.code.argmax(-1), out.logits.argmax(-1))


def test_faithful_logits_are_nonnegative_and_linear_ones_are_not():
    x = torch.rand(64, 784, generator=gen(0))
    torch.manual_seed(0)
    assert CategoricalVAE(PRESETS["faithful"]).encode(x).min() >= 0
    torch.manual_seed(0)
    assert CategoricalVAE(PRESETS["linear"]).encode(x).min() < 0


def test_objective_equals_a_hand_computation():
    """BCE from the sigmoid summed over pixels, plus sum q log(C q), averaged over the batch (float64)."""
    torch.manual_seed(0)
    vae = CategoricalVAE(VAEConfig(latent_vars=3, classes=4, hidden=(16,), input_dim=20)).double()
    x = torch.rand(6, 20, dtype=torch.float64, generator=gen(1))
    out = vae(x, "relaxed", tau=0.7, generator=gen(2))
    got = vae_loss(out.pixel_logits, x, out.logits)

    p = 1 / (1 + torch.exp(-out.pixel_logits))
    bce = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(-1)
    e = torch.exp(out.logits)
    q = e / e.sum(-1, keepdim=True)
    kl = (q * torch.log(4 * q)).sum((-2, -1))

    assert torch.allclose(got.reconstruction, bce.mean(), rtol=1e-10)
    assert torch.allclose(got.kl, kl.mean(), rtol=1e-10)
    assert torch.allclose(got.total, (bce + kl).mean(), rtol=1e-10)


def test_kl_terms_along_a_leading_class_dim_are_the_transposed_terms():
    logits = torch.randn(6, 5, 4, dtype=torch.float64, generator=gen(1))
    q, t = kl_terms(logits)
    q0, t0 = kl_terms(logits.permute(2, 0, 1).contiguous(), dim=0)
    torch.testing.assert_close(q0, q.permute(2, 0, 1), rtol=0, atol=0)
    torch.testing.assert_close(t0, t.permute(2, 0, 1), rtol=0, atol=0)


def test_summed_reconstruction_nll_is_the_per_example_bce_summed_per_stacked_batch():
    x = torch.rand(3, 7, dtype=torch.float64, generator=gen(2))
    pixel_logits = 6 * torch.randn(6, 7, dtype=torch.float64, generator=gen(3))  # two batches of 3
    expected = torch.stack([reconstruction_nll(half, x).sum() for half in pixel_logits.split(3)])
    torch.testing.assert_close(summed_reconstruction_nll(pixel_logits, x), expected, rtol=1e-12, atol=0)


def test_kl_is_zero_for_a_uniform_q():
    logits = torch.zeros(2, 30, 10)
    got = vae_loss(torch.zeros(2, 784), torch.full((2, 784), 0.5), logits)
    assert got.kl.abs() < 1e-6
    assert torch.allclose(got.reconstruction, torch.tensor(784 * math.log(2)))


def test_unknown_mode_raises(model):
    with pytest.raises(ValueError, match="unknown mode 'soft'"):
        model(torch.rand(2, 784), "soft")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"latent_vars": 0},
        {"classes": 1},
        {"input_dim": 0},
        {"hidden": ()},
        {"hidden": (16, 0)},
        {"latent_vars": 2.5},
        {"classes": "10"},
        {"hidden": (16.5,)},
    ],
)
def test_config_validation(kwargs):
    with pytest.raises(ValueError):
        VAEConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"latent_vars": MAX_LATENT_VARS + 1}, f"latent_vars must be at most {MAX_LATENT_VARS:,}"),
        ({"classes": MAX_CLASSES + 1}, f"classes must be at most {MAX_CLASSES:,}"),
        ({"input_dim": MAX_INPUT_DIM + 1}, f"input_dim must be at most {MAX_INPUT_DIM:,}"),
        ({"hidden": (16, MAX_LAYER_WIDTH + 1)}, rf"hidden\[1\] must be at most {MAX_LAYER_WIDTH:,}"),
        ({"hidden": (16,) * (MAX_HIDDEN_LAYERS + 1)}, f"hidden must list 1 to {MAX_HIDDEN_LAYERS} layer sizes"),
        ({"hidden": 512}, "hidden must list the hidden layers' sizes"),
        ({"hidden": "512"}, "hidden must list the hidden layers' sizes"),
        ({"latent_vars": True}, "latent_vars must be a whole number, got True"),
        ({"relu_logits": 1}, "relu_logits must be true or false, got 1"),
        ({"hidden": (4096, 4096)}, f"parameters .* the app supports at most {MAX_PARAMETERS:,}"),
    ],
)
def test_config_bounds_name_the_setting_and_the_bound(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VAEConfig(**kwargs)


def test_each_bound_is_itself_allowed():
    small = {"latent_vars": 2, "classes": 2, "hidden": (16,)}
    for change in (
        {"latent_vars": MAX_LATENT_VARS},
        {"classes": MAX_CLASSES},
        {"input_dim": MAX_INPUT_DIM},
        {"hidden": (MAX_LAYER_WIDTH,)},
        {"hidden": (16,) * MAX_HIDDEN_LAYERS},
    ):
        assert VAEConfig(**(small | change)).parameter_count <= MAX_PARAMETERS


@pytest.mark.parametrize(
    "config",
    [PRESETS["faithful"], PRESETS["jang"], VAEConfig(latent_vars=4, classes=3, hidden=(7, 5, 3), input_dim=6)],
    ids=["faithful", "jang", "three layers"],
)
def test_skeleton_and_parameter_count_match_the_model(config):
    """The meta-device model a file is checked against has the built model's weights, and the
    parameter count the bound uses is the built model's."""
    torch.manual_seed(0)
    built = CategoricalVAE(config).state_dict()
    skeleton = CategoricalVAE.skeleton(config).state_dict()
    assert all(t.is_meta for t in skeleton.values())
    assert {k: (t.shape, t.dtype) for k, t in skeleton.items()} == {k: (t.shape, t.dtype) for k, t in built.items()}
    assert config.parameter_count == sum(t.numel() for t in built.values())


def test_config_dict_round_trip_through_json():
    config = VAEConfig(latent_vars=7, classes=3, hidden=(64, 32, 16), relu_logits=False)
    data = json.loads(json.dumps(config.to_dict()))
    assert VAEConfig.from_dict(data) == config
    assert VAEConfig.from_dict(PRESETS["faithful"].to_dict()) == PRESETS["faithful"]


def test_from_dict_refuses_unknown_settings():
    with pytest.raises(ValueError, match="unknown model settings"):
        VAEConfig.from_dict({"latent_vars": 3, "dropout": 0.5})


def test_from_dict_wants_every_setting_in_a_mapping():
    settings = PRESETS["faithful"].to_dict()
    del settings["relu_logits"]
    with pytest.raises(ValueError, match="missing model settings: relu_logits"):
        VAEConfig.from_dict(settings)
    with pytest.raises(ValueError, match="must be a mapping of names to values, got"):
        VAEConfig.from_dict([("latent_vars", 3)])
