"""How a small learning task (the planted tree, the sorter) paces its progress reports: the
steps between two reports, computed here, apart from the worker thread that drives the task."""

from __future__ import annotations

from collections.abc import Iterator

from core.guards import whole_number


def report_chunks(done: int, total: int, report_every: int) -> Iterator[int]:
    """The sizes of the chunks a task trains in between two progress reports: `report_every`
    steps each, the last one cut short at `total`."""
    every = whole_number(report_every, "report_every", 1)
    left = max(total - done, 0)
    sizes = [every] * (left // every)
    if left % every:
        sizes.append(left % every)
    return iter(sizes)
