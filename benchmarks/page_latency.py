"""Server time of the app's interactive paths, and how long `streamlit run` takes to a first page.

    python -m benchmarks.page_latency [--repeats 20] [--no-browser]

Server time is one script run as Streamlit's AppTest executes it: the logits the Temperature
page's browser component reports when a slider is released, and a class change in the Latent
editor's server controls (the shipped default model). The
start-up figure launches `streamlit run app.py` and, in headless Chromium, waits for the
Home page's title and its figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import time

from benchmarks.live_server import REPO, free_port, stop, streamlit_command
from core.runtime.device import describe_cpu


def timed_reruns(page: str, change, repeats: int) -> list[float]:
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(REPO / page), default_timeout=60)
    app.run()
    times = []
    for i in range(repeats):
        change(app, i)
        started = time.perf_counter()
        app.run()
        times.append(time.perf_counter() - started)
        if app.exception:
            raise RuntimeError(app.exception[0].message)
    return times


def slider_move(app, i: int) -> None:
    app.session_state["logit_0"] = round(-4.0 + 0.4 * i, 1)


def class_edit(app, i: int) -> None:
    app.number_input(key="editor_variable").set_value(i % 30)
    app.segmented_control(key="editor_class").set_value((i * 3 + 1) % 10)


def first_page_seconds() -> float:
    from playwright.sync_api import sync_playwright

    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen(streamlit_command(port), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=shutil.which("chromium"),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page()
            while True:
                try:
                    page.goto(f"http://127.0.0.1:{port}/", timeout=5_000)
                    break
                except Exception:  # not listening yet
                    time.sleep(0.1)
            page.get_by_role("heading", name="Gumbel Lab").wait_for(timeout=120_000)
            page.wait_for_selector(".stPlotlyChart .js-plotly-plot", timeout=120_000)
            seconds = time.perf_counter() - started
            browser.close()
        return seconds
    finally:
        stop(server)


def report(name: str, times: list[float]) -> None:
    ms = sorted(t * 1000 for t in times)
    print(f"  {name:<32} median {statistics.median(ms):6.1f} ms   min {ms[0]:6.1f}   max {ms[-1]:6.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-browser", action="store_true", help="skip the start-up measurement")
    args = parser.parse_args()
    from ui import layout

    layout.leave_a_core_for_the_page()  # as app.py does for the server
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(describe_cpu())
    print(f"server time per interaction over {args.repeats} reruns (load average {load}):")
    report("Temperature: logits reported", timed_reruns("views/temperature.py", slider_move, args.repeats))
    report("Latent editor: class change", timed_reruns("views/latent_editor.py", class_edit, args.repeats))
    if not args.no_browser:
        print(f"  streamlit run -> Home rendered in Chromium: {first_page_seconds():.1f} s")


if __name__ == "__main__":
    main()
