"""Sessions stay apart as state grows (issue 15, item 6).

Cached views and models are shared by every visitor; settings and edits are not. Two headless
sessions with different settings never see each other's values, and what one page receives
from a shared cache is exactly what the next visitor receives: no page changes a cached object.
"""

from __future__ import annotations

import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from tests.apptest import browser_report, run_page
from ui import models


def specs(app: AppTest) -> list[str]:
    return [chart.proto.spec for chart in app.get("plotly_chart")]


def test_temperature_sessions_keep_their_own_settings_and_share_clean_figures():
    st.cache_resource.clear()
    alice = run_page("views/temperature.py")  # computes the default view
    fresh = specs(alice)
    bob = run_page("views/temperature.py", k="4", seed="7", taus="0.5,2")
    # The logit sliders live in the browser component: each visitor's browser reports its own.
    browser_report(alice, "gumbel_lab_temperature", "edit", {"logits": [-4.0, 1.0, -1.0], "tau": 1.0})
    browser_report(bob, "gumbel_lab_temperature", "edit", {"logits": [1.0, 3.0, 1.0, -1.0], "tau": 1.0})
    alice.run()
    assert alice.slider(key="classes").value == 3 and bob.slider(key="classes").value == 4
    assert alice.query_params["logits"] == "-4,1,-1" and bob.query_params["logits"] == "1,3,1,-1"
    assert alice.number_input(key="seed").value == 0 and bob.number_input(key="seed").value == 7
    assert alice.query_params["logits"].startswith("-4") and "seed" not in alice.query_params  # a default
    assert bob.query_params["seed"] == "7" and bob.query_params["classes"] == "4"  # k: the name before binding
    assert not alice.exception and not bob.exception
    carol = run_page("views/temperature.py")  # the default view again, now from the cache
    assert specs(carol) == fresh, "a page changed a cached figure after it was shared"


def test_latent_editor_edits_stay_in_their_session():
    alice = run_page("views/latent_editor.py")
    bob = run_page("views/latent_editor.py")
    start = alice.query_params["code"]
    assert bob.query_params["code"] == start  # same default view
    new_class = (int(start[0]) + 1) % 10
    alice.segmented_control(key="editor_class").set_value(new_class).run()
    bob.number_input(key="editor_variable").set_value(5).run()
    assert alice.query_params["code"][0] == str(new_class)
    assert bob.query_params["code"] == start, "one visitor's edit reached another session"
    assert bob.number_input(key="editor_variable").value == 5
    assert alice.number_input(key="editor_variable").value == 0
    carol = run_page("views/latent_editor.py")
    assert carol.query_params["code"] == start


def test_pages_leave_the_shared_model_as_loaded():
    path = models.SHIPPED_DIR / f"{models.DEFAULT_MODEL}.pt"
    model = models.load_model(path, "cpu").model
    before = {name: value.clone() for name, value in model.state_dict().items()}
    training = model.training
    editor = run_page("views/latent_editor.py")
    editor.segmented_control(key="editor_class").set_value(3).run()
    editor.button[2].click().run()  # Randomize
    run_page("views/estimators.py", preset="decoder")
    assert models.load_model(path, "cpu").model is model  # the very object every session shares
    assert model.training == training
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
