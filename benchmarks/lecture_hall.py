"""A lecture hall on one server: N visitors moving the same controls together (issues 15, 23).

    python -m benchmarks.lecture_hall [--visitors 12] [--seconds 60]
    python -m benchmarks.lecture_hall --path server --repo OLD [--updates 5] [--train-runs 2]

The browser path (the default; issue 23): N Playwright contexts of one headless Chromium open
the Latent editor, then Temperature, and each visitor edits once a second for `--seconds` in the
page's browser component (a click on a random cell of the code grid; a click on the τ or a logit
slider). It prints, per page, what opening it cost the server (CPU seconds, bytes per visitor),
the edits' latency in the browser (pointer to painted frame), the server's CPU and script runs
during the edits and for the reports that follow them, the errors, and the load average.

The server path (`--path server`), for a checkout from before issue 23 given by `--repo`:
it starts `streamlit run app.py` on a free port of 127.0.0.1 and drives N Playwright contexts of
one headless Chromium: first all of them on Temperature (a logit slider moved one step per
update), then all of them on the Latent editor (a class picked per update). Optional Train
runs (`/train?data=tiny&epochs=20`, Start) train in the background meanwhile. It prints, per
page, the update latency each visitor saw (input to changed picture) and the server's own
seconds per run of the page's live part, wall and CPU (the $GUMBEL_LAB_TIMING log the pages write),
the errors, and the server's resident memory before and after. Not run in CI; bounded in
visitors, updates and time. `--repo` points at another checkout (a baseline) to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.live_server import REPO, Server, Socket, chromium, process_cpu_seconds, rss_mb, serve, settle
from core.runtime.device import describe_cpu

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

MAX_VISITORS = 24
DEADLINE_S = 240  # a phase stops waiting after this long, whatever is left
PLOTS = ".stPlotlyChart .js-plotly-plot"
# What a visitor watches: the first chart's data on Temperature; the decoded digit in the editor
# (a picture now, a chart before: the second chart, so an older checkout can be the baseline).
TEMPERATURE_SIGN = f"() => JSON.stringify(document.querySelectorAll('{PLOTS}')[0]?._fullData?.[0]?.y ?? null)"
DIGIT_SIGN = (
    "() => { const img = [...document.querySelectorAll('[data-testid=\"stImage\"]')]"
    ".find(e => e.innerText.includes('Decoded digit'))?.querySelector('img');"
    f" if (img) return img.src; const p = document.querySelectorAll('{PLOTS}')[1];"
    " return JSON.stringify(p?._fullData?.[0]?.z ?? null); }"
)


async def changed(page, sign: str, before: str, limit_s: float) -> float | None:
    """Seconds until the watched picture differs from `before`; None when it never does."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        if await page.evaluate(sign) != before:
            return time.perf_counter() - started
        await page.wait_for_timeout(25)
    return None


async def temperature_visitor(page, url: str, updates: int, deadline: float) -> tuple[list[float], int]:
    await page.goto(f"{url}/temperature", wait_until="domcontentloaded", timeout=180_000)
    await page.wait_for_selector(PLOTS, timeout=120_000)
    await settle(page)
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="class 0").get_by_role("slider")
    times, misses = [], 0
    for i in range(updates):
        if time.monotonic() > deadline:
            break
        before = await page.evaluate(TEMPERATURE_SIGN)
        await slider.focus()
        await slider.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
        seconds = await changed(page, TEMPERATURE_SIGN, before, max(1.0, deadline - time.monotonic()))
        times.append(seconds) if seconds is not None else None
        misses += seconds is None
        await settle(page)
    return times, misses


async def latent_visitor(page, url: str, updates: int, deadline: float) -> tuple[list[float], int]:
    await page.goto(f"{url}/latent_editor", wait_until="domcontentloaded", timeout=180_000)
    await page.wait_for_selector(PLOTS, timeout=120_000)
    await settle(page)
    classes = page.locator('[data-testid="stButtonGroup"]')
    times, misses = [], 0
    for i in range(updates):
        if time.monotonic() > deadline:
            break
        before = await page.evaluate(DIGIT_SIGN)
        current = (await page.evaluate("() => new URLSearchParams(location.search).get('code')"))[0]
        target = str((int(current) + 1 + i % 3) % 10)
        await classes.get_by_role("radio", name=target, exact=True).click()
        seconds = await changed(page, DIGIT_SIGN, before, max(1.0, deadline - time.monotonic()))
        times.append(seconds) if seconds is not None else None
        misses += seconds is None
        await settle(page)
    return times, misses


async def start_training(browser: Browser, url: str) -> BrowserContext:
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    await page.goto(f"{url}/train?data=tiny&epochs=20", wait_until="domcontentloaded", timeout=180_000)
    await page.get_by_role("button", name="Start training").click()
    await page.get_by_test_id("stProgress").wait_for(timeout=120_000)
    return context


async def phase(browser, url: str, visitor, visitors: int, updates: int) -> tuple[list[float], int, int]:
    """All visitors on one page at once; each update's latency, misses and errors shown."""
    contexts = [await browser.new_context(viewport={"width": 1400, "height": 900}) for _ in range(visitors)]
    pages = [await c.new_page() for c in contexts]
    deadline = time.monotonic() + DEADLINE_S
    results = await asyncio.gather(*(visitor(p, url, updates, deadline) for p in pages), return_exceptions=True)
    errors = 0
    for page in pages:
        shown = page.locator('[data-testid="stException"]')
        errors += await shown.count()
        if await shown.count():
            print(f"  a page error: {(await shown.first.inner_text()).splitlines()[:3]}")
    for c in contexts:
        await c.close()
    times = [t for r in results if not isinstance(r, BaseException) for t in r[0]]
    misses = sum(r[1] if not isinstance(r, BaseException) else updates for r in results)
    for r in results:
        if isinstance(r, BaseException):
            print(f"  a visitor failed: {type(r).__name__}: {str(r).splitlines()[0]}")
    return times, misses, errors


def summary(values: list[float], unit: str = "s") -> str:
    """Median, 95th percentile and count; seconds to 3 decimals, milliseconds to 1."""
    if not values:
        return "no samples"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    digits = 3 if unit == "s" else 1
    return f"median {statistics.median(ordered):.{digits}f} {unit}, p95 {p95:.{digits}f} {unit}, n {len(ordered)}"


def server_times(log: Path, name: str, since: int, column: int) -> list[float]:
    """One column of the pages' timing log: 1 wall seconds, 2 the run's own CPU seconds."""
    lines = log.read_text().splitlines()[since:] if log.exists() else []
    return [float(line.split()[column]) for line in lines if line.split()[0] == name]


async def hall(args: argparse.Namespace, server: Server) -> None:
    url, log = server.url, server.timing_log
    async with chromium() as browser:
        trainers = [await start_training(browser, url) for _ in range(args.train_runs)]
        print(f"{len(trainers)} training run(s) started (/train?data=tiny&epochs=20)")
        for name, visitor in (("temperature", temperature_visitor), ("latent_editor", latent_visitor)):
            mark = len(log.read_text().splitlines()) if log.exists() else 0
            times, misses, errors = await phase(browser, url, visitor, args.visitors, args.updates)
            print(f"{name}: {args.visitors} visitors x {args.updates} updates")
            print(f"  browser, input to new picture: {summary(times)}; no change seen: {misses}; errors: {errors}")
            print(f"  server, wall seconds per run of the live part: {summary(server_times(log, name, mark, 1))}")
            print(f"  server, CPU seconds of that run's thread: {summary(server_times(log, name, mark, 2))}")
            print(f"  server RSS now {rss_mb(server.pid):.0f} MB")
        for context in trainers:
            await context.close()


# --- the browser path (issue 23) ---------------------------------------------------------------
QUIET_S = 3.0  # longer than the components' report delay (1.5 s): every report has run
# Per page: its address, the component's root, what shows it is ready, and where a visitor clicks.
BROWSER_PAGES = {
    "latent_editor": (".gl-editor", "canvas.gl-grid"),
    "temperature": (".gl-temperature", "input.gl-tau, .gl-logits input"),
}


@dataclass
class Visitor:
    """One browser tab of the hall: its websocket, and what its edits saw."""

    page: Page
    socket: Socket
    edits: int = 0
    latencies: list[float] = field(default_factory=list)
    failure: str | None = None


async def open_component(visitor: Visitor, url: str, name: str) -> None:
    root, targets = BROWSER_PAGES[name]
    page = visitor.page
    await page.goto(f"{url}/{name}", wait_until="domcontentloaded", timeout=180_000)
    await page.locator(targets).first.wait_for(timeout=180_000)
    await page.locator(root).evaluate("(e) => e.glTimings.length", timeout=180_000)
    await settle(page)


async def edit_every_second(visitor: Visitor, name: str, seconds: float, seed: int) -> None:
    """A click a second on a random point of the component's grid or sliders, for `seconds`."""
    root, targets = BROWSER_PAGES[name]
    page, draw = visitor.page, random.Random(seed)
    boxes = [box for target in await page.locator(targets).all() if (box := await target.bounding_box())]
    since = await page.locator(root).evaluate("(e) => e.glTimings.length")
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        box = draw.choice(boxes)
        await page.mouse.click(box["x"] + 4 + draw.random() * (box["width"] - 8), box["y"] + box["height"] / 2)
        visitor.edits += 1
        await page.wait_for_timeout(max(0, 1000 * (began + visitor.edits - time.monotonic())))
    visitor.latencies = (await page.locator(root).evaluate("(e) => e.glTimings"))[since:]


async def errors_shown(visitors: list[Visitor]) -> int:
    return sum([await v.page.locator('[data-testid="stException"]').count() for v in visitors])


async def each(visitors: list[Visitor], work) -> None:
    """`work(visitor)` for every visitor at once; a visitor that fails is noted, not fatal."""
    results = await asyncio.gather(*(work(v) for v in visitors), return_exceptions=True)
    for visitor, result in zip(visitors, results):
        if isinstance(result, BaseException) and visitor.failure is None:
            visitor.failure = f"{type(result).__name__}: {str(result).splitlines()[0]}"


async def browser_phase(browser, server: Server, name: str, args: argparse.Namespace) -> None:
    """All visitors open one page, then edit once a second; what it cost the server, and them."""
    contexts = [await browser.new_context(viewport={"width": 1400, "height": 900}) for _ in range(args.visitors)]
    visitors = []
    for context in contexts:
        page = await context.new_page()
        visitors.append(Visitor(page, Socket(page)))
    cpu = process_cpu_seconds(server.pid)
    await each(visitors, lambda v: open_component(v, server.url, name))
    opened = process_cpu_seconds(server.pid)
    received = [sum(v.socket.received) for v in visitors]
    runs_before = [v.socket.reruns for v in visitors]
    await each(visitors, lambda v: edit_every_second(v, name, args.seconds, seed=visitors.index(v)))
    edited = process_cpu_seconds(server.pid)
    runs_during = sum(v.socket.reruns - r for v, r in zip(visitors, runs_before))
    await asyncio.sleep(QUIET_S)
    reported = process_cpu_seconds(server.pid)
    reports = sum(v.socket.reruns for v in visitors) - sum(runs_before) - runs_during
    edits = sum(v.edits for v in visitors)
    latencies = [t for v in visitors for t in v.latencies]
    n = args.visitors
    print(f"{name}: {n} visitors, one edit a second for {args.seconds:g} s")
    print(
        f"  opening it: server {opened - cpu:.2f} CPU s ({(opened - cpu) / n:.3f} per visitor); "
        f"{statistics.median(received) / 1e6:.2f} MB per visitor over the websocket"
    )
    print(f"  {edits} edits; browser, pointer to painted frame: {summary(latencies, 'ms')}")
    print(
        f"  server during the edits: {edited - opened:.2f} CPU s, {(edited - opened) / max(edits, 1) * 1000:.2f} ms "
        f"per edit, {(edited - opened) / args.seconds:.3f} CPU s per second of the hall; {runs_during} script runs"
    )
    print(f"  after the edits, their reports: {reports} script runs, server {reported - edited:.2f} CPU s")
    print(f"  errors shown: {await errors_shown(visitors)}; server RSS {rss_mb(server.pid):.0f} MB")
    for failure in {v.failure for v in visitors if v.failure}:
        print(f"  a visitor failed: {failure}")
    for context in contexts:
        await context.close()


async def browser_hall(args: argparse.Namespace, server: Server) -> None:
    async with chromium() as browser:
        for name in BROWSER_PAGES:
            await browser_phase(browser, server, name, args)


def load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", choices=("browser", "server"), default="browser")
    parser.add_argument("--visitors", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=60.0, help="browser path: how long each visitor edits")
    parser.add_argument("--updates", type=int, default=5, help="server path: updates per visitor")
    parser.add_argument("--train-runs", type=int, default=2, help="server path: training runs meanwhile")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout to serve (default: this one)")
    args = parser.parse_args()
    if not 1 <= args.visitors <= MAX_VISITORS or not 1 <= args.updates <= 20 or not 0 <= args.train_runs <= 4:
        parser.error(f"keep it bounded: 1-{MAX_VISITORS} visitors, 1-20 updates, 0-4 training runs")
    if not 5 <= args.seconds <= 180:
        parser.error("keep it bounded: 5-180 seconds of edits")
    if shutil.which("chromium") is None:
        parser.error("needs Debian's chromium (apt-get install -y chromium)")
    if args.path == "server" and (args.repo / "browser" / "components.py").exists():
        parser.error("this checkout edits in the browser: the server path needs one from before issue 23 (--repo)")
    print(describe_cpu())
    print(f"load average before: {load()}")
    with serve(args.repo.resolve(), timing=True, prefix="hall-") as server:
        time.sleep(1)
        print(f"server RSS before: {rss_mb(server.pid):.0f} MB ({args.repo.resolve()}, {server.url})")
        asyncio.run(browser_hall(args, server) if args.path == "browser" else hall(args, server))
        print(f"server RSS after: {rss_mb(server.pid):.0f} MB")
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
