"""Editing a trained model's discrete code: codes as class indices, decoded to digits.

A code is a vector of `latent_vars` class indices (one active class per variable); this
module turns it into one-hots, decodes it and builds the sweeps the Latent editor shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.vae import CategoricalVAE


def _device(model: CategoricalVAE) -> torch.device:
    return next(model.parameters()).device


def check_code(model: CategoricalVAE, code: torch.Tensor | list[int]) -> torch.Tensor:
    """A code as an int64 tensor of class indices, validated against the model."""
    code = torch.as_tensor(code, dtype=torch.long)
    vars_, classes = model.config.latent_vars, model.config.classes
    if code.shape != (vars_,):
        raise ValueError(f"a code needs {vars_} class indices, got shape {tuple(code.shape)}.")
    if code.min() < 0 or code.max() >= classes:
        raise ValueError(f"class indices must lie in 0..{classes - 1}.")
    return code


def check_variable(model: CategoricalVAE, variable: int) -> int:
    if not 0 <= variable < model.config.latent_vars:
        raise ValueError(f"variable must lie in 0..{model.config.latent_vars - 1}, got {variable}.")
    return int(variable)


def one_hot_codes(model: CategoricalVAE, codes: torch.Tensor) -> torch.Tensor:
    """(n, latent_vars) indices -> (n, latent_vars, classes) one-hots on the model's device."""
    return F.one_hot(codes.to(_device(model)), model.config.classes).float()


def soft_code(model: CategoricalVAE, positions: torch.Tensor | list[float]) -> torch.Tensor:
    """A relaxed code (latent_vars, classes) from each variable's position on its class axis:
    between the two nearest classes, linearly (a point on an edge of the simplex), so a whole
    number is that class's one-hot. The Latent editor's drag makes these in the browser
    (browser/latent_editor.js), from the same positions."""
    positions = torch.as_tensor(positions, dtype=torch.float64)
    vars_, classes = model.config.latent_vars, model.config.classes
    if positions.shape != (vars_,):
        raise ValueError(f"a soft code needs {vars_} positions, got shape {tuple(positions.shape)}.")
    if not (positions.isfinite().all() and positions.min() >= 0 and positions.max() <= classes - 1):
        raise ValueError(f"positions must lie in 0..{classes - 1}.")
    low = positions.floor().clamp_max(classes - 1).long()
    share = positions - low
    code = torch.zeros(vars_, classes, dtype=torch.float64)
    code.scatter_(1, low.unsqueeze(1), (1 - share).unsqueeze(1))
    high = (low + 1).clamp_max(classes - 1)
    code.scatter_add_(1, high.unsqueeze(1), torch.where(low < classes - 1, share, 0.0).unsqueeze(1))
    return code.float().to(_device(model))


def nearest_code(positions: torch.Tensor | list[float]) -> torch.Tensor:
    """The one-hot code closest to a soft code's positions: each rounded half up, as class indices."""
    return torch.floor(torch.as_tensor(positions, dtype=torch.float64) + 0.5).long()


@torch.inference_mode()
def decode_codes(model: CategoricalVAE, codes: torch.Tensor) -> torch.Tensor:
    """Decoded digits (n, 28, 28) on the CPU for (n, latent_vars) class indices."""
    pixels = model.decode(one_hot_codes(model, codes))
    side = round(model.config.input_dim**0.5)
    return pixels.reshape(-1, side, side).cpu()


def decode_code(model: CategoricalVAE, code: torch.Tensor | list[int]) -> torch.Tensor:
    return decode_codes(model, check_code(model, code).unsqueeze(0))[0]


@torch.inference_mode()
def encode_digit(model: CategoricalVAE, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """q(z | x) for one image in [0, 1]: its probabilities (latent_vars, classes) and most likely code."""
    if image.numel() != model.config.input_dim:
        raise ValueError(f"the image must have {model.config.input_dim} pixels, got {image.numel()}.")
    logits = model.encode(image.reshape(1, -1).float().to(_device(model)))[0]
    probs = torch.softmax(logits, -1).cpu()
    return probs, probs.argmax(-1)


def prior_code(model: CategoricalVAE, seed: int) -> torch.Tensor:
    """A code drawn from the uniform prior."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(model.config.classes, (model.config.latent_vars,), generator=generator)


def set_class(model: CategoricalVAE, code: torch.Tensor | list[int], variable: int, cls: int) -> torch.Tensor:
    """A copy of the code with one variable switched to another class."""
    code = check_code(model, code).clone()
    variable = check_variable(model, variable)
    if not 0 <= cls < model.config.classes:
        raise ValueError(f"class must lie in 0..{model.config.classes - 1}, got {cls}.")
    code[variable] = cls
    return code


def randomize_variable(model: CategoricalVAE, code: torch.Tensor | list[int], variable: int, seed: int) -> torch.Tensor:
    """A copy of the code with one variable redrawn uniformly among the *other* classes."""
    code = check_code(model, code)
    variable = check_variable(model, variable)
    generator = torch.Generator().manual_seed(seed)
    shift = 1 + int(torch.randint(model.config.classes - 1, (1,), generator=generator))
    return set_class(model, code, variable, (int(code[variable]) + shift) % model.config.classes)


def variable_sweep(model: CategoricalVAE, code: torch.Tensor | list[int], variable: int) -> torch.Tensor:
    """The code decoded with each class of one variable in turn: (classes, 28, 28)."""
    code = check_code(model, code)
    variable = check_variable(model, variable)
    codes = code.repeat(model.config.classes, 1)
    codes[:, variable] = torch.arange(model.config.classes)
    return decode_codes(model, codes)


def interpolation_path(
    model: CategoricalVAE, start: torch.Tensor | list[int], end: torch.Tensor | list[int]
) -> torch.Tensor:
    """Codes from start to end, switching one differing variable per step (in variable order)."""
    start, end = check_code(model, start), check_code(model, end)
    path = [start.clone()]
    for variable in torch.nonzero(start != end).flatten().tolist():
        step = path[-1].clone()
        step[variable] = end[variable]
        path.append(step)
    return torch.stack(path)


@dataclass(frozen=True)
class CodeViews:
    """What the Latent editor shows of one code: its digit, one variable's sweep, a path."""

    digit: torch.Tensor  # (28, 28)
    sweep: torch.Tensor  # (classes, 28, 28): `variable` set to each class
    path: torch.Tensor  # (steps, 28, 28): one variable at a time to the prior sample `target_seed`


def code_views(model: CategoricalVAE, code: torch.Tensor | list[int], variable: int, target_seed: int) -> CodeViews:
    """Every decoding the editor draws for a code, in one call a page can cache."""
    code = check_code(model, code)
    path = interpolation_path(model, code, prior_code(model, target_seed))
    return CodeViews(decode_code(model, code), variable_sweep(model, code, variable), decode_codes(model, path))
