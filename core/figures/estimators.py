"""Plotly figures for the gradient estimator lab: data in, `go.Figure` out.

Sized for a projector: large fonts, one legend shared by all panels (clicking an estimator
hides it everywhere), log axes where the numbers span decades.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.estimators import TEMPERATURE_FREE, Comparison
from core.figures.style import style
from core.names import ESTIMATOR_LABELS

COLORS: dict[str, str] = {
    "score_function": "#7f7f7f",
    "score_function_loo": "#2ca02c",
    "gumbel_softmax": "#1f77b4",
    "straight_through": "#ff7f0e",
    "gumbel_rao": "#d62728",
    "plain_straight_through": "#9467bd",
    "muprop": "#8c564b",
}

# (metric, panel title with units, log y axis)
PANELS: tuple[tuple[str, str, bool], ...] = (
    ("bias", "Bias ‖E[ĝ] − ∇‖<br>(f per logit)", True),
    ("variance", "Variance E‖ĝ − E[ĝ]‖²<br>((f per logit)²)", True),
    ("mse", "Mean squared error E‖ĝ − ∇‖²<br>((f per logit)²)", True),
    ("cosine", "Cosine of one draw to ∇<br>(−1 to 1)", False),
)


def estimator_label(comparison: Comparison, estimator: str) -> str:
    label = ESTIMATOR_LABELS.get(estimator, estimator)
    return f"{label} (M = {comparison.rao_samples})" if estimator == "gumbel_rao" else label


def estimator_figure(comparison: Comparison) -> go.Figure:
    """Bias, variance, MSE and cosine similarity against temperature, one line per estimator.

    Score-function estimators do not depend on the temperature: dashed flat lines. In the
    bias panel, dotted lines mark each estimator's Monte-Carlo floor sqrt(variance / N):
    a bias at its floor is indistinguishable from zero with N draws.
    """
    figure = make_subplots(
        rows=2,
        cols=2,
        subplot_titles=[title for _, title, _ in PANELS],
        horizontal_spacing=0.1,
        vertical_spacing=0.16,
    )
    taus = list(comparison.temperatures)
    for index, (metric, _, log_y) in enumerate(PANELS):
        row, col = divmod(index, 2)
        for estimator in comparison.estimators:
            flat = estimator in TEMPERATURE_FREE
            line = {"color": COLORS.get(estimator), "width": 3, "dash": "dash" if flat else "solid"}
            label = estimator_label(comparison, estimator)
            figure.add_trace(
                go.Scatter(
                    x=taus,
                    y=comparison.series(estimator, metric),
                    name=label,
                    legendgroup=estimator,
                    showlegend=index == 0,
                    mode="lines" if flat else "lines+markers",
                    line=line,
                    marker={"size": 9},
                    hovertemplate=f"{label}: %{{y:.3g}}<extra></extra>",
                ),
                row=row + 1,
                col=col + 1,
            )
            if metric == "bias":
                figure.add_trace(
                    go.Scatter(
                        x=taus,
                        y=comparison.series(estimator, "bias_floor"),
                        name=f"{label}: noise floor",
                        legendgroup=estimator,
                        showlegend=False,
                        mode="lines",
                        line={"color": COLORS.get(estimator), "width": 2, "dash": "dot"},
                        hovertemplate=f"{label} noise floor: %{{y:.3g}}<extra></extra>",
                    ),
                    row=row + 1,
                    col=col + 1,
                )
        figure.update_xaxes(
            type="log",
            title_text="temperature τ",
            tickvals=taus,
            ticktext=[f"{tau:g}" for tau in taus],
            row=row + 1,
            col=col + 1,
        )
        if log_y:
            figure.update_yaxes(type="log", dtick=1, exponentformat="power", row=row + 1, col=col + 1)
    title = f"How far from the exact gradient: {comparison.problem}, N = {comparison.draws} draws"
    return style(
        figure,
        title,
        900,
        panels=True,
        template="plotly_white",
        hovermode="x unified",
        margin=dict(l=80, r=30, t=110, b=40),
    )


def gradient_figure(comparison: Comparison, tau: float, logit_labels: list[str] | None = None) -> go.Figure:
    """The exact gradient beside each estimator's mean over N draws at one temperature."""
    if tau not in comparison.temperatures:
        raise ValueError(f"temperature {tau} was not computed; choose one of {list(comparison.temperatures)}.")
    exact = comparison.exact.reshape(-1).tolist()
    labels = logit_labels or _logit_labels(*comparison.exact.shape)
    if len(labels) != len(exact):
        raise ValueError(f"give one label per logit ({len(exact)}), got {len(labels)}.")
    figure = go.Figure(go.Bar(x=labels, y=exact, name="Exact gradient ∇", marker_color="black"))
    for stats in comparison.stats:
        if stats.tau not in (tau, None):
            continue
        label = estimator_label(comparison, stats.estimator)
        figure.add_trace(
            go.Bar(
                x=labels,
                y=stats.mean.reshape(-1).tolist(),
                name=f"{label}, mean",
                marker_color=COLORS.get(stats.estimator),
            )
        )
    figure.update_layout(barmode="group", yaxis_title="d E[f] / d logit (f per logit)")
    return style(
        figure, f"Mean estimate vs exact gradient at τ = {tau:g}", 560, template="plotly_white", hovermode="x unified"
    )


def _logit_labels(variables: int, classes: int) -> list[str]:
    if variables == 1:
        return [f"class {k}" for k in range(classes)]
    return [f"v{v} class {k}" for v in range(variables) for k in range(classes)]
