"""How a learning task splits its steps between progress reports."""

import pytest

from core.progress import report_chunks


@pytest.mark.parametrize(
    ("done", "total", "every", "chunks"),
    [(0, 25, 10, [10, 10, 5]), (0, 20, 10, [10, 10]), (20, 25, 10, [5]), (30, 25, 10, []), (0, 3, 1, [1, 1, 1])],
)
def test_chunks_fill_the_steps_left_and_cut_the_last_one_short(done, total, every, chunks) -> None:
    assert list(report_chunks(done, total, every)) == chunks


@pytest.mark.parametrize("every", [0, 2.5, True])
def test_a_report_interval_must_be_a_whole_number_of_steps(every) -> None:
    with pytest.raises(ValueError, match="report_every"):
        report_chunks(0, 10, every)
