"""The Sweep page's static parts (AppTest runs no fragments): the form, and no Ray until a sweep starts."""

from __future__ import annotations

import sys

from tests.apptest import run_page


def test_the_form_renders_without_starting_ray(tmp_path, monkeypatch):
    monkeypatch.setenv("GUMBEL_LAB_RUNS", str(tmp_path / "runs"))
    at = run_page("views/sweep.py")
    assert not at.exception and not at.error
    assert at.multiselect(key="sweep_tau").value == [0.5, 1.0]
    assert "Start sweep" in [b.label for b in at.get("form_submit_button")]
    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized()  # the page does not wait for Ray
