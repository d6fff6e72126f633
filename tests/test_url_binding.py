"""The URL names Streamlit's binding reads (a bound widget's key) take hostile text as well as
today's short names do (tests/test_hostile_urls.py): no page run ends in a traceback. The
lists below are every page's bound parameters, plus the ones a page keeps by hand."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.apptest import bound, run_page
from tests.test_hostile_urls import assert_no_traceback, query_text

BY_HAND = {"logits", "w", "code"}  # rows of sliders and the latent code: no one widget's value
PAGE_PARAMS = {
    "app.py": ["maths", "presenter"],
    "views/temperature.py": ["classes", "preset", "taus", "seed", "draws", "logits"],
    "views/structures.py": [
        *("subsets_n", "subsets_k", "subsets_tau", "subsets_draws", "subsets_seed", "w"),
        *("perm_n", "perm_taus", "perm_iters", "perm_noise", "perm_seed"),
        *("sort_n", "sort_steps", "sort_tau", "sort_seed"),
    ],
    "views/estimators.py": [
        *("est_preset", "est_draws", "est_taus", "est_rao", "est_seed"),
        *("est_digit", "est_variable", "est_classes", "est_variables", "est_rewarded"),
    ],
    "views/latent_editor.py": ["start_seed", "start_digit", "target_seed", "editor_variable", "code"],
    "views/graphs.py": [
        *("graphs_n", "graphs_preset", "graphs_seed", "graphs_taus"),
        *("graphs_draws", "graphs_steps", "graphs_learn_tau"),
    ],
    "views/compare.py": ["compare_runs"],
    "views/train.py": [
        *("train_preset", "train_estimator", "train_rao", "train_tau", "train_anneal", "train_anneal_rate"),
        *("train_anneal_every", "train_tau_min", "train_epochs", "train_batch", "train_lr", "train_seed"),
        *("train_data", "train_binarize", "train_precision"),
    ],
    "views/sweep.py": [
        *("sweep_tau", "sweep_est", "sweep_anneal", "sweep_lr", "sweep_preset"),
        *("sweep_seeds", "sweep_epochs", "sweep_data"),
    ],
}
HIDDEN = {"est_digit", "est_variable"}  # drawn for the decoder function only


@pytest.mark.parametrize("page", sorted(PAGE_PARAMS))
def test_every_widget_in_the_url_is_bound_under_its_listed_name(page, data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("GUMBEL_LAB_RUNS", str(tmp_path / "runs"))
    app = run_page(page)
    assert not app.exception
    assert set(bound(app)) == set(PAGE_PARAMS[page]) - BY_HAND - HIDDEN


@pytest.mark.parametrize("page", sorted(PAGE_PARAMS))
def test_hostile_text_in_the_bound_names_shows_no_traceback(page, data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("GUMBEL_LAB_RUNS", str(tmp_path / "runs"))
    params = PAGE_PARAMS[page]

    @settings(
        max_examples=10,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.dictionaries(st.sampled_from(params), query_text, min_size=1, max_size=len(params)))
    def hostile(query: dict[str, str]) -> None:
        assert_no_traceback(page, query)

    hostile()
