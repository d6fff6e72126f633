"""The server's run slots and the line in front of them (core.runtime.slots): first come first
served, nobody refused, places and waits computed exactly from the runs' progress, and a
sweep that shares the slots without starving the visitors behind it. No training here: the
holders are plain counters and the clock is a number the test moves."""

from __future__ import annotations

import pytest

from core.runtime.slots import Place, RunSlots, SlotShare, ordinal, round_wait


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counter:
    """A holder's images done, set by the test."""

    def __init__(self) -> None:
        self.done = 0.0

    def __call__(self) -> float:
        return self.done


def test_a_free_slot_is_taken_at_once_and_the_rest_wait_in_order():
    slots = RunSlots(2)
    a, b, c, d = (slots.request(name) for name in "abcd")
    assert (a.granted, b.granted, c.granted, d.granted) == (True, True, False, False)
    assert [slots.place(t).position for t in (c, d)] == [1, 2]
    assert slots.place(a) is None  # holding, not in line
    slots.leave(b)
    assert c.granted and not d.granted and slots.place(d).position == 1
    view = slots.view()
    assert [h.name for h in view.running] == ["a", "c"] and view.waiting == ("d",) and view.busy == 2


def test_a_newcomer_never_jumps_the_line():
    slots = RunSlots(1)
    first, second = slots.request("first"), slots.request("second")
    slots.leave(first)  # the slot goes to the head of the line ...
    assert second.granted
    third = slots.request("third")  # ... and a newcomer queues even had a slot been free a moment ago
    assert not third.granted and slots.place(third) == Place(1, None)


def test_leaving_the_line_moves_everyone_behind_up_and_is_idempotent():
    slots = RunSlots(1)
    holder, b, c = slots.request("holder"), slots.request("b"), slots.request("c")
    slots.leave(b)
    slots.leave(b)
    assert slots.place(c).position == 1 and slots.view().waiting == ("c",)
    slots.leave(holder)
    slots.leave(holder)  # its slot is given once, not twice
    assert c.granted and slots.view().busy == 1
    with pytest.raises(ValueError):
        RunSlots(0)


def test_the_wait_is_the_runs_ahead_at_the_servers_rate():
    """Limit 1: the holder has trained 500 of its 1,000 images in 10 s (0.02 s an image), so it
    frees its slot in 10 s; the first in line waits that, the second also the first's 2,000
    images (40 s), the third also the second's 500 (10 s)."""
    clock, holder_progress = Clock(), Counter()
    slots = RunSlots(1, clock)
    slots.request("holder", 1000, holder_progress)
    waiting = [slots.request(name, work) for name, work in (("w1", 2000), ("w2", 500), ("w3", 100))]
    assert slots.place(waiting[0]) == Place(1, None)  # no image trained yet: no rate, no estimate
    clock.now += 10
    holder_progress.done = 500
    assert [slots.place(t).seconds for t in waiting] == pytest.approx([10.0, 50.0, 60.0])
    assert slots.view().running[0].seconds_left == pytest.approx(10.0)
    assert slots.place(waiting[1]).describe() == "2nd in line · about 50 s"


def test_ended_runs_give_the_rate_while_the_holder_has_trained_nothing_yet():
    clock, progress = Clock(), Counter()
    slots = RunSlots(1, clock)
    first = slots.request("first", 100, progress)
    clock.now += 5
    progress.done = 100  # 0.05 s an image
    slots.leave(first)
    second = slots.request("second", 400, Counter())  # holds the slot, no image trained yet
    third = slots.request("third", 200)
    assert second.granted and slots.place(third) == Place(1, pytest.approx(400 * 0.05))


def test_a_sweep_takes_free_slots_only_while_nobody_waits_and_gives_them_back():
    slots = RunSlots(3)
    sweep = SlotShare(slots, "sweep", 10_000, Counter())
    assert sweep.ticket.granted and sweep.fit(running=0, wanted=4) == 3  # nobody waits: every free slot
    visitor = slots.request("visitor")
    assert not visitor.granted
    assert sweep.fit(running=3, wanted=4) == 3  # its trials keep running ...
    assert sweep.fit(running=2, wanted=4) == 2  # ... but a trial's end hands its slot on
    assert visitor.granted
    assert sweep.fit(running=2, wanted=4) == 2  # nothing free to take back
    late = slots.request("late")
    slots.leave(visitor)
    assert late.granted and sweep.fit(running=2, wanted=4) == 2  # the line goes first
    assert sweep.fit(running=1, wanted=1) == 1  # nothing left to launch: its spare slot goes back
    assert slots.view().busy == 2
    sweep.leave()
    assert slots.view().busy == 1


def test_a_sweep_that_finds_no_slot_waits_in_line_like_a_run():
    slots = RunSlots(1)
    slots.request("visitor")
    sweep = SlotShare(slots, "sweep", 1000, None)
    assert not sweep.ticket.granted and sweep.place() == Place(1, None)


def test_words():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "101st",
        "111th",
    ]
    assert [round_wait(s) for s in (0.4, 12, 38, 59, 61, 150)] == ["5 s", "10 s", "40 s", "60 s", "1 min", "2 min"]
