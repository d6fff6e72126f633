"""The browser path's figures (issue 23): pointer event to repainted canvas, bytes a new visitor
receives for the model, and the server's CPU per edit.

    python -m benchmarks.browser_latency [--edits 100] [--drag-seconds 5]

Starts `streamlit run app.py` on a free port and drives one headless Chromium tab. On the Latent
editor: `--edits` clicks on random cells of the code grid, then a drag up and down a variable's
column for `--drag-seconds`; on Temperature: clicks at random points of the τ and first logit
sliders, then a drag of each. The latency of an edit is measured by the component itself: from
the pointer event's timestamp to a task queued after the next animation frame, once the frame
with the new picture has been painted (browser/canvas.js: recordLatency). It prints median and
p95 per kind of edit; the websocket bytes the first visit receives, the largest message (the
decoder) and what a return to the page after another page receives; and the server process's
CPU seconds per edit, reports after release included. Not run in CI; bounded in edits and time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import time
from collections.abc import Awaitable

from benchmarks.lecture_hall import server_times, summary
from benchmarks.live_server import REPO, Server, Socket, chromium, process_cpu_seconds, serve, settle
from core.runtime.device import describe_cpu

MAX_EDITS = 500
CLICK_PAUSE_MS = 80
QUIET_S = 2.5  # longer than the components' report delay (1.5 s): the last report has run


async def timings(page, root: str, since: int) -> list[float]:
    return (await page.locator(root).evaluate("(e) => e.glTimings"))[since:]


async def timing_count(page, root: str) -> int:
    return await page.locator(root).evaluate("(e) => e.glTimings.length")


async def clicks(page, root: str, points, edits: int) -> list[float]:
    """`edits` clicks at the points `points()` gives; the component's latency of each."""
    since = await timing_count(page, root)
    for _ in range(edits):
        await page.mouse.click(*points())
        await page.wait_for_timeout(CLICK_PAUSE_MS)
    await page.wait_for_timeout(200)
    return await timings(page, root, since)


async def drag(page, root: str, start, at, seconds: float) -> list[float]:
    """A drag from `start` through `at(fraction of the way)`, back and forth, for `seconds`."""
    since = await timing_count(page, root)
    await page.mouse.move(*start)
    await page.mouse.down()
    began = time.perf_counter()
    while (elapsed := time.perf_counter() - began) < seconds:
        await page.mouse.move(*at(abs((elapsed % 2.0) - 1.0)))
    await page.mouse.up()
    await page.wait_for_timeout(200)
    return await timings(page, root, since)


async def measured(page, server: Server, socket: Socket, edits: Awaitable[list[float]], name: str) -> None:
    """Run `edits`; print its latencies, and the server's CPU seconds and script runs until its
    last report has run (the page's own CPU per run from the timing log besides)."""
    cpu, reruns = process_cpu_seconds(server.pid), socket.reruns
    mark = len(server.timing_log.read_text().splitlines()) if server.timing_log.exists() else 0
    latencies = await edits
    await page.wait_for_timeout(QUIET_S * 1000)
    await settle(page)
    cpu, reruns = process_cpu_seconds(server.pid) - cpu, socket.reruns - reruns
    runs = [t for part in ("latent_editor", "temperature") for t in server_times(server.timing_log, part, mark, 2)]
    print(f"  {name}: {summary(latencies, 'ms')}")
    print(
        f"    server: {cpu:.3f} CPU s in all, {cpu / max(len(latencies), 1) * 1000:.2f} ms per edit; "
        f"{reruns} script run(s), {sum(runs) * 1000:.0f} ms of the page's own CPU in them"
    )


async def latent_editor(page, server: Server, socket: Socket, args: argparse.Namespace) -> None:
    started = len(socket.received)
    await page.goto(f"{server.url}/latent_editor", wait_until="domcontentloaded", timeout=180_000)
    await page.get_by_text("Decoded in your browser").wait_for(timeout=120_000)
    await settle(page)
    first = socket.received[started:]
    print(f"  first visit: {sum(first) / 1e6:.2f} MB over the websocket, the largest message {max(first) / 1e6:.2f} MB")
    sidebar = page.locator('[data-testid="stSidebarNav"]')
    await sidebar.get_by_text("Temperature", exact=True).click()
    await page.locator("canvas.gl-samples").wait_for(timeout=120_000)
    await settle(page)
    back = len(socket.received)
    await sidebar.get_by_text("Latent editor", exact=True).click()
    await page.get_by_text("Decoded in your browser").wait_for(timeout=120_000)
    await settle(page)
    again = socket.received[back:]
    print(f"  back from Temperature: {sum(again) / 1e6:.3f} MB, the largest message {max(again) / 1e3:.1f} kB")
    box = await page.locator("canvas.gl-grid").bounding_box()
    assert box is not None
    cell = max(8, min(30, (box["width"] - 38) // 30))
    draw = random.Random(0)

    def cell_point() -> tuple[float, float]:
        return box["x"] + 34 + (draw.randrange(30) + 0.5) * cell, box["y"] + 6 + (draw.randrange(10) + 0.5) * cell

    def in_column(f: float) -> tuple[float, float]:
        return box["x"] + 34 + 7.5 * cell, box["y"] + 6 + (0.5 + 9 * f) * cell

    edits = clicks(page, ".gl-editor", cell_point, args.edits)
    await measured(page, server, socket, edits, f"{args.edits} clicks on the grid")
    dragged = drag(page, ".gl-editor", in_column(0.0), in_column, args.drag_seconds)
    await measured(page, server, socket, dragged, f"{args.drag_seconds:g} s drag in variable 7's column")


async def temperature(page, server: Server, socket: Socket, args: argparse.Namespace) -> None:
    await page.goto(f"{server.url}/temperature", wait_until="domcontentloaded", timeout=180_000)
    await page.locator("canvas.gl-samples").wait_for(timeout=120_000)
    await settle(page)
    for name, selector in (("τ slider", "input.gl-tau"), ("logit slider (class 0)", ".gl-logits input >> nth=0")):
        box = await page.locator(selector).bounding_box()
        assert box is not None
        draw = random.Random(1)

        def on_slider(f: float, box=box) -> tuple[float, float]:
            return box["x"] + 8 + f * (box["width"] - 16), box["y"] + box["height"] / 2

        edits = clicks(page, ".gl-temperature", lambda draw=draw, at=on_slider: at(draw.random()), args.edits)
        await measured(page, server, socket, edits, f"{args.edits} clicks on the {name}")
        dragged = drag(page, ".gl-temperature", on_slider(0.0), on_slider, args.drag_seconds)
        await measured(page, server, socket, dragged, f"{args.drag_seconds:g} s drag of the {name}")


async def run(args: argparse.Namespace, server: Server) -> None:
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1400, "height": 1000})
        page = await context.new_page()
        socket = Socket(page)
        print("Latent editor")
        await latent_editor(page, server, socket, args)
        print("Temperature")
        await temperature(page, server, socket, args)
        await context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--drag-seconds", type=float, default=5.0)
    args = parser.parse_args()
    if not 1 <= args.edits <= MAX_EDITS or not 0.5 <= args.drag_seconds <= 30:
        parser.error(f"keep it bounded: 1-{MAX_EDITS} edits, a drag of 0.5-30 s")
    if shutil.which("chromium") is None:
        parser.error("needs Debian's chromium (apt-get install -y chromium)")
    print(describe_cpu())
    print(f"load average before: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    with serve(REPO, timing=True, prefix="browser-latency-") as server:
        asyncio.run(run(args, server))
    print(f"load average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
