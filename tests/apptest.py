"""Running a page headless with URL settings, for the page tests."""

import json
from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parent.parent


def run_page(path: str, **query: str) -> AppTest:
    """The script at `path` (relative to the repo) run once with these query parameters."""
    app = AppTest.from_file(str(REPO / path), default_timeout=60)
    for key, value in query.items():
        app.query_params[key] = value
    return app.run()


def metric(app: AppTest, label: str) -> str:
    return next(m.value for m in app.metric if m.label == label)


def bound(app: AppTest) -> dict[str, Any]:
    """Each widget bound to the URL, by its parameter's name, with its value. The browser writes
    a bound value into the URL when it differs from the default (AppTest has no browser, so a
    widget moved here leaves the URL as it was; tests/test_browser.py watches the real URL)."""

    def walk(node: Any) -> Any:
        yield node
        for child in getattr(node, "children", {}).values():
            yield from walk(child)

    widgets = [n for n in walk(app._tree) if getattr(getattr(n, "proto", None), "query_param_key", "")]
    return {n.proto.query_param_key: n.value for n in widgets}


def browser_report(app: AppTest, component: str, event: str, value: object) -> AppTest:
    """Run the page as after the browser component `component` fired `event` with `value`: the
    trigger Streamlit's frontend sends (a JSON list of {event, value} under the component's
    "events" id). AppTest cannot run the component's JavaScript, so this sends what it would, or
    what a hostile client could."""
    from streamlit.components.v2.bidi_component.main import _make_trigger_id

    (proto,) = [e.proto for e in app.get("bidi_component") if e.proto.component_name == component]
    states = app._tree.get_widget_states()
    trigger = states.widgets.add()
    trigger.id = _make_trigger_id(proto.id, "events")
    trigger.json_trigger_value = json.dumps([{"event": event, "value": value}])
    return app._run(states)
