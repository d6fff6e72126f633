"""Small guards every core module shares: argument checks that raise a `ValueError` a user
can act on, and a context manager that evaluates a model without leaving it changed."""

from __future__ import annotations

import math
import operator
import reprlib
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def shown(value: object) -> str:
    """A value as an error message quotes it: a long or deeply nested one cut short (reprlib),
    an int too long to print (Python refuses over 4,300 digits) by its size."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > 64:
            return f"a number of about {'-' if value < 0 else ''}10^{int(value.bit_length() * math.log10(2))}"
        return f"{value:,}"
    return reprlib.repr(value)


def whole_number(value: object, what: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """`value` as an int in [minimum, maximum]; bools, floats and strings are refused rather than truncated."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a whole number, got {value!r}.")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{what} must be a whole number, got {shown(value)}.") from None
    if minimum is not None and number < minimum:
        raise ValueError(f"{what} must be at least {minimum:,}, got {shown(number)}.")
    if maximum is not None and number > maximum:
        raise ValueError(f"{what} must be at most {maximum:,}, got {shown(number)}.")
    return number


def positive_number(value: float, what: str) -> float:
    """A finite number > 0 (a temperature, a learning rate)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a finite number > 0, got {value!r}.")
    return float(value)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode with gradients off, its previous mode restored even on an error."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield model
    finally:
        model.train(was_training)
