"""Server memory after a class has trained: 10 finished runs against a fresh server (issue 15).

    python -m benchmarks.run_memory [--runs 10] [--data tiny] [--epochs 1] [--bound 300] [--repo PATH]

Starts `streamlit run app.py` on a free port of 127.0.0.1 with its own temporary run store and
opens the Train page in a headless Chromium; once that first page has loaded, the server's
resident memory is the fresh figure. Then `--runs` visitors, each in its own browser context
(its own session, like one student each), open `/train?data=tiny&epochs=1`, press Start
training and wait for "Finished after"; each run's model must then be in that visitor's
sidebar Model list. All tabs stay open, so every session stays alive. After the training
processes have exited and `--settle` seconds, the memory is measured again. It prints the server
process's RSS and, apart, its process tree's (the server plus any training child still alive)
fresh and after, the difference, and whether it is within `--bound` MB; the exit status is 1
when not. Bounded by `--deadline` seconds; the server is killed and its folder removed at exit.
Not run in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.live_server import REPO, Server, chromium, descendants, rss_mb, serve, settle, tree_rss_mb
from core.runtime.device import describe_cpu

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page


EXIT_SECONDS = 60
STEP_SECONDS = 180  # one page load, one run's end: a wait longer than this is a hang
SHOTS = REPO / "artifacts" / "run_memory"


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def ms(self) -> float:
        """Milliseconds for one wait (Playwright's time-outs): STEP_SECONDS at most, never past the end."""
        return max(1.0, min(STEP_SECONDS, self.end - time.monotonic()) * 1000)

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.end


def memory(server: Server) -> str:
    tree, children = tree_rss_mb(server.pid)
    return f"server {rss_mb(server.pid):.0f} MB, tree {tree:.0f} MB ({children} child process(es))"


async def visitor(browser: Browser) -> Page:
    """A new visitor: a browser context of its own, so a session of its own."""
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    return await context.new_page()


async def open_train(page: Page, url: str, deadline: Deadline) -> None:
    """The Train page, its script run ended."""
    await page.goto(url, wait_until="domcontentloaded", timeout=deadline.ms())
    await page.get_by_role("button", name="Start training").wait_for(timeout=deadline.ms())
    await settle(page)


async def train_once(page: Page, deadline: Deadline) -> str:
    """Start, wait for the finished message, and check the model is in the sidebar's list."""
    await page.get_by_role("button", name="Start training").click()
    await page.get_by_text(re.compile(r"Finished after [\d,]+ steps")).wait_for(timeout=deadline.ms())
    heading = await page.get_by_role("heading", name=re.compile("^Run ")).inner_text()
    name = heading.split()[-1]
    await settle(page)
    await page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has_text="Model").click()
    await page.get_by_role("option", name=f"{name} (this session)").wait_for(timeout=deadline.ms())
    await page.keyboard.press("Escape")
    return name


async def failed(page: Page, run: int, err: Exception) -> None:
    """Say what was not reached, and keep a screenshot of the page as it was."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / f"run{run}.png"
    await page.screenshot(path=str(shot), full_page=True)
    print(f"run {run}: did not finish ({type(err).__name__}: {str(err).splitlines()[0]}); the page: {shot}")


async def measure(args: argparse.Namespace, server: Server) -> float | None:
    """Train `args.runs` times; the growth of the server process's RSS, None when unfinished."""
    deadline = Deadline(args.deadline)
    url = f"{server.url}/train?data={args.data}&epochs={args.epochs}"
    async with chromium() as browser:
        pages = [await visitor(browser)]  # all kept open: their sessions stay alive
        await open_train(pages[0], url, deadline)
        await asyncio.sleep(args.settle)
        fresh, (fresh_tree, _) = rss_mb(server.pid), tree_rss_mb(server.pid)
        print(f"fresh, after the first page load: {memory(server)}")
        finished = 0
        for i in range(args.runs):
            if i:
                pages.append(await visitor(browser))
            page = pages[-1]
            try:
                if i:
                    await open_train(page, url, deadline)
                started = time.perf_counter()
                name = await train_once(page, deadline)
            except Exception as err:  # Playwright's time-outs included: report what was reached
                await failed(page, i + 1, err)
                break
            finished += 1
            print(f"run {i + 1} ({name}): {time.perf_counter() - started:.1f} s; {memory(server)}")
        exits = time.monotonic() + EXIT_SECONDS
        while descendants(server.pid) and time.monotonic() < exits and not deadline.passed:
            await asyncio.sleep(0.5)  # the last training process exits after its finished message
        await asyncio.sleep(args.settle)
        errors = sum([await p.locator('[data-testid="stException"]').count() for p in pages])
        after, (after_tree, _) = rss_mb(server.pid), tree_rss_mb(server.pid)
        print(f"after {finished} finished run(s), {len(pages)} sessions open: {memory(server)}; page errors: {errors}")
    for label, before, now in (("server process", fresh, after), ("process tree", fresh_tree, after_tree)):
        print(f"{label + ' RSS:':<20} fresh {before:.0f} MB, after {now:.0f} MB, difference {now - before:+.0f} MB")
    return after - fresh if finished == args.runs and not errors else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--data", default="tiny", choices=("tiny", "demo", "full"), help="the Train page's data")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before each measurement")
    parser.add_argument("--bound", type=float, default=300.0, help="MB the server may grow by")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds for the whole measurement")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout to serve (default: this one)")
    args = parser.parse_args()
    if not 1 <= args.runs <= 20 or not 1 <= args.epochs <= 5 or not 0 <= args.settle <= 120:
        parser.error("keep it bounded: 1-20 runs, 1-5 epochs, 0-120 s settle")
    if shutil.which("chromium") is None:
        parser.error("needs Debian's chromium (apt-get install -y chromium)")
    with serve(args.repo.resolve(), prefix="run-memory-") as server:
        print(describe_cpu())
        print(f"{args.repo.resolve()} on {server.url}, {args.runs} runs of data={args.data}, epochs={args.epochs}")
        growth = asyncio.run(measure(args, server))
    if growth is None:
        print("INCOMPLETE: not every run finished without a page error")
        sys.exit(2)
    verdict = "PASS" if growth <= args.bound else "FAIL"
    print(f"{verdict}: server grew {growth:+.0f} MB after {args.runs} finished runs (bound {args.bound:g} MB)")
    sys.exit(0 if verdict == "PASS" else 1)


if __name__ == "__main__":
    main()
