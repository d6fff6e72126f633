"""Running a page headless with URL settings, for the page tests."""

from pathlib import Path

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
