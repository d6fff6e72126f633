"""Digits as pictures: (n, 28, 28) images tiled into one heatmap, ink dark on white."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from core.figures.style import figure


def tile_images(images: torch.Tensor, columns: int, pad: int = 2) -> torch.Tensor:
    """Lay (n, h, w) images out as one (rows*(h+pad), columns*(w+pad)) canvas."""
    if images.dim() != 3:
        raise ValueError(f"images must have shape (n, height, width), got {tuple(images.shape)}.")
    n, h, w = images.shape
    columns = max(1, min(columns, n))
    rows = math.ceil(n / columns)
    canvas = torch.full((rows * (h + pad) - pad, columns * (w + pad) - pad), 0.2)
    for i, image in enumerate(images.float().cpu()):
        r, c = divmod(i, columns)
        canvas[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = image
    return canvas


def digit_picture(image: torch.Tensor, scale: int = 8) -> np.ndarray:
    """A digit (or digits tiled by `tile_images`) in [0, 1] as a uint8 greyscale picture `scale`
    times larger, ink dark on white, enlarged without blur: a few kB of PNG where a heatmap
    figure of the same digits is tens to hundreds of kB."""
    if image.dim() != 2:
        raise ValueError(f"a picture must have shape (height, width), got {tuple(image.shape)}.")
    pixels = ((1 - image.float().cpu().clamp(0, 1)) * 255).round().to(torch.uint8)
    return pixels.repeat_interleave(scale, 0).repeat_interleave(scale, 1).numpy()


def digits_figure(
    images: torch.Tensor,
    columns: int = 8,
    title: str | None = None,
    height: int | None = None,
    labels: Sequence[str] | None = None,
) -> go.Figure:
    """Grayscale digits (n, 28, 28) in [0, 1], ink dark on white, tiled in a grid."""
    canvas = tile_images(images, columns)
    data = [
        dict(
            type="heatmap",
            z=canvas.numpy(),
            colorscale="gray_r",
            zmin=0,
            zmax=1,
            showscale=False,
            hovertemplate="intensity %{z:.2f}<extra></extra>",
        )
    ]
    layout = dict(
        yaxis=dict(autorange="reversed", visible=False, scaleanchor="x", constrain="domain"),
        xaxis=dict(visible=False, constrain="domain"),
        margin=dict(l=10, r=10, t=50 if title else 10, b=10),
    )
    if labels:
        _, h, w = images.shape
        cols = max(1, min(columns, images.shape[0]))
        layout["annotations"] = [
            dict(
                x=c * (w + 2) + w / 2,
                y=r * (h + 2) - 0.5,
                text=text,
                showarrow=False,
                yanchor="bottom",
                font=dict(size=14),
            )
            for i, text in enumerate(labels)
            for r, c in [divmod(i, cols)]
        ]
    return figure(data, layout, title, height)
