"""The Train page's curves: smoothing against a hand computation, thinning, and the figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.figures.training import (
    diagnostics_figure,
    focus_range,
    objectives_figure,
    prior_samples_figure,
    reconstructions_figure,
)
from core.training.curves import smooth, training_curves
from core.training.live import Preview
from core.training.loop import EpochMetrics, StepMetrics


def _steps(n: int) -> list[StepMetrics]:
    return [
        StepMetrics(
            step=i + 1,
            epoch=1 + i // 10,
            relaxed=200.0 - i,
            unrelaxed=210.0 - i,
            kl=20.0 + i % 3,
            reconstruction=180.0 - i,
            tau=1.0 / (1 + i),
            images_per_second=1000.0,
        )
        for i in range(n)
    ]


def _epoch(epoch: int, step: int, test: float) -> EpochMetrics:
    return EpochMetrics(epoch, step, 1.0, 1.0, 1.0, 1.0, test, 1.0, 1.0, 1.0, 1.0)


def test_smooth_matches_hand_computation():
    # weight 0.5 on [4, 0, 2]: raw averages 2, 1, 1.5; debiased by 1 - 0.5^t: 4, 4/3, 12/7
    assert smooth([4.0, 0.0, 2.0], 0.5) == pytest.approx([4.0, 4 / 3, 12 / 7])


def test_smooth_edge_cases():
    assert smooth([], 0.9) == []
    assert smooth([3.0, 5.0], 0.0) == [3.0, 5.0]
    assert smooth([7.0] * 50, 0.99) == pytest.approx([7.0] * 50)  # a constant stays put from the first point
    with pytest.raises(ValueError, match="smoothing weight"):
        smooth([1.0], 1.0)


def test_curves_smooth_at_full_resolution_then_thin():
    steps = _steps(2000)
    curves = training_curves(steps, weight=0.9, max_points=100)
    assert 100 <= len(curves.step) <= 101
    assert curves.step[0] == 1 and curves.step[-1] == 2000  # the first and the newest step are kept
    full = smooth([s.relaxed for s in steps], 0.9)
    assert curves.relaxed == pytest.approx([full[s - 1] for s in curves.step])
    assert curves.tau == [steps[s - 1].tau for s in curves.step]  # the temperature is not smoothed


def test_curves_of_a_short_run_keep_every_step():
    curves = training_curves(_steps(5), max_points=500)
    assert curves.step == [1, 2, 3, 4, 5]
    assert training_curves([]).step == []
    with pytest.raises(ValueError, match="max_points"):
        training_curves(_steps(5), max_points=1)


def test_objectives_figure_has_the_three_curves():
    curves = training_curves(_steps(30), weight=0.5)
    fig = objectives_figure(curves, [_epoch(1, 10, 150.0), _epoch(2, 20, 140.0)], total_steps=100, revision="run-1")
    names = [trace.name for trace in fig.data]
    assert len(names) == 3 and "exact" in names[0] and "relaxed" in names[1] and "test" in names[2]
    np.testing.assert_allclose(fig.data[0].y, curves.unrelaxed, rtol=1e-6)
    np.testing.assert_allclose(fig.data[1].y, curves.relaxed, rtol=1e-6)
    assert [trace.legendrank for trace in fig.data] == [2, 1, 3]  # the legend reads relaxed, exact, test
    assert list(fig.data[2].x) == [10, 20] and list(fig.data[2].y) == [150.0, 140.0]
    assert tuple(fig.layout.xaxis.range) == (0, 100)  # the frame spans the whole run
    assert fig.layout.uirevision == "run-1"  # zoom survives the redraws of one run, not a new run
    assert fig.layout.yaxis.title.text and fig.layout.xaxis.title.text


def test_focus_range_ignores_the_steep_start_but_keeps_the_newest_points():
    falling = [540.0, 300.0] + [120.0 - i * 0.01 for i in range(100)]
    low, high = focus_range(falling)
    assert low < min(falling) and high < 200  # the first points do not set the scale
    rising = [float(i) for i in range(100)]  # a KL that grows: its newest values stay in view
    low, high = focus_range(rising)
    assert low < 10 < 99 < high
    assert focus_range([]) is None
    assert focus_range([float("nan")]) is None
    low, high = focus_range([5.0, 5.0])
    assert low < 5.0 < high  # a flat line still gets a visible range


def test_diagnostics_figure_has_temperature_kl_and_reconstruction():
    curves = training_curves(_steps(30))
    fig = diagnostics_figure(curves, total_steps=50)
    assert len(fig.data) == 3
    titles = [a.text for a in fig.layout.annotations]
    assert any("temperature" in t for t in titles) and any("KL" in t for t in titles)
    assert any("reconstruction" in t for t in titles)
    np.testing.assert_allclose(fig.data[0].y, curves.tau, rtol=1e-6)


def test_preview_figures():
    preview = Preview(3, torch.rand(8, 28, 28), torch.rand(8, 28, 28), torch.rand(64, 28, 28))
    recon = reconstructions_figure(preview)
    assert np.asarray(recon.data[0].z).shape == (2 * 30 - 2, 8 * 30 - 2)  # two rows of eight digits
    prior = prior_samples_figure(preview)
    assert np.asarray(prior.data[0].z).shape == (8 * 30 - 2, 8 * 30 - 2)  # an 8x8 grid
    assert "Prior" in prior.layout.title.text
