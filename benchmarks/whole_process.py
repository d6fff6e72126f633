"""The whole process, start to finish: `python -m core.training --epochs 1` against the tutorial's
own script (`benchmarks.tutorial_loop`), each a fresh interpreter, on the CPU.

    python -m benchmarks.whole_process [--repeats N] [--threads N]

Each side runs one epoch of the reference script's preset on the full training set, then its test pass;
the wall time counts everything a user waits for: interpreter start, imports, reading MNIST,
the epoch and the test pass (and, for ours, writing the model into a temporary folder). Before
timing, MNIST is read once both ways, so our uint8 cache exists and torchvision's extracted
files too: both sides are timed warm. The sides alternate for --repeats rounds; prints each
wall time, the medians, the ratio tutorial / ours, and the wall time of
`python -m core.training --help` (median of 5).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.names import THREADS_ENV
from core.runtime.device import describe_cpu

REPO = Path(__file__).resolve().parent.parent


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Seconds from start to exit of `python <command>` in the repo, and its last line of output
    (with ours, the thread count it trained with); a failure stops the benchmark."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *command], cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    last = (done.stdout.strip().splitlines() or [""])[-1]
    said = [line for line in done.stderr.splitlines() if line.startswith("Training ") and "threads " in line]
    threads = [line.split("threads ", 1)[1].rsplit(": ", 1)[0] for line in said]
    return seconds, last + (f", threads {threads[0]}" if threads else "")


def load_average() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def prepare() -> None:
    """Read MNIST once as each side does, so neither side's timed runs pay a first-time cost."""
    from benchmarks.textbook import textbook_loader
    from core.data import load_mnist, resolve_data_root

    for train in (True, False):
        textbook_loader(resolve_data_root(), train)
    load_mnist("train")
    load_mnist("test")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds of (ours, tutorial)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads for both sides (default: each side's own choice)"
    )
    args = parser.parse_args()
    if args.repeats < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--repeats and --threads must be at least 1")

    print(describe_cpu())
    print(f"load average {load_average()} (1, 5, 15 min)")
    with tempfile.TemporaryDirectory(prefix="whole-process-") as scratch:
        env = os.environ | {"GUMBEL_LAB_RUNS": str(Path(scratch) / "runs")}
        if args.threads:
            env |= {"OMP_NUM_THREADS": str(args.threads), THREADS_ENV: str(args.threads)}
            threads = f"{args.threads} on both sides"
        else:
            threads = f"each side's own (ours: ${THREADS_ENV} or the auto policy; tutorial: torch's default)"
        print(f"threads: {threads}; MNIST from {env.get('GUMBEL_LAB_DATA', 'data')}")
        prepare()
        help_seconds = statistics.median(timed(["-m", "core.training", "--help"], env)[0] for _ in range(5))
        print(f"python -m core.training --help: {help_seconds:.3f} s (median of 5)", flush=True)

        ours_command = ["-m", "core.training", "--epochs", "1", "--device", "cpu", "--out", str(Path(scratch) / "ours")]
        times: dict[str, list[float]] = {"ours": [], "tutorial": []}
        for round_ in range(1, args.repeats + 1):
            for side, command in (("ours", ours_command), ("tutorial", ["-m", "benchmarks.tutorial_loop"])):
                seconds, last_line = timed(command, env)
                times[side].append(seconds)
                print(f"round {round_}, {side:<8} {seconds:6.1f} s   ({last_line})", flush=True)
    ours, tutorial = statistics.median(times["ours"]), statistics.median(times["tutorial"])
    print(f"median of {args.repeats}: ours {ours:.1f} s, tutorial {tutorial:.1f} s")
    print(f"ratio tutorial / ours: {tutorial / ours:.2f}x   (load average at the end: {load_average()})")


if __name__ == "__main__":
    main()
