"""The app in a real browser: Debian's Chromium driven by Playwright, as a user would use it.

Starts `streamlit run app.py` on a free local port and saves screenshots under
artifacts/browser/ so a person can look at what the test saw.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from benchmarks.live_server import free_port, stop, streamlit_command, wait_healthy

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "artifacts" / "browser"
PLOTS = ".stPlotlyChart .js-plotly-plot"


@pytest.fixture(scope="module")
def server(data_root, tmp_path_factory):
    """The app on a free port, with its own folder for models trained during the test."""
    port = free_port()
    env = os.environ | {"GUMBEL_LAB_DATA": str(data_root), "GUMBEL_LAB_RUNS": str(tmp_path_factory.mktemp("runs"))}
    process = subprocess.Popen(
        streamlit_command(port), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        seconds = wait_healthy(url, process)
        print(f"\nstreamlit answered its health check {seconds:.1f} s after start")
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: apt-get install -y chromium")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


def open_page(page, url: str, path: str = "") -> None:
    page.goto(f"{url}/{path}")
    page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=90_000)
    settle(page)


def settle(page, timeout: float = 90_000) -> None:
    """Wait until the script run has finished: no 'running' status widget for a moment."""
    page.wait_for_timeout(500)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)
    page.wait_for_timeout(300)


def wait_for_change(page, index: int, before: list, timeout: float = 30) -> list:
    """Poll a chart's data until it differs from `before` (or time runs out)."""
    deadline = time.perf_counter() + timeout
    while True:
        after = plot_data(page, index)
        if after != before or time.perf_counter() > deadline:
            return after
        page.wait_for_timeout(200)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def no_errors(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def nudge_slider(page, label: str, key: str, times: int) -> None:
    """Move the slider labelled `label` by `times` key presses, as a keyboard user would."""
    slider = page.locator('[data-testid="stSlider"]').filter(has_text=label).get_by_role("slider")
    slider.focus()
    for _ in range(times):
        slider.press(key)


def plot_data(page, index: int) -> list:
    """The data of the index-th plotly chart as plotly.js drew it. `_fullData` holds the decoded
    arrays (numpy data arrives base64-packed in `.data`), and exists once the chart is drawn."""
    script = (
        f"(i) => Array.from(document.querySelectorAll('{PLOTS}'))[i]?._fullData?.map("
        "t => [t.y, t.z, t.a].map(v => v ? Array.from(v, r => r && r.length !== undefined ? Array.from(r) : r)"
        " : null))"
    )
    return page.wait_for_function(script, arg=index, timeout=60_000).json_value()


def test_home_links_every_page(server, page):
    open_page(page, server)
    assert page.get_by_role("heading", name="Gumbel Lab").is_visible()
    page.locator('[data-testid="stPageLink"]').first.wait_for()  # drawn a moment after the status widget goes
    for label in ("Temperature", "Train", "Latent editor", "Gradient estimators", "Subsets & permutations", "Graphs"):
        assert page.locator('[data-testid="stPageLink"]').filter(has_text=label).count() >= 1
    page.wait_for_selector(PLOTS)
    no_errors(page)
    shot(page, "home")


def test_temperature_slider_changes_charts(server, page):
    """A logit slider (in the browser component) redraws the samples at once and, on release,
    the server's Gumbel-max chart and the URL."""
    open_page(page, server, "temperature")
    page.wait_for_selector(PLOTS)
    samples = page.locator("canvas.gl-samples")
    before, check = samples.evaluate("(c) => c.toDataURL()"), plot_data(page, 0)
    slider = page.locator(".gl-logits input").first
    slider.focus()
    for _ in range(10):
        slider.press("ArrowRight")
    assert samples.evaluate("(c) => c.toDataURL()") != before
    after = wait_for_change(page, 0, check)
    assert after != check, "the released logits did not reach the Gumbel-max chart"
    settle(page)
    assert "logits=2" in page.url
    no_errors(page)
    shot(page, "temperature")


def decoded_digit(page) -> str:
    """The decoded digit as the browser component painted it."""
    return page.locator("canvas.gl-decoded").evaluate("(c) => c.toDataURL()", timeout=60_000)


def test_latent_edit_changes_digit(server, page):
    open_page(page, server, "latent_editor")
    page.get_by_text("Decoded in your browser").wait_for(timeout=60_000)
    before = decoded_digit(page)
    control = page.locator('[data-testid="stButtonGroup"]')
    current = page.evaluate("() => new URLSearchParams(location.search).get('code')")[0]
    target = "7" if current != "7" else "2"
    control.get_by_role("radio", name=target, exact=True).click()
    deadline = time.perf_counter() + 30
    while (after := decoded_digit(page)) == before and time.perf_counter() < deadline:
        page.wait_for_timeout(200)
    assert after != before, "changing a class did not change the decoded digit"
    settle(page)
    assert page.evaluate("() => new URLSearchParams(location.search).get('code')")[0] == target
    no_errors(page)
    shot(page, "latent_editor")


def test_estimators_classes_change_the_figure(server, page):
    open_page(page, server, "estimators")
    page.wait_for_selector(PLOTS)
    before = plot_data(page, 0)
    norm = (
        page.locator('[data-testid="stMetric"]')
        .filter(has_text="Exact gradient norm")
        .locator('[data-testid="stMetricValue"]')
    )
    norm_before = norm.inner_text()
    nudge_slider(page, "Classes K", "ArrowLeft", 4)
    after = wait_for_change(page, 0, before)
    assert after != before, "changing K did not redraw the estimator figure"
    settle(page)
    assert norm.inner_text() != norm_before
    assert page.evaluate("() => new URLSearchParams(location.search).get('K')") not in (None, "10")
    no_errors(page)
    shot(page, "estimators")


def test_structures_k_and_training(server, page):
    open_page(page, server, "structures")
    page.wait_for_selector(PLOTS)
    metric = lambda label: page.locator('[data-testid="stMetric"]').filter(has_text=label)  # noqa: E731
    assert "3.000" in metric("Sum of the relaxed k-hot").inner_text()
    nudge_slider(page, "k (items drawn)", "ArrowRight", 1)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stMetric\"]')].some("
        "m => m.innerText.includes('Sum of the relaxed k-hot') && m.innerText.includes('4.000'))",
        timeout=60_000,
    )
    settle(page)
    assert "k=4" in page.url
    page.get_by_role("button", name="Train").click()
    page.wait_for_selector('[data-testid="stMetric"]:has-text("Element accuracy")', timeout=120_000)
    settle(page)
    accuracy = metric("Element accuracy").inner_text()
    assert float(accuracy.split("\n")[-1].rstrip("%")) >= 90, accuracy
    no_errors(page)
    shot(page, "structures")


def test_graphs_n_changes_the_drawing_and_learning_shows_progress(server, page):
    open_page(page, server, "graphs?n=6&draws=200&steps=500")
    page.wait_for_selector(PLOTS)
    before = plot_data(page, 0)  # the drawing of one Gumbel draw's tree and its relaxations
    nudge_slider(page, "Nodes n", "ArrowRight", 1)
    assert wait_for_change(page, 0, before, timeout=60) != before
    settle(page)
    assert "n=7" in page.url
    no_errors(page)
    page.get_by_role("button", name="Train").click()
    progress = page.locator('[data-testid="stProgress"]')
    progress.filter(has_text="step").first.wait_for(timeout=60_000)
    first = progress.first.inner_text()
    page.wait_for_function(
        "(t) => { const p = document.querySelector('[data-testid=\"stProgress\"]');"
        " return p && p.innerText.includes('step') && p.innerText !== t; }",
        arg=first,
        timeout=60_000,
    )  # the fragment redraws while the worker trains
    shot(page, "graphs_learning")
    page.get_by_role("button", name="Stop").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stProgress\"]')?.innerText.includes('stopped')",
        timeout=60_000,
    )
    settle(page)
    no_errors(page)
    shot(page, "graphs")


def test_train_live_run_stop_and_pick_the_model(server, page):
    from playwright.sync_api import expect

    open_page(page, server, "train?data=tiny&epochs=50")
    page.get_by_role("button", name="Start training").click()
    progress = page.get_by_test_id("stProgress")
    expect(progress).to_contain_text(re.compile(r"step \d+ of 500", re.IGNORECASE), timeout=60_000)
    page.wait_for_selector(PLOTS)

    def steps() -> int:
        return int(re.search(r"step ([\d,]+) of", progress.inner_text(), re.IGNORECASE).group(1).replace(",", ""))

    # The first visible chart is the objectives; its traces are packed float32, so read _fullData.
    # The live fragment redraws that chart, which has no _fullData for a moment: count 0 then.
    points = (
        f"() => [...document.querySelectorAll('{PLOTS}')].find(e => e.offsetParent)?._fullData?.[0]?.x?.length ?? 0"
    )
    s0 = steps()
    n0 = page.wait_for_function(points, timeout=60_000).json_value()
    page.wait_for_function(f"(n) => ({points})() > n", arg=n0, timeout=60_000)  # the chart grows
    # Plotly draws after the progress text of the same redraw: the count may need one redraw more.
    expect(progress).not_to_contain_text(re.compile(rf"step {s0:,} of", re.IGNORECASE), timeout=10_000)
    assert steps() > s0
    no_errors(page)
    shot(page, "train_running")
    # Not settle(): the status widget stays while the live fragment keeps rerunning.
    page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop").click()
    expect(page.get_by_text(re.compile(r"Stopped after [\d,]+ steps"))).to_be_visible(timeout=60_000)
    name = re.search(r"Run (\S+)", page.get_by_role("heading", name=re.compile("^Run ")).inner_text()).group(1)
    shot(page, "train_stopped")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Latent editor", exact=True).click()
    settle(page)
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has_text="Model").click()
    page.get_by_role("option", name=f"{name} (this session)").click()
    settle(page)
    expect(page.get_by_test_id("stMainBlockContainer").get_by_text(name).first).to_be_visible()
    no_errors(page)
    shot(page, "train_model_in_editor")


def _points(page) -> int:
    return sum(len(trace[0] or []) for trace in plot_data(page, 0))


def _wait_points(page, above: int, timeout: float) -> int:
    deadline = time.perf_counter() + timeout
    while (count := _points(page)) <= above and time.perf_counter() < deadline:
        page.wait_for_timeout(500)
    return count


def test_a_sweep_runs_on_ray_and_its_overlay_grows(server, page):
    open_page(page, server, "sweep")
    epochs = page.locator('[data-testid="stNumberInput"]').filter(has_text="Epochs").locator("input")
    epochs.fill("60")
    epochs.press("Tab")
    page.get_by_role("button", name="Start sweep").click()
    page.wait_for_selector(PLOTS, timeout=120_000)  # Ray starts on this first sweep
    first = _wait_points(page, 0, 120)
    assert first > 0, "no trial reported a step"
    grown = _wait_points(page, first, 60)
    assert grown > first, "the overlay did not grow"
    assert len(plot_data(page, 0)) == 2  # one line per trial: τ 0.5 and τ 1
    shot(page, "sweep_live")
    page.get_by_role("button", name="Cancel sweep").click()
    page.get_by_text("Open these runs in Compare").wait_for(timeout=60_000)
    no_errors(page)
    shot(page, "sweep_done")
    page.get_by_text("Open these runs in Compare").click()  # the stopped trials, in Compare
    page.wait_for_selector(PLOTS, timeout=60_000)
    settle(page)
    assert "runs=sweeps" in page.url
    assert len(plot_data(page, 0)) == 2 * 4  # two runs × (relaxed, exact samples, test, τ)
    no_errors(page)
    shot(page, "compare")
