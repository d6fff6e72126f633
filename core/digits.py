"""A hand-drawn digit made to look like an MNIST digit, the way MNIST itself was made (LeCun et
al.): crop to the ink, fit into a 20x20 box preserving the aspect ratio with anti-aliased grey
levels, then place it in a 28x28 image so that its centre of mass is the image's centre.

Plain tensors in, tensors out; the Latent editor feeds it the drawing canvas's pixels."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.studies.latent import decode_code, encode_digit
from core.vae import CategoricalVAE

SIZE = 28
BOX = 20
INK_THRESHOLD = 0.05  # grey levels below this are paper, not ink (canvas anti-aliasing haze)


def ink_from_rgba(pixels: np.ndarray) -> torch.Tensor:
    """Ink in [0, 1] from an RGBA (or RGB, or grey) picture of dark strokes on light or transparent
    paper: 1 - luminance, weighted by opacity."""
    array = np.asarray(pixels)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4) or min(array.shape[:2]) < 1:
        raise ValueError(f"a drawing must be an (height, width, channels) picture, got shape {array.shape}.")
    values = torch.tensor(array, dtype=torch.float32) / 255.0
    colour = values[..., :3] if values.shape[-1] >= 3 else values[..., :1]
    ink = 1.0 - colour.mean(-1)
    if values.shape[-1] == 4:
        ink = ink * values[..., 3]
    return ink.clamp(0, 1)


def ink_from_png(data: bytes) -> torch.Tensor:
    """Ink from PNG bytes (what the drawing canvas sends)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as picture:
        return ink_from_rgba(np.asarray(picture.convert("RGBA")))


def mnist_like(ink: torch.Tensor, box: int = BOX, size: int = SIZE) -> torch.Tensor | None:
    """A (size, size) image in [0, 1] made from `ink` (height, width) as MNIST was made; None
    when there is no ink."""
    if ink.dim() != 2:
        raise ValueError(f"ink must have shape (height, width), got {tuple(ink.shape)}.")
    ink = ink.float().clamp(0, 1)
    rows = torch.nonzero((ink > INK_THRESHOLD).any(1)).flatten()
    cols = torch.nonzero((ink > INK_THRESHOLD).any(0)).flatten()
    if rows.numel() == 0:
        return None
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = box / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    fitted = F.interpolate(crop[None, None], size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
    fitted = fitted[0, 0].clamp(0, 1)
    if fitted.max() > 0:
        fitted = fitted / fitted.max()  # a full stroke is full ink, as in MNIST's 0..255
    mass = fitted.sum()
    ys, xs = torch.arange(new_h, dtype=torch.float32), torch.arange(new_w, dtype=torch.float32)
    com_y = float((fitted.sum(1) * ys).sum() / mass)
    com_x = float((fitted.sum(0) * xs).sum() / mass)
    centre = size / 2  # MNIST's digits have their centre of mass at (14.0, 14.0) on average
    top = min(max(_round(centre - com_y), 0), size - new_h)
    left = min(max(_round(centre - com_x), 0), size - new_w)
    image = torch.zeros(size, size)
    image[top : top + new_h, left : left + new_w] = fitted
    return image


def _round(value: float) -> int:
    return math.floor(value + 0.5)


@dataclass(frozen=True)
class DrawnDigit:
    """A drawing read by a model: the 28x28 image it sees, q(z | x), the mode code and its decoding."""

    image: torch.Tensor  # (28, 28)
    probabilities: torch.Tensor  # (latent_vars, classes)
    code: torch.Tensor  # (latent_vars,)
    decoded: torch.Tensor  # (28, 28)


@torch.no_grad()
def read_drawing(model: CategoricalVAE, ink: torch.Tensor) -> DrawnDigit | None:
    """Preprocess a drawing as MNIST and pass it through the model; None for an empty canvas."""
    image = mnist_like(ink)
    if image is None:
        return None
    probabilities, code = encode_digit(model, image)
    decoded = decode_code(model, code).reshape(SIZE, SIZE).cpu()
    return DrawnDigit(image, probabilities, code, decoded)
