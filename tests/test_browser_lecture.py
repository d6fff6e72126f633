"""Lecture features in a real browser (Debian's Chromium): draw a digit with the mouse and see the
model read it, download a model and upload it again, presenter view. Saves the README's
screenshots under artifacts/browser/."""

from __future__ import annotations

import time
import zipfile

import pytest

from tests.test_browser import PLOTS, SHOTS, browser, no_errors, open_page, server, settle, shot  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CANVAS = "canvas.upper-canvas"


@pytest.fixture
def page(browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


def picture(page, caption: str) -> str | None:
    image = page.locator('[data-testid="stImage"]').filter(has_text=caption).locator("img")
    return image.get_attribute("src", timeout=2_000) if image.count() else None


def stroke(page, points: list[tuple[float, float]]) -> None:
    """Draw with the mouse on the canvas, points in [0, 1] of its box."""
    box = page.locator(CANVAS).first.bounding_box()
    assert box is not None
    at = lambda p: (box["x"] + p[0] * box["width"], box["y"] + p[1] * box["height"])  # noqa: E731
    page.mouse.move(*at(points[0]))
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*at(point), steps=8)
    page.mouse.up()


def wait_for_picture(page, caption: str, before: str | None, timeout: float = 30) -> str:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        now = picture(page, caption)
        if now and now != before:
            return now
        page.wait_for_timeout(200)
    raise AssertionError(f"{caption!r} did not change within {timeout} s")


def test_draw_a_digit_with_the_mouse(server, page):  # noqa: F811
    open_page(page, server, "latent_editor")
    page.locator(CANVAS).first.wait_for(timeout=60_000)
    page.locator(CANVAS).first.scroll_into_view_if_needed()
    stroke(page, [(0.5, 0.15), (0.52, 0.5), (0.5, 0.85)])  # a "1"
    first = wait_for_picture(page, "Decoded mode code", None)
    settle(page)
    stroke(
        page, [(0.3, 0.3), (0.5, 0.15), (0.7, 0.3), (0.5, 0.6), (0.3, 0.85), (0.75, 0.85)]
    )  # turns it into a "2"-ish
    second = wait_for_picture(page, "Decoded mode code", first)
    assert second != first
    settle(page)
    no_errors(page)
    page.get_by_text("Draw a digit", exact=True).scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "drawing.png"), full_page=True)
    page.get_by_role("button", name="Edit from here").click()
    settle(page)
    assert "drawing" in page.locator('[data-testid="stCaptionContainer"]').first.inner_text()


def test_download_then_upload_a_model(server, page, tmp_path):  # noqa: F811
    open_page(page, server)
    sidebar = page.locator('[data-testid="stSidebar"]')
    with page.expect_download(timeout=60_000) as download:
        sidebar.get_by_role("button", name="Download the model (.zip)").click()
    saved = tmp_path / "lecture-copy.zip"
    download.value.save_as(saved)
    assert {"best.pt", "best.json"} <= set(zipfile.ZipFile(saved).namelist())
    sidebar.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(saved))
    sidebar.get_by_text("is valid").wait_for(timeout=60_000)
    settle(page)
    sidebar.get_by_test_id("stSelectbox").filter(has_text="Model").click()
    page.get_by_role("option", name="lecture-copy (this session)").wait_for(timeout=10_000)  # in the picker
    page.keyboard.press("Escape")
    bad = tmp_path / "notes.pt"
    bad.write_bytes(b"not a model" * 100)
    sidebar.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
    sidebar.get_by_text("notes.pt was refused").wait_for(timeout=60_000)
    no_errors(page)


def test_presenter_view_from_a_bookmark(server, page):  # noqa: F811
    open_page(page, server, "temperature?presenter=on")
    page.wait_for_selector(PLOTS)
    settle(page)
    assert page.get_by_role("switch", name="Presenter view").is_checked()
    size = page.evaluate("() => document.querySelector('.js-plotly-plot').layout.font.size")
    assert size > 16
    assert "presenter=true" in page.url  # the old bookmark's word, rewritten into the bound form
    page.wait_for_selector(".katex", timeout=30_000)  # the maths is on by default
    shot(page, "presenter")
    no_errors(page)


def test_plotly_png_export_works_offline(server, page, tmp_path):  # noqa: F811
    """The modebar's 'Download plot as a png' renders in the browser: no network, no kaleido."""
    page.route("**/*", lambda route: route.continue_() if "127.0.0.1" in route.request.url else route.abort())
    open_page(page, server, "temperature")
    page.wait_for_selector(PLOTS)
    settle(page)
    chart = page.locator(".stPlotlyChart").first
    chart.hover()
    with page.expect_download(timeout=30_000) as download:
        chart.locator('.modebar-btn[data-title="Download plot as a PNG"]').click()
    saved = tmp_path / "chart.png"
    download.value.save_as(saved)
    assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and saved.stat().st_size > 10_000
