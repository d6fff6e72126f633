"""Train the categorical VAE from the command line: `python -m core.training`.

The defaults are the reference script's preset; one line per epoch reads like the reference script's output.
torch and the training engine are imported only once the arguments are parsed, so `--help`
and a mistyped option answer at once.
"""

from __future__ import annotations

import argparse
import gc
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from core.names import ALIASES, ANNEAL_EVERY, ANNEAL_RATE, BINARIZE, ESTIMATORS, PRECISIONS, PRESET_NAMES, THREADS_ENV
from core.runtime.jobs import Status

if TYPE_CHECKING:
    from core.training.config import TrainConfig
    from core.training.loop import EpochMetrics


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core.training", description=__doc__.splitlines()[0])
    p.add_argument(
        "--preset",
        choices=PRESET_NAMES,
        default="faithful",
        help="faithful: ReLU on the encoder logits as in the reference script; linear: plain logits; "
        "jang: 20x10 latents, plain logits (Jang et al. 2017)",
    )
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--updates", type=int, default=None, help="train this many updates instead (overrides --epochs)")
    p.add_argument("--tau", type=float, default=1.0, help="temperature (the start value when annealing)")
    p.add_argument("--anneal", action="store_true", help="exponential temperature annealing (Jang et al. 2017)")
    p.add_argument("--anneal-rate", type=float, default=ANNEAL_RATE)
    p.add_argument("--anneal-every", type=int, default=ANNEAL_EVERY, help="steps between temperature updates")
    p.add_argument("--tau-min", type=float, default=0.5)
    p.add_argument("--hard", action="store_true", help="straight-through: one-hot forward, relaxed gradient")
    p.add_argument(
        "--estimator",
        choices=[*ESTIMATORS, *ALIASES],
        default=None,
        help="overrides --hard when given ('relaxed' is the older name of gumbel_softmax)",
    )
    p.add_argument("--rao-samples", type=int, default=10, help="conditional Gumbel draws per Gumbel-Rao gradient")
    p.add_argument(
        "--sf-samples",
        type=int,
        default=4,
        help="exact samples per image for the score function and MuProp (each one's baseline is the others' mean)",
    )
    p.add_argument(
        "--binarize",
        choices=BINARIZE,
        default="none",
        help="none: grey levels as the reference script; dynamic: a fresh Bernoulli draw per batch; static: one draw. "
        "Binarized runs are tested on one fixed binarization of the test set",
    )
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument(
        "--lr-decay", type=float, default=1.0, help="multiply the learning rate by this every --lr-decay-every steps"
    )
    p.add_argument("--lr-decay-every", type=int, default=1000)
    p.add_argument(
        "--validation",
        type=int,
        default=0,
        help="hold out the training split's last N images: the run keeps the weights with the best validation bound",
    )
    p.add_argument("--validate-every", type=int, default=2500, help="updates between validations (at an epoch's end)")
    p.add_argument(
        "--validation-samples", type=int, default=10, help="m of the validation's m-sample bound (importance samples)"
    )
    p.add_argument("--patience", type=int, default=None, help="stop after N validations without a better bound")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available, else cpu)")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="bf16: matrix products in bfloat16 (weights, Adam, sampler and losses stay float32); "
        "auto: bf16 where this CPU has native bfloat16 and its products measured faster (once per machine), "
        "else fp32",
    )
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--train-subset", type=int, default=None, help="train on the first N images only")
    p.add_argument(
        "--data-root", default=None, help="folder holding MNIST/raw (default: $GUMBEL_LAB_DATA, else ./data)"
    )
    p.add_argument(
        "--out",
        default=None,
        help="write the trained model here (a .pt file and its .json); "
        "default: the run store, $GUMBEL_LAB_RUNS/cli/<name>",
    )
    p.add_argument("--name", default=None, help="the run's name in the store (default: from its settings and time)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="with --out or --name: a finished run is left as it is, a stopped or killed one continues from its "
        "last epoch (its state is saved after every epoch)",
    )
    p.add_argument(
        "--threads",
        default=None,
        help=f"torch threads: 'auto' counts the cores other processes leave free, and re-counts during the run; "
        f"a number fixes it (default: ${THREADS_ENV}, else auto)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    from core.runtime.device import default_device
    from core.training.config import TrainConfig

    estimator = args.estimator or ("straight_through" if args.hard else "gumbel_softmax")
    return TrainConfig.from_settings(vars(args) | {"estimator": estimator, "device": args.device or default_device()})


def format_epoch(e: EpochMetrics) -> str:
    line = (
        f"Epoch {e.epoch:>2}: relaxed {e.relaxed:.2f}  unrelaxed {e.unrelaxed:.2f}  "
        f"test {e.test:.2f}  (tau {e.tau:.3f}, {e.seconds:.1f} s)"
    )
    if e.validation_bound is not None:
        line += f"  step {e.step}: validation bound {e.validation_bound:.2f}, test bound {e.test_bound:.2f}"
    return line


def default_name(args: argparse.Namespace, config: TrainConfig) -> str:
    return f"{args.preset}-{config.estimator}-tau{config.tau:g}-s{config.seed}-{time.strftime('%Y%m%d-%H%M%S')}"


def _stop_on_terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """While training, `kill` (SIGTERM) stops the run as Ctrl-C does: the model as it stands is
    saved and its record says stopped, where it used to stay "running" with no process behind it.
    Only the main thread may set a handler; the previous one comes back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _stop_on_terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from core.runtime.threads import ThreadPolicy, requested_threads

    try:
        threads = ThreadPolicy(requested_threads(args.threads))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    threads.start()  # importing torch and loading the data are the first measuring interval
    from tqdm import tqdm

    from core.data import MissingDataError, load_mnist
    from core.runtime.device import device_name
    from core.store.checkpoints import checkpoint_path, read_metadata
    from core.store.runs import RunStore
    from core.training.loop import StepMetrics, Trainer
    from core.training.record import RunRecorder
    from core.training.resume import load_state, save_state, state_path

    # What the imports made lives as long as the process: out of the collector's sight it costs
    # no full collections during the run, and ~0.2 s less at exit.
    gc.freeze()
    store = RunStore()
    epochs: list[EpochMetrics] = []
    earlier_seconds = 0.0  # a resumed run's wall time before this process
    try:
        if args.resume and not (args.out or args.name):
            raise ValueError("--resume needs the run's place: give --out or --name.")
        config = config_from_args(args)
        path = Path(args.out) if args.out else store.path_for("cli", args.name or default_name(args, config))
        path = checkpoint_path(path)
        state = state_path(path)
        if args.resume and path.is_file() and read_metadata(path).get("status") == Status.FINISHED:
            print(f"{path.stem}: finished already", file=sys.stderr)
            return 0
        train = load_mnist("train", args.data_root)
        test = load_mnist("test", args.data_root)
        trainer = Trainer(config, train, test)
        if args.resume and state.is_file():
            epochs, earlier_seconds = load_state(trainer, state)
            print(f"{path.stem}: resuming at step {trainer.step} (epoch {trainer.epoch})", file=sys.stderr)
        threads.choose()
    except (ValueError, MissingDataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    words = sys.argv[1:] if argv is None else argv
    command = " ".join(["python -m core.training", *(shlex.quote(w) for w in words)])
    recorder = RunRecorder(
        path,
        {
            "name": path.stem,
            "preset": args.preset,
            "command": command,
            "source": "CLI",
            "device": device_name(config.device),
            "threads": threads.describe(),
        },
        store,
    )
    recorder.start(trainer)
    if epochs:
        recorder.epoch(trainer, epochs)  # the resumed run's history so far
    print(
        f"Training {args.preset} preset, {config.estimator}, on {config.device}, threads {threads.describe()}, "
        f"precision {trainer.precision_choice.describe()}: {trainer.total_steps} steps",
        file=sys.stderr,
    )
    status = Status.FINISHED
    started = time.perf_counter()
    try:
        with (
            _terminate_as_interrupt(),
            tqdm(total=trainer.total_steps, disable=args.quiet, unit="step", file=sys.stderr, leave=False) as bar,
        ):
            for event in threads.follow(trainer.events()):
                if isinstance(event, StepMetrics):
                    bar.update(1)
                    # refresh=False: tqdm redraws at its own pace (every 0.1 s), not once a step
                    bar.set_postfix(loss=f"{event.relaxed:.1f}", img_s=f"{event.images_per_second:.0f}", refresh=False)
                else:
                    epochs.append(event)
                    recorder.epoch(trainer, epochs)
                    if args.resume:
                        save_state(trainer, epochs, state, earlier_seconds + time.perf_counter() - started)
                    bar.write(format_epoch(event), file=sys.stdout)
    except KeyboardInterrupt:
        status = Status.STOPPED
        print("interrupted: saving the model as it stands", file=sys.stderr)
    except Exception as err:
        recorder.fail(f"{type(err).__name__}: {err}")
        raise
    recorder.metadata["wall_seconds"] = round(earlier_seconds + time.perf_counter() - started, 1)
    saved = recorder.end(trainer, epochs, status)
    if status == Status.FINISHED:
        state.unlink(missing_ok=True)
    for notice in recorder.notices:
        print(notice, file=sys.stderr)
    if saved is not None:
        print(f"saved {saved}", file=sys.stderr)
    return 0 if status == Status.FINISHED else 130


if __name__ == "__main__":
    sys.exit(main())
