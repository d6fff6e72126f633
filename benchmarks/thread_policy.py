"""Training speed with 1 thread, all threads and the auto thread policy, idle and beside a busy core.

    python -m benchmarks.thread_policy [--steps N] [--warmup N] [--repeats N]

Each cell times N of our training steps (`benchmarks.train_throughput.our_steps`: full MNIST,
batch 100) in a fresh process, so every configuration starts its thread pool clean:
"1 thread" sets torch to one, "all threads" keeps torch's default (one per core), "ours"
runs `core.runtime.threads.ThreadPolicy` as the CLI does (counted while the data loads, re-counted
during the steps). The competing load is a busy loop pinned to one core, as a browser
holds a laptop's core: "one core busy" starts it before the process, "busy from halfway"
has the timed process start it halfway through its steps (the policy must notice). The
loop ends itself at a deadline or when its parent is gone. Cells run in rotating order,
`--repeats` times; the table shows medians, and for each load whether ours is within 10% of
the better of 1 thread and all threads (issue 12's bar).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from benchmarks.busy_core import BURN_LIMIT_SECONDS, start_burner

CONFIGS = {"one": "1 thread", "all": "all threads", "ours": "ours (auto)"}
LOADS = {"idle": "idle", "busy": "one core busy", "half": "busy from halfway"}
BAR = 1.10  # ours may be at most 10% slower than the better of the other two


def worker(config: str, steps: int, warmup: int, burn_from_half: bool) -> None:
    """One cell, in a fresh process: print its timing as one JSON line."""
    import torch

    from benchmarks.train_throughput import BATCH, our_steps, run_for
    from core.data import load_mnist, resolve_data_root
    from core.runtime.threads import ThreadPolicy
    from core.training.config import TrainConfig
    from core.training.loop import Trainer

    policy = ThreadPolicy() if config == "ours" else None
    if policy:
        policy.start()  # as the CLI: loading the data is the first measuring interval
    elif config == "one":
        torch.set_num_threads(1)
    root = resolve_data_root()
    trainer = Trainer(TrainConfig(epochs=1, batch_size=BATCH), load_mnist("train", root), load_mnist("test", root))
    chosen = policy.choose() if policy else torch.get_num_threads()
    stream = policy.follow(our_steps(trainer)) if policy else our_steps(trainer)
    run_for(stream, warmup)
    first = steps // 2 if burn_from_half else steps
    seconds = run_for(stream, first)
    burner = start_burner() if burn_from_half else None
    seconds += run_for(stream, steps - first)
    if burner:
        burner.terminate()
    print(json.dumps({"seconds": seconds, "threads": [chosen, torch.get_num_threads()]}))


def run_cell(config: str, load: str, steps: int, warmup: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "GUMBEL_LAB_THREADS")}
    command = [sys.executable, "-m", "benchmarks.thread_policy", "--worker", config, "--steps", str(steps)]
    command += ["--warmup", str(warmup)] + (["--burn-from-half"] if load == "half" else [])
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=BURN_LIMIT_SECONDS, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def load_average() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="timed steps per cell")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each cell (the table shows the median)")
    parser.add_argument("--loads", nargs="+", choices=LOADS, default=list(LOADS))
    parser.add_argument("--worker", choices=CONFIGS, help=argparse.SUPPRESS)
    parser.add_argument("--burn-from-half", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if min(args.steps, args.warmup, args.repeats) < 1:
        parser.error("--steps, --warmup and --repeats must be at least 1")
    if args.worker:
        worker(args.worker, args.steps, args.warmup, args.burn_from_half)
        return

    from core.runtime.device import describe_cpu

    cores = len(os.sched_getaffinity(0))
    print(describe_cpu())
    print(f"{cores} usable cores; load average at start {load_average()}")
    results: dict[tuple[str, str], list[dict]] = {(load, c): [] for load in args.loads for c in CONFIGS}
    configs = list(CONFIGS)
    for repeat in range(args.repeats):
        loads = args.loads if repeat % 2 == 0 else args.loads[::-1]
        for load in loads:
            burner = start_burner() if load == "busy" else None
            try:
                for config in configs[repeat % 3 :] + configs[: repeat % 3]:
                    results[load, config].append(run_cell(config, load, args.steps, args.warmup))
            finally:
                if burner:
                    burner.terminate()
        print(f"  repeat {repeat + 1}/{args.repeats} done, load average {load_average()}", flush=True)

    print(f"\n{args.steps} training steps, batch 100, median of {args.repeats} (min-max); threads at start->end")
    print(f"| load | threads | {' | '.join(CONFIGS.values())} |")
    print(f"|---|---|{'---:|' * len(CONFIGS)}")
    median = {key: statistics.median(r["seconds"] for r in runs) for key, runs in results.items()}
    for load in args.loads:
        cells = []
        for config in CONFIGS:
            runs = results[load, config]
            seconds = [r["seconds"] for r in runs]
            cells.append(
                f"{median[load, config]:.2f} s ({min(seconds):.2f}-{max(seconds):.2f}), "
                f"{args.steps * 100 / median[load, config]:.0f} img/s"
            )
        threads = ", ".join(
            "/".join(sorted({f"{r['threads'][0]}->{r['threads'][1]}" for r in results[load, c]})) for c in CONFIGS
        )
        print(f"| {LOADS[load]} | {threads} | {' | '.join(cells)} |")
    print()
    for load in args.loads:
        best = min(median[load, "one"], median[load, "all"])
        ratio = median[load, "ours"] / best
        verdict = "yes" if ratio <= BAR else "NO"
        print(f"{LOADS[load]}: ours / better of 1 and all threads = {ratio:.2f} -> within 10%: {verdict}")
    print(f"load average at end {load_average()}")


if __name__ == "__main__":
    main()
