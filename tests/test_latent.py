"""Code editing on a small model: validation, sweeps, interpolation, encoding a digit."""

import numpy as np
import pytest
import torch

from core.figures.images import digit_picture
from core.studies import latent
from core.vae import CategoricalVAE, VAEConfig


@pytest.fixture
def model():
    torch.manual_seed(0)
    return CategoricalVAE(VAEConfig(latent_vars=4, classes=3, hidden=(16,), input_dim=16)).eval()


def test_set_class_changes_one_variable_and_the_decoding(model):
    code = torch.tensor([0, 1, 2, 0])
    edited = latent.set_class(model, code, 2, 0)
    assert edited.tolist() == [0, 1, 0, 0] and code.tolist() == [0, 1, 2, 0]
    assert not torch.equal(latent.decode_code(model, code), latent.decode_code(model, edited))
    assert latent.decode_code(model, code).shape == (4, 4)


@pytest.mark.parametrize("code", [[0, 1, 2], [0, 1, 2, 3], [-1, 0, 0, 0]])
def test_bad_codes_are_refused(model, code):
    with pytest.raises(ValueError):
        latent.decode_code(model, code)


def test_bad_variable_and_class(model):
    with pytest.raises(ValueError, match="variable"):
        latent.set_class(model, [0, 0, 0, 0], 4, 0)
    with pytest.raises(ValueError, match="class"):
        latent.set_class(model, [0, 0, 0, 0], 0, 3)


def test_randomize_always_moves_the_variable(model):
    code = torch.tensor([0, 1, 2, 0])
    for seed in range(20):
        new = latent.randomize_variable(model, code, 1, seed)
        assert new[1] != 1 and torch.equal(new[[0, 2, 3]], code[[0, 2, 3]])


def test_sweep_decodes_every_class_of_one_variable(model):
    code = torch.tensor([0, 1, 2, 0])
    sweep = latent.variable_sweep(model, code, 3)
    assert sweep.shape == (3, 4, 4)
    for cls in range(3):
        assert torch.allclose(sweep[cls], latent.decode_code(model, latent.set_class(model, code, 3, cls)))


def test_interpolation_switches_one_differing_variable_per_step(model):
    start, end = torch.tensor([0, 1, 2, 0]), torch.tensor([2, 1, 0, 0])
    path = latent.interpolation_path(model, start, end)
    assert path[0].tolist() == start.tolist() and path[-1].tolist() == end.tolist()
    assert len(path) == 3  # two variables differ
    assert ((path[1:] != path[:-1]).sum(-1) == 1).all()


def test_encode_digit_returns_q_and_its_mode(model):
    image = torch.rand(16, generator=torch.Generator().manual_seed(0))
    probs, code = latent.encode_digit(model, image)
    assert probs.shape == (4, 3) and torch.allclose(probs.sum(-1), torch.ones(4))
    assert torch.equal(code, probs.argmax(-1))
    with pytest.raises(ValueError, match="pixels"):
        latent.encode_digit(model, torch.rand(15))


def test_prior_codes_are_seeded(model):
    assert torch.equal(latent.prior_code(model, 5), latent.prior_code(model, 5))
    codes = torch.stack([latent.prior_code(model, s) for s in range(50)])
    assert codes.min() == 0 and codes.max() == 2


def test_code_views_match_the_single_decodings(model):
    code = latent.prior_code(model, 3)
    views = latent.code_views(model, code, variable=2, target_seed=9)
    assert torch.equal(views.digit, latent.decode_code(model, code))
    assert torch.allclose(views.sweep[int(code[2])], views.digit)
    assert torch.allclose(views.path[0], views.digit)
    assert torch.allclose(views.path[-1], latent.decode_code(model, latent.prior_code(model, 9)))


def test_digit_picture_is_a_crisp_uint8_image_ink_dark():
    image = torch.zeros(28, 28)
    image[3, 5] = 1.0
    picture = digit_picture(image, scale=4)
    assert picture.dtype == np.uint8 and picture.shape == (112, 112)
    assert picture[12:16, 20:24].max() == 0 and picture[0, 0] == 255 and picture[11, 20] == 255


def test_soft_code_lies_between_the_two_nearest_classes(model):
    """Each variable's row is on the simplex edge between floor and ceil of its position."""
    code = latent.soft_code(model, [0.0, 0.25, 1.5, 2.0])
    expected = torch.tensor([[1.0, 0.0, 0.0], [0.75, 0.25, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])
    assert torch.equal(code, expected)
    assert torch.equal(
        latent.soft_code(model, [0, 1, 2, 0]), latent.one_hot_codes(model, torch.tensor([[0, 1, 2, 0]]))[0]
    )
    assert latent.nearest_code([0.0, 0.25, 1.5, 2.0]).tolist() == [0, 0, 2, 2]  # halves round up


@pytest.mark.parametrize(
    "positions", [[0.0, 1.0, 2.0], [0.0, 0.0, 0.0, 2.5], [0.0, -0.1, 0.0, 0.0], [float("nan")] * 4]
)
def test_soft_code_refuses_positions_the_model_cannot_have(model, positions):
    with pytest.raises(ValueError):
        latent.soft_code(model, positions)
