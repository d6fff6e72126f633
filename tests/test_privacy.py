"""A visitor's runs are theirs by default (issue 28, item 3): the sidebar's Model list and
Compare list the shipped models, the visitor's own runs, the CLI's and sweeps', and runs their
owners shared; a run id in a URL does not open another visitor's unshared run; the server's
GUMBEL_LAB_SHARE_RUNS=all lists everyone's runs to everyone."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.store.checkpoints import metadata_path, read_metadata, save_checkpoint
from core.store.runs import SHARE_ENV, RunStore
from core.store.transfer import export_model, import_model
from tests.apptest import REPO
from tests.test_checkpoints import small_model

ALICE, BOB = "a11ce000", "b0b00000"
SHIPPED = ("best (shipped)", "binarized (shipped)", "faithful (shipped)")


def give_run(store: RunStore, source: str, name: str, group: str | None = None) -> str:
    """A finished run with weights in the store, as training would leave it; returns its id."""
    path = store.path_for(source, name, group)
    history = [{"epoch": 1, "relaxed": 150.0, "unrelaxed": 160.0, "test": 158.0, "tau": 1.0}]
    save_checkpoint(small_model(), path, {"status": "finished", "history": history, "started_at": "2026-01-01"})
    return path.relative_to(store.root).with_suffix("").as_posix()


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    """Alice's and Bob's runs in their session folders, and a CLI run and a sweep trial."""
    monkeypatch.setenv("GUMBEL_LAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv(SHARE_ENV, raising=False)
    store = RunStore()
    for source, name, group in (("page", "alice-run", ALICE), ("page", "bob-run", BOB), ("cli", "cli-run", None)):
        give_run(store, source, name, group)
    give_run(store, "sweeps", "t1", "grid")
    return store


def visit(session: str, path: str = "app.py", **query: str) -> AppTest:
    """A browser session with its own run-store folder (runs/page/<session>) opening `path`."""
    app = AppTest.from_file(str(REPO / path), default_timeout=60)
    app.session_state["train_session_id"] = session
    for key, value in query.items():
        app.query_params[key] = value
    return app.run()


def share_switches(app: AppTest) -> list:
    return [t for t in app.sidebar.toggle if t.key.startswith("share_")]


def listed(app: AppTest) -> list[str]:
    return list(app.sidebar.selectbox(key="model_label").options)


def test_by_default_each_visitor_lists_their_own_runs_and_the_shared_ones_only(store):
    alice, bob = visit(ALICE), visit(BOB)
    assert not alice.exception and not bob.exception
    assert listed(alice) == [*SHIPPED, "cli-run (CLI)", f"alice-run (session {ALICE})", "t1 (sweep grid)"]
    assert listed(bob) == [*SHIPPED, "cli-run (CLI)", f"bob-run (session {BOB})", "t1 (sweep grid)"]


def test_a_url_does_not_open_another_visitors_unshared_run(store):
    runs = f"page/{BOB}/bob-run,cli/cli-run,page/{ALICE}/alice-run"
    alice = visit(ALICE, "views/compare.py", runs=runs)
    assert not alice.exception and not alice.error
    picker = alice.multiselect(key="compare_runs")
    assert picker.value == ["cli/cli-run", f"page/{ALICE}/alice-run"]
    assert f"page/{BOB}/bob-run" not in picker.options
    (warning,) = alice.warning
    assert warning.value.startswith(f"Not found or not shared: `page/{BOB}/bob-run`.")
    alice.run()  # said once, for the bookmark that asked
    assert not alice.warning
    bob = visit(BOB, "views/compare.py", compare_runs=f"page/{ALICE}/alice-run")
    assert not bob.exception and f"page/{ALICE}/alice-run" in bob.warning[0].value
    assert bob.multiselect(key="compare_runs").value == ["shipped/best", "shipped/faithful"]  # the default view


def test_a_urls_unknown_text_is_never_shown_as_markdown(store):
    alice = visit(ALICE, "views/compare.py", runs="![x](http://example.com/x.png),cli/nope")
    assert not alice.exception
    assert "Not found or not shared: `cli/nope` and 1 more." in alice.warning[0].value
    assert "example.com" not in alice.warning[0].value


def test_with_sharing_on_everyone_lists_everyone(store, monkeypatch):
    monkeypatch.setenv(SHARE_ENV, "all")
    alice, bob = visit(ALICE), visit(BOB)
    both = [*SHIPPED, "cli-run (CLI)", f"alice-run (session {ALICE})", f"bob-run (session {BOB})", "t1 (sweep grid)"]
    assert listed(alice) == both and listed(bob) == both
    bob.sidebar.selectbox(key="model_label").select(f"bob-run (session {BOB})").run()
    assert not share_switches(bob) and any("lists every visitor" in c.value for c in bob.sidebar.caption)
    compare = visit(BOB, "views/compare.py", runs=f"page/{ALICE}/alice-run")
    assert compare.multiselect(key="compare_runs").value == [f"page/{ALICE}/alice-run"] and not compare.warning


def test_a_run_its_owner_shares_is_listed_to_the_other_until_taken_back(store):
    bob = visit(BOB)
    assert not share_switches(bob)  # a shipped model is picked: nothing of Bob's to share
    bob.sidebar.selectbox(key="model_label").select(f"bob-run (session {BOB})").run()
    share = bob.sidebar.toggle(key=f"share_page/{BOB}/bob-run")
    assert share.label == "Share this run" and share.value is False
    share.set_value(True).run()
    assert read_metadata(store.path_for("page", "bob-run", BOB))["shared"] is True
    assert f"bob-run (session {BOB})" in listed(visit(ALICE))
    compare = visit(ALICE, "views/compare.py", runs=f"page/{BOB}/bob-run")
    assert compare.multiselect(key="compare_runs").value == [f"page/{BOB}/bob-run"] and not compare.warning
    bob.sidebar.toggle(key=f"share_page/{BOB}/bob-run").set_value(False).run()
    assert f"bob-run (session {BOB})" not in listed(visit(ALICE))
    alice = visit(ALICE)
    alice.sidebar.selectbox(key="model_label").select(f"alice-run (session {ALICE})").run()
    assert alice.sidebar.toggle(key=f"share_page/{ALICE}/alice-run").value is False  # Bob's choice is his


def test_who_sees_a_run(store):
    runs = {r.run_id: r for r in store.records()}
    mine, cli, sweep = runs[f"page/{ALICE}/alice-run"], runs["cli/cli-run"], runs["sweeps/grid/t1"]
    assert mine.visible_to(ALICE) and not mine.visible_to(BOB) and not mine.visible_to(None)
    assert mine.visible_to(BOB, everyone=True) and not mine.shared
    assert cli.shared and sweep.shared and cli.visible_to(BOB) and sweep.visible_to(None)
    assert not mine.visible_to(ALICE[:4])  # a session whose id starts another's sees nothing of it
    shared = store.set_shared(mine.run_id)
    assert shared.shared and shared.visible_to(BOB) and store.get(mine.run_id).shared
    assert not store.set_shared(mine.run_id, False).visible_to(BOB)
    with pytest.raises(ValueError, match="no run"):
        store.set_shared(f"page/{BOB}/nothing")


def test_a_running_run_is_shared_only_once_it_has_ended_and_keeps_its_mark(store):
    path = store.path_for("page", "live", ALICE)
    store.begin(path, {"train_config": {}})
    with pytest.raises(ValueError, match="still running"):
        store.set_shared(f"page/{ALICE}/live")
    store.beat(path, shared=True)  # a mark the record already had is kept when the run ends
    assert store.ended_metadata(path, "finished")["shared"] is True


def test_an_uploaded_model_is_its_uploaders_not_shared_by_its_old_mark(store, tmp_path):
    weights = store.path_for("page", "alice-run", ALICE)
    side = metadata_path(weights)
    side.write_text(json.dumps(json.loads(side.read_text()) | {"shared": True}))
    data = export_model(weights)
    assert json.loads(zipfile.ZipFile(io.BytesIO(data)).read("alice-run.json"))["shared"] is True
    kept = import_model(data, "alice-run.zip", store.root / "page" / BOB / "uploaded")
    assert "shared" not in read_metadata(kept) and read_metadata(kept)["history"]
    record = store.get(Path(kept).relative_to(store.root).with_suffix("").as_posix())
    assert record is not None and not record.visible_to(ALICE)
