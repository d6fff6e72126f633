"""Running a page headless with URL settings, for the page tests."""

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
