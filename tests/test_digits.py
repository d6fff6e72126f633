"""A drawing made MNIST-like: crop, fit into 20x20, centre by the centre of mass in 28x28."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.digits import ink_from_png, ink_from_rgba, mnist_like, read_drawing
from core.store.checkpoints import load_checkpoint
from tests.apptest import REPO


def canvas_from(digit: torch.Tensor, scale: int = 10, offset: tuple[int, int] = (17, 93)) -> np.ndarray:
    """An MNIST digit as the drawing canvas would send it: RGBA, black ink on white, 10x larger and
    off-centre on a 400x400 canvas."""
    scaled = F.interpolate(digit[None, None], scale_factor=scale, mode="bilinear")[0, 0].clamp(0, 1)
    big = torch.zeros(400, 400)
    big[offset[0] : offset[0] + scaled.shape[0], offset[1] : offset[1] + scaled.shape[1]] = scaled
    grey = ((1 - big) * 255).round().to(torch.uint8).numpy()
    return np.dstack([grey, grey, grey, np.full_like(grey, 255)])


def centre_of_mass(image: torch.Tensor) -> tuple[float, float]:
    ys = torch.arange(image.shape[0], dtype=torch.float32)
    mass = image.sum()
    return float((image.sum(1) * ys).sum() / mass), float((image.sum(0) * ys).sum() / mass)


def test_an_mnist_digit_redrawn_off_centre_comes_back_close_to_itself(mnist):
    test = mnist[1].pixels().reshape(-1, 28, 28)
    for index in range(8):
        original = test[index]
        again = mnist_like(ink_from_rgba(canvas_from(original)))
        assert again is not None and again.shape == (28, 28)
        assert float(again.max()) == pytest.approx(1.0)
        com = centre_of_mass(again)
        assert abs(com[0] - 14) <= 0.5 and abs(com[1] - 14) <= 0.5  # MNIST's own mean is (14.0, 14.0)
        ink = torch.nonzero(again > 0.05)
        height, width = (ink.max(0).values - ink.min(0).values + 1).tolist()
        assert max(height, width) == 20  # fitted into the 20x20 box, aspect kept
        # Close to itself: the mean absolute difference is small next to the digit's own ink.
        assert (again - original).abs().mean() < 0.55 * original.mean(), index
        assert F.cosine_similarity(again.flatten(), original.flatten(), 0) > 0.85, index


def test_aspect_ratio_is_kept_and_an_empty_canvas_is_none():
    ink = torch.zeros(200, 300)
    ink[50:150, 100:120] = 1.0  # a tall bar: 100 x 20
    image = mnist_like(ink)
    assert image is not None
    rows, cols = torch.nonzero(image > 0.5).T
    assert rows.max() - rows.min() + 1 == 20 and 3 <= cols.max() - cols.min() + 1 <= 5
    assert mnist_like(torch.zeros(50, 50)) is None
    with pytest.raises(ValueError):
        mnist_like(torch.zeros(3, 50, 50))


def test_transparent_paper_and_png_bytes():
    import io

    from PIL import Image

    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[10:30, 18:22] = (0, 0, 0, 255)  # black ink, transparent elsewhere
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, "PNG")
    ink = ink_from_png(buffer.getvalue())
    assert ink.shape == (40, 40) and ink[20, 20] == 1.0 and ink[0, 0] == 0.0
    with pytest.raises(ValueError):
        ink_from_rgba(np.zeros((4, 4, 2)))


def test_read_drawing_gives_probabilities_code_and_decoding(mnist):
    model = load_checkpoint(REPO / "checkpoints" / "best.pt").model
    drawn = read_drawing(model, ink_from_rgba(canvas_from(mnist[1].pixels()[0].reshape(28, 28))))
    assert drawn is not None
    assert drawn.probabilities.shape == (30, 10) and torch.allclose(drawn.probabilities.sum(-1), torch.ones(30))
    assert torch.equal(drawn.code, drawn.probabilities.argmax(-1)) and drawn.decoded.shape == (28, 28)
    assert read_drawing(model, torch.zeros(10, 10)) is None
