"""A lecture hall on one server: N visitors moving the same controls together (issue 15).

    python -m benchmarks.lecture_hall [--visitors 12] [--updates 5] [--train-runs 2] [--repo PATH]

Starts `streamlit run app.py` on a free port of 127.0.0.1 and drives N Playwright contexts of
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
import shutil
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.live_server import REPO, Server, chromium, rss_mb, serve, settle
from core.runtime.device import describe_cpu

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext

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


def summary(seconds: list[float]) -> str:
    if not seconds:
        return "no samples"
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered):.3f} s, p95 {p95:.3f} s, n {len(ordered)}"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, default=12)
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--train-runs", type=int, default=2)
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout to serve (default: this one)")
    args = parser.parse_args()
    if not 1 <= args.visitors <= MAX_VISITORS or not 1 <= args.updates <= 20 or not 0 <= args.train_runs <= 4:
        parser.error(f"keep it bounded: 1-{MAX_VISITORS} visitors, 1-20 updates, 0-4 training runs")
    if shutil.which("chromium") is None:
        parser.error("needs Debian's chromium (apt-get install -y chromium)")
    with serve(args.repo.resolve(), timing=True, prefix="hall-") as server:
        time.sleep(1)
        print(describe_cpu())
        print(f"server RSS before: {rss_mb(server.pid):.0f} MB ({args.repo.resolve()}, {server.url})")
        asyncio.run(hall(args, server))
        print(f"server RSS after: {rss_mb(server.pid):.0f} MB")


if __name__ == "__main__":
    main()
