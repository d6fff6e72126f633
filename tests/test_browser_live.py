"""The browser components in the running app (Debian's Chromium): a drag costs the server no run,
the digit drawn is the torch decoder's, the page works with every outside request blocked, Play
draws fresh samples, a model too large for the browser falls back to the server, and the
Temperature sliders redraw in the browser and reach the URL on release.

Script runs are counted from the websocket frames the page sends (benchmarks.live_server.Socket:
Streamlit's BackMsg `rerun_script`, the sidebar's own timed keep-alive aside).
"""

from __future__ import annotations

import os
import subprocess
import time
from urllib.parse import parse_qs, urlparse

import pytest
import torch

from benchmarks.live_server import Socket, free_port, stop, streamlit_command, wait_healthy
from core.store.checkpoints import load_checkpoint, save_checkpoint
from core.studies.latent import soft_code
from core.vae import CategoricalVAE, VAEConfig
from tests.test_browser import PLOTS, REPO, browser, no_errors, plot_data, settle, shot  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DIGIT = "canvas.gl-decoded"
LARGE_MODEL = "large"  # a future preset's size: 2.2 M decoder parameters, above the browser's 2 M


@pytest.fixture(scope="module")
def server(data_root, tmp_path_factory):
    """The app with, besides the shipped models, one too large for the browser in its run store."""
    runs = tmp_path_factory.mktemp("runs")
    (runs / "cli").mkdir()
    torch.manual_seed(0)
    large = CategoricalVAE(VAEConfig(hidden=(1024, 1024)))
    save_checkpoint(large, runs / "cli" / f"{LARGE_MODEL}.pt", {"name": LARGE_MODEL, "status": "finished"})
    port = free_port()
    env = os.environ | {"GUMBEL_LAB_DATA": str(data_root), "GUMBEL_LAB_RUNS": str(runs)}
    process = subprocess.Popen(
        streamlit_command(port), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield url
    finally:
        stop(process)


@pytest.fixture
def page(browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.socket = Socket(page)
    yield page
    context.close()


def open_editor(page, url: str, query: str = "") -> None:
    page.goto(f"{url}/latent_editor{query}")
    page.get_by_text("Decoded in your browser").wait_for(timeout=120_000)  # the model arrived and decoded
    settle(page)


def digit_pixels(page) -> list[int]:
    """The decoded digit's grey levels as the browser painted them, row by row."""
    return page.locator(DIGIT).evaluate(
        "(c) => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 0))"
    )


def torch_pixels(page) -> list[int]:
    """The shipped default model's decoding of the code the URL holds (code and soft variables),
    as the browser paints it: grey = round(255 (1 - p))."""
    query = parse_qs(urlparse(page.url).query)
    positions = [float(c) for c in query["code"][0]]
    for pair in query.get("mix", [""])[0].split(","):
        if pair:
            variable, position = pair.split(":")
            positions[int(variable)] = float(position)
    model = load_checkpoint(REPO / "checkpoints" / "best.pt").model
    with torch.inference_mode():
        p = model.decode(soft_code(model, positions).unsqueeze(0))[0]
    return ((1 - p.double()) * 255).round().int().tolist()


def assert_same_digit(page) -> None:
    """Within one grey level: float16 weights move a pixel by at most 2e-3, half a level."""
    shown, expected = digit_pixels(page), torch_pixels(page)
    assert len(shown) == 784 and max(abs(a - b) for a, b in zip(shown, expected)) <= 1


def grid_point(page, variable: int, position: float) -> tuple[float, float]:
    """Page coordinates of a variable's column at a position on its class axis (latent_editor.js's geometry)."""
    box = page.locator("canvas.gl-grid").bounding_box()
    cell = max(8, min(30, (box["width"] - 34 - 4) // 30))
    return box["x"] + 34 + (variable + 0.5) * cell, box["y"] + 6 + (position + 0.5) * cell


def test_a_drag_morphs_the_digit_without_a_rerun(server, page):
    open_editor(page, server)
    assert_same_digit(page)
    start = time.perf_counter()
    page.mouse.move(*grid_point(page, 7, 0.0))
    page.mouse.down()
    seen, step = set(), 0
    while time.perf_counter() - start < 3.0:  # three seconds up and down variable 7's column
        page.mouse.move(*grid_point(page, 7, 9 * abs((step % 40) / 20 - 1)))
        step += 1
        if step % 3 == 0:
            seen.add(tuple(digit_pixels(page)))
    page.mouse.move(*grid_point(page, 7, 4.3))
    released = time.perf_counter()
    page.mouse.up()
    assert page.socket.reruns_between(start, released) == 0, "the drag asked the server for a script run"
    assert len(seen) >= 3, f"the digit took only {len(seen)} shapes during the drag"
    page.wait_for_function("() => location.search.includes('mix=7')", timeout=30_000)
    settle(page)
    assert page.socket.reruns_between(released, time.perf_counter()) == 1  # the debounced report, once
    query = parse_qs(urlparse(page.url).query)
    variable, position = query["mix"][0].split(":")
    assert variable == "7" and abs(float(position) - 4.3) < 0.06 and query["editor_variable"] == ["7"]
    assert_same_digit(page)
    no_errors(page)
    shot(page, "latent_editor_browser")


def test_a_click_sets_one_class_and_the_bookmark_reopens_it(server, page):
    open_editor(page, server)
    code = parse_qs(urlparse(page.url).query)["code"][0]
    target = (int(code[12]) + 3) % 10
    page.mouse.click(*grid_point(page, 12, target))
    page.wait_for_function(f"() => new URLSearchParams(location.search).get('code')?.[12] === '{target}'")
    settle(page)
    assert_same_digit(page)
    before = digit_pixels(page)
    page.goto(page.url)  # the bookmark, in a fresh session
    page.get_by_text("Decoded in your browser").wait_for(timeout=120_000)
    assert digit_pixels(page) == before


def test_the_component_loads_and_decodes_with_outside_requests_blocked(server, browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    blocked: list[str] = []

    def only_the_app_server(route) -> None:
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_app_server)
    page = context.new_page()
    try:
        open_editor(page, server)
        assert_same_digit(page)
        print(f"\n{len(blocked)} outside request(s) blocked (Streamlit's own): {sorted(set(blocked))[:3]}")
    finally:
        context.close()


def test_play_draws_fresh_samples_and_stop_returns_to_the_code(server, page):
    open_editor(page, server, "?tau=0.5&noise=3")
    code_digit = digit_pixels(page)
    start = time.perf_counter()
    page.get_by_role("button", name="Play Gumbel-Softmax").click()
    seen = set()
    while len(seen) < 5 and time.perf_counter() - start < 10:
        seen.add(tuple(digit_pixels(page)))
        page.wait_for_timeout(60)
    assert len(seen) >= 5, "Play did not draw new samples"
    page.get_by_role("button", name="Stop").click()
    stopped = time.perf_counter()
    assert digit_pixels(page) == code_digit
    assert page.socket.reruns_between(start, stopped) == 0


def test_a_model_too_large_for_the_browser_is_edited_on_the_server(server, page):
    open_editor(page, server)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.locator('[data-testid="stSelectbox"]').filter(has_text="Model").click()
    page.get_by_role("option", name=f"{LARGE_MODEL} (CLI)").click()
    page.get_by_text("drawn on the server").wait_for(timeout=120_000)
    settle(page)
    assert page.locator(".gl-editor").count() == 0
    assert page.locator('[data-testid="stImage"]').filter(has_text="Decoded digit").count() == 1
    no_errors(page)


def test_temperature_sliders_redraw_in_the_browser_and_reach_the_url(server, page):
    page.goto(f"{server}/temperature")
    samples = page.locator("canvas.gl-samples")
    samples.wait_for(timeout=120_000)
    page.wait_for_selector(PLOTS)
    settle(page)
    picture = "(c) => c.toDataURL()"
    before, check = samples.evaluate(picture), plot_data(page, 0)
    tau = page.locator("input.gl-tau").bounding_box()
    start = time.perf_counter()
    page.mouse.move(tau["x"] + 0.66 * tau["width"], tau["y"] + tau["height"] / 2)
    page.mouse.down()
    for i in range(40):  # τ from 1 down towards 0.01: the samples glide into the corners
        page.mouse.move(tau["x"] + (0.66 - 0.016 * i) * tau["width"], tau["y"] + tau["height"] / 2)
    released = time.perf_counter()
    page.mouse.up()
    assert samples.evaluate(picture) != before
    assert page.socket.reruns_between(start, released) == 0
    page.wait_for_function("() => new URLSearchParams(location.search).get('tau') !== '1'", timeout=30_000)
    assert float(parse_qs(urlparse(page.url).query)["tau"][0]) < 0.1
    logit = page.locator(".gl-logits input").first
    logit.focus()
    for _ in range(10):
        logit.press("ArrowRight")
    page.wait_for_function("() => new URLSearchParams(location.search).get('logits')?.startsWith('2,')", timeout=30_000)
    settle(page)
    assert plot_data(page, 0) != check  # the server's Gumbel-max check follows the released logits
    no_errors(page)
    shot(page, "temperature_browser")
