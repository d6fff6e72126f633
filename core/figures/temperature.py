"""Figures the server still draws of the Temperature page's subject: relaxed samples on the
simplex (Home's picture) and the Gumbel-max frequency check. The Temperature page's live pictures
are drawn in the browser (browser/temperature.js)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import torch

from core.figures.style import PALETTE, class_labels, figure, panels, tau_titles
from core.studies.temperature import FrequencyCheck


def simplex_figure(
    taus: Sequence[float], cloud: torch.Tensor, probabilities: torch.Tensor, height: int = 380
) -> go.Figure:
    """Ternary scatter of relaxed 3-class samples per temperature; the star is softmax(logits)."""
    t = len(taus)
    _, layout = panels(t, tau_titles(taus), gap=0.05)
    p = probabilities.tolist()
    axis = dict(showticklabels=False, ticks="")
    data = []
    for i in range(t):
        name = "ternary" if i == 0 else f"ternary{i + 1}"
        points = cloud[i]
        # The corner titles hang below the domain, where no margin is kept for them: lift it off the legend.
        layout[name] = dict(
            domain=dict(x=layout["xaxis" if i == 0 else f"xaxis{i + 1}"]["domain"], y=[0.1, 0.9]),
            sum=1,
            aaxis=dict(title="0", **axis),
            baxis=dict(title="1", **axis),
            caxis=dict(title="2", **axis),
        )
        data.append(
            dict(
                type="scatterternary",
                a=points[:, 0].numpy(),
                b=points[:, 1].numpy(),
                c=points[:, 2].numpy(),
                subplot=name,
                mode="markers",
                marker=dict(size=4, opacity=0.45, color=PALETTE[0]),
                name="relaxed samples",
                showlegend=i == 0,
                hovertemplate="(%{a:.2f}, %{b:.2f}, %{c:.2f})<extra></extra>",
            )
        )
        data.append(
            dict(
                type="scatterternary",
                a=[p[0]],
                b=[p[1]],
                c=[p[2]],
                subplot=name,
                mode="markers",
                marker=dict(symbol="star", size=16, color=PALETTE[1]),
                name="softmax(logits)",
                showlegend=i == 0,
            )
        )
    for key in [k for k in layout if k.startswith(("xaxis", "yaxis"))]:
        del layout[key]
    return figure(data, layout, "Relaxed samples on the simplex (corners are one-hot)", height, panels=True)


def frequency_figure(check: FrequencyCheck, height: int = 340) -> go.Figure:
    """Gumbel-max sample frequencies (bars) against softmax(logits) (diamonds); the page states
    the χ² test beside it, as a title would be cut on a narrow chart."""
    frequencies, probabilities, draws = check.frequencies, check.probabilities, check.draws
    classes = class_labels(probabilities.numel())
    data: list[dict[str, Any]] = [
        dict(
            type="bar",
            x=classes,
            y=frequencies.tolist(),
            name=f"frequency ({draws:,} draws)",
            marker_color=PALETTE[2],
            hovertemplate="class %{x}: %{y:.4f}<extra></extra>",
        ),
        dict(
            type="scatter",
            x=classes,
            y=probabilities.tolist(),
            mode="markers",
            name="softmax(logits)",
            marker=dict(symbol="diamond", size=12, color=PALETTE[1]),
        ),
    ]
    layout = dict(xaxis=dict(title_text="class", type="category"), yaxis=dict(title_text="probability"))
    return figure(data, layout, "Gumbel-max vs softmax", height)
