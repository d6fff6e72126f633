"""The tutorial's own categorical VAE script, as a process to time against `python -m core.training`.

    python -m benchmarks.tutorial_loop [--epochs N] [--data-root DIR]

The textbook loop of `benchmarks.textbook` as a tutorial runs it: one line per epoch with the
mean relaxed and unrelaxed training losses, then a test pass with exact one-hot samples.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.textbook import exact_sample_loss, textbook_loader, textbook_model, textbook_step
from core.data import resolve_data_root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data-root", default=None, help="folder holding MNIST/raw (default: as core.training)")
    args = parser.parse_args()
    root = resolve_data_root(args.data_root)
    train, test = textbook_loader(root, train=True), textbook_loader(root, train=False)
    model, optimizer = textbook_model()
    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        relaxed = unrelaxed = 0.0
        for data, _ in train:
            loss, hard_loss = textbook_step(model, optimizer, data.view(-1, 784))
            relaxed += loss
            unrelaxed += hard_loss
        test_sum = images = 0.0
        for data, _ in test:
            test_sum += exact_sample_loss(model, data.view(-1, 784)).item() * len(data)
            images += len(data)
        print(
            f"Epoch {epoch:>2}: relaxed {relaxed / len(train):.2f}  unrelaxed {unrelaxed / len(train):.2f}  "
            f"test {test_sum / images:.2f}  ({time.perf_counter() - started:.1f} s)"
        )


if __name__ == "__main__":
    main()
