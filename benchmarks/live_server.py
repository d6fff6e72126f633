"""What the browser load scripts share: a fresh app server, its memory, and a headless Chromium.

`serve()` starts `streamlit run app.py` (the README's command) on a free port of 127.0.0.1 with
its own temporary run store, and kills it and removes its folders however the script ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

REPO = Path(__file__).resolve().parent.parent
HEALTH_SECONDS = 90


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen
    url: str
    folder: Path  # temporary: the run store (runs/) and the pages' timing log

    @property
    def timing_log(self) -> Path:
        """Where the pages append their seconds per run when `serve(timing=True)`."""
        return self.folder / "timing.log"

    @property
    def pid(self) -> int:
        return self.process.pid


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status_number(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass  # the process has just exited
    return 0


def rss_mb(pid: int) -> float:
    """Resident memory of one process, in MB."""
    return _status_number(pid, "VmRSS") / 1024


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children, their children, ...)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            ppid = _status_number(int(entry.name), "PPid")  # a plain number, read like the sizes
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def tree_rss_mb(pid: int) -> tuple[float, int]:
    """Resident memory of `pid` and all its descendants added up (pages a forked child still
    shares with its parent count twice), in MB, and how many descendants there are."""
    below = descendants(pid)
    return sum(rss_mb(p) for p in [pid, *below]), len(below)


def streamlit_command(port: int) -> list[str]:
    """The README's `streamlit run app.py`, headless on 127.0.0.1:`port`, no usage statistics."""
    return [
        *(sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"),
        *("--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"),
    ]


@contextmanager
def serve(repo: Path, *, timing: bool = False, prefix: str = "gumbel-load-") -> Iterator[Server]:
    """A fresh app server for the duration of the block; killed and its folder removed after.
    With `timing`, the pages log their seconds per run ($GUMBEL_LAB_TIMING) to `timing_log`."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    port = free_port()
    environment = os.environ | {"GUMBEL_LAB_RUNS": str(folder / "runs")}
    if timing:
        environment["GUMBEL_LAB_TIMING"] = str(folder / "timing.log")
    command = streamlit_command(port)
    process = subprocess.Popen(command, cwd=repo, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        yield Server(process, url, folder)
    finally:
        stop(process)
        shutil.rmtree(folder, ignore_errors=True)


def stop(process: subprocess.Popen) -> None:
    """Terminate a server; kill it when it has not exited 10 s later."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = HEALTH_SECONDS) -> float:
    """Seconds until the server answers its health check; an error, with what it printed when
    its output is piped, if it exits first or stays silent for `timeout` seconds."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            printed = f":\n{process.stdout.read()}" if process.stdout is not None else ""
            raise RuntimeError(f"streamlit exited with status {process.returncode} before answering{printed}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return time.perf_counter() - started
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"streamlit did not answer its health check at {url} within {timeout} s")


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            await browser.close()


async def settle(page: Page) -> None:
    """Until the page's script run has ended (no 'running' status widget)."""
    await page.wait_for_timeout(400)
    await page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its waited-for children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class Socket:
    """Bytes the page received on its websocket, and the script runs it asked for (Streamlit's
    BackMsg `rerun_script`, the sidebar's timed keep-alive, `is_auto_rerun`, aside)."""

    def __init__(self, page: Page) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        self.received: list[int] = []
        self.rerun_times: list[float] = []  # time.perf_counter() when each was sent

        def sent(frame: bytes | str) -> None:
            message = BackMsg()
            message.ParseFromString(frame if isinstance(frame, bytes) else frame.encode())
            if message.WhichOneof("type") == "rerun_script" and not message.rerun_script.is_auto_rerun:
                self.rerun_times.append(time.perf_counter())

        def listen(socket) -> None:
            socket.on("framereceived", lambda frame: self.received.append(len(frame)))
            socket.on("framesent", sent)

        page.on("websocket", listen)

    @property
    def reruns(self) -> int:
        return len(self.rerun_times)

    def reruns_between(self, start: float, end: float) -> int:
        return sum(start <= t < end for t in self.rerun_times)
