"""Figures of the latent editor: the one-hot code as a clickable grid, and the encoder's
probabilities for a digit."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch

from core.figures.style import PALETTE, figure


def code_grid_figure(
    code: torch.Tensor,
    classes: int,
    selected: int | None = None,
    height: int = 360,
    title: str = "Code: one active class per variable (click a cell)",
) -> go.Figure:
    """The one-hot code as a clickable grid: variables across, classes down, active cells dark."""
    variables = code.numel()
    xs = np.repeat(np.arange(variables), classes)
    ys = np.tile(np.arange(classes), variables)
    active = (code.numpy()[xs] == ys).astype(float)
    data: list[dict[str, Any]] = [
        dict(
            type="scatter",
            x=xs,
            y=ys,
            mode="markers",
            marker=dict(
                symbol="square",
                size=22,
                color=active,
                colorscale=[[0, "#e8eef7"], [1, "#1f3b73"]],
                cmin=0,
                cmax=1,
                line=dict(width=2, color="white"),
            ),
            hovertemplate="variable %{x}, class %{y}<extra>click to activate</extra>",
            showlegend=False,
        )
    ]
    layout = dict(
        xaxis=dict(
            title_text="variable",
            tickmode="linear",
            dtick=1,
            range=[-0.7, variables - 0.3],
            showgrid=False,
            zeroline=False,
            fixedrange=True,
        ),
        yaxis=dict(
            title_text="class",
            tickmode="linear",
            dtick=1,
            range=[classes - 0.3, -0.7],
            showgrid=False,
            zeroline=False,
            fixedrange=True,
        ),
        clickmode="event+select",
        dragmode=False,
    )
    if selected is not None:
        layout["shapes"] = [
            dict(
                type="rect",
                x0=selected - 0.5,
                x1=selected + 0.5,
                y0=-0.6,
                y1=classes - 0.4,
                line=dict(color=PALETTE[1], width=3),
            )
        ]
    return figure(data, layout, title, height)


def probabilities_figure(
    probabilities: torch.Tensor,
    code: torch.Tensor,
    height: int = 320,
    title: str = "Encoder probabilities q(z | x) for the test digit",
) -> go.Figure:
    """The encoder's q(z | x) per variable and class; dots mark the code's active cells."""
    variables, classes = probabilities.shape
    data: list[dict[str, Any]] = [
        dict(
            type="heatmap",
            z=probabilities.T.numpy(),
            x=list(range(variables)),
            y=list(range(classes)),
            zmin=0,
            zmax=1,
            colorscale="Blues",
            colorbar=dict(title=dict(text="q")),
            hovertemplate="variable %{x}, class %{y}: q = %{z:.3f}<extra></extra>",
        ),
        dict(
            type="scatter",
            x=list(range(variables)),
            y=code.tolist(),
            mode="markers",
            name="code",
            marker=dict(size=7, color=PALETTE[1]),
            hoverinfo="skip",
        ),
    ]
    layout = dict(
        xaxis=dict(title_text="variable", tickmode="linear", dtick=1, fixedrange=True),
        yaxis=dict(title_text="class", tickmode="linear", dtick=1, autorange="reversed", fixedrange=True),
    )
    return figure(data, layout, title, height)
