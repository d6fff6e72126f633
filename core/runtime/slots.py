"""A server's run slots and the fair line in front of them: a run that finds every slot busy
waits its turn instead of being refused, and starts by itself when a slot frees.

`RunSlots` carries at most `limit` runs at once (a Train-page run holds one slot; a sweep may
hold several). A request gets a slot at once only when one is free and nobody waits; otherwise
it queues at the back, first come first served. Each waiting `Ticket` knows its place in line
and an estimate of its wait, computed from the work (images to train) of the runs ahead and
the rate at which this server's runs get through images. Leaving (a stop, an abandoned page,
a run's end) takes a ticket out of the line or gives its slots to the head of the line.

Nothing here imports torch or Streamlit; holders report their progress through a callable that
must not block (it is read while other runs ask for their place).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from core.guards import whole_number

RECENT_RUNS = 20  # the rate estimate remembers this many ended runs


@dataclass(frozen=True)
class Place:
    """Where a waiting ticket stands: 1 is next in line; `seconds` is None until a rate is known."""

    position: int
    seconds: float | None

    def describe(self) -> str:
        """As a page shows it: "3rd in line · about 40 s"."""
        text = f"{ordinal(self.position)} in line"
        if self.seconds is not None:
            text += f" · about {round_wait(self.seconds)}"
        return text


@dataclass(frozen=True)
class Holder:
    name: str
    slots: int
    seconds_left: float | None


@dataclass(frozen=True)
class SlotsView:
    """What a lecturer sees: the runs holding slots and the line, in order."""

    limit: int
    running: tuple[Holder, ...]
    waiting: tuple[str, ...]

    @property
    def busy(self) -> int:
        return sum(h.slots for h in self.running)


class Ticket:
    """One holder's place: in line, then holding slots, then gone. `work` is the images it will
    train in all; `progress()` the images done so far (read without blocking)."""

    def __init__(self, name: str, work: float, progress: Callable[[], float] | None) -> None:
        self.name = name
        self.work = max(0.0, float(work))
        self.progress = progress or (lambda: 0.0)
        self.slots = 0
        self.since = 0.0  # when it got its first slot
        self.gone = False
        self._granted = threading.Event()

    @property
    def granted(self) -> bool:
        return self._granted.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` seconds for a slot; True once it has one."""
        return self._granted.wait(timeout)

    def _grant(self, now: float) -> None:
        self.slots, self.since = 1, now
        self._granted.set()


class RunSlots:
    """A fixed number of concurrent runs for a whole server, and a first-come line for the rest."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = whole_number(limit, "the run limit", 1)
        self._clock = clock
        self._lock = threading.Lock()
        self._holders: list[Ticket] = []
        self._line: deque[Ticket] = deque()
        self._recent: deque[tuple[float, float]] = deque(maxlen=RECENT_RUNS)  # (seconds, images)

    def request(self, name: str, work: float = 0.0, progress: Callable[[], float] | None = None) -> Ticket:
        """A slot now when one is free and nobody waits, else a place at the back of the line."""
        ticket = Ticket(name, work, progress)
        with self._lock:
            if not self._line and self._free() > 0:
                ticket._grant(self._clock())
                self._holders.append(ticket)
            else:
                self._line.append(ticket)
        return ticket

    def leave(self, ticket: Ticket) -> None:
        """Out of the line, or its slots back to the line's head; safe to call more than once."""
        with self._lock:
            if ticket.gone:
                return
            ticket.gone = True
            if ticket in self._line:
                self._line.remove(ticket)
                return
            if ticket in self._holders:
                self._holders.remove(ticket)
                seconds, images = self._clock() - ticket.since, ticket.progress()
                if images > 0 and seconds > 0:
                    self._recent.append((seconds, images))
                ticket.slots = 0
                self._grant_waiting()

    def take_more(self, ticket: Ticket, wanted: int) -> int:
        """Up to `wanted` more slots for a holder, only while nobody waits; how many it got."""
        with self._lock:
            if ticket not in self._holders or self._line:
                return 0
            extra = max(0, min(wanted, self._free()))
            ticket.slots += extra
            return extra

    def give_back(self, ticket: Ticket, count: int) -> None:
        """Return `count` of a holder's slots (it keeps at least one) to the line."""
        with self._lock:
            if ticket in self._holders:
                ticket.slots -= max(0, min(count, ticket.slots - 1))
                self._grant_waiting()

    def someone_waits(self) -> bool:
        return bool(self._line)

    def place(self, ticket: Ticket) -> Place | None:
        """A waiting ticket's place in line and its estimated wait; None once it is out of line."""
        with self._lock:
            if ticket not in self._line:
                return None
            position = self._line.index(ticket) + 1
            ahead = [t.work for t in list(self._line)[: position - 1]]
            holders = [(t, t.slots, self._clock() - t.since) for t in self._holders]
            free = self._free()
            recent = list(self._recent)
        return Place(position, _estimate_wait(holders, free, ahead, recent))

    def view(self) -> SlotsView:
        with self._lock:
            holders = [(t, t.slots, self._clock() - t.since) for t in self._holders]
            waiting = tuple(t.name for t in self._line)
            recent = list(self._recent)
        per_image = _seconds_per_image(holders, recent)
        running = tuple(
            Holder(t.name, slots, _seconds_left(t, slots, per_image) if per_image is not None else None)
            for t, slots, _ in holders
        )
        return SlotsView(self.limit, running, waiting)

    def _free(self) -> int:
        return self.limit - sum(t.slots for t in self._holders)

    def _grant_waiting(self) -> None:
        now = self._clock()
        while self._line and self._free() > 0:
            ticket = self._line.popleft()
            ticket._grant(now)
            self._holders.append(ticket)


class SlotShare:
    """Slots for a job that can use several at once (a sweep's trials): it waits in line for its
    first slot like any run, takes more only while nobody waits, and hands back every slot its
    running trials do not hold as soon as someone does. A visitor who queues behind a sweep so
    waits for one of its trials to end, never for the whole sweep."""

    def __init__(self, slots: RunSlots, name: str, work: float, progress: Callable[[], float] | None) -> None:
        self.slots = slots
        self.ticket = slots.request(name, work, progress)

    def fit(self, running: int, wanted: int) -> int:
        """How many trials may run now, with `running` running and `wanted` the most it could use."""
        held = self.ticket.slots
        keep = max(1, running) if self.slots.someone_waits() else max(1, wanted)
        if held > keep:
            self.slots.give_back(self.ticket, held - keep)
        elif held < wanted and not self.slots.someone_waits():
            self.slots.take_more(self.ticket, wanted - held)
        return self.ticket.slots

    def place(self) -> Place | None:
        return self.slots.place(self.ticket)

    def leave(self) -> None:
        self.slots.leave(self.ticket)


def _seconds_per_image(holders: list[tuple[Ticket, int, float]], recent: list[tuple[float, float]]) -> float | None:
    """How long one image takes a run on this server: the runs that ended lately and those
    running now, pooled; None before any run has trained an image."""
    seconds = sum(s for s, _ in recent)
    images = sum(i for _, i in recent)
    for ticket, slots, held in holders:
        done = ticket.progress()
        if done > 0:
            seconds, images = seconds + held / slots, images + done / slots
    return seconds / images if images > 0 else None


def _seconds_left(ticket: Ticket, slots: int, per_image: float) -> float:
    """When a holder frees a slot: its work left at the server's rate, spread over its slots."""
    return max(0.0, ticket.work - ticket.progress()) * per_image / max(slots, 1)


def _estimate_wait(
    holders: list[tuple[Ticket, int, float]], free: int, ahead: list[float], recent: list[tuple[float, float]]
) -> float | None:
    """When a ticket behind `ahead` (the work of each run before it) gets a slot: the slots free
    up as their holders finish, and each run ahead takes the first to free for its own work."""
    per_image = _seconds_per_image(holders, recent)
    if per_image is None:
        return None
    frees = [0.0] * max(free, 0)
    for ticket, slots, _ in holders:
        frees += [_seconds_left(ticket, slots, per_image)] * slots
    if not frees:
        return None
    heapq.heapify(frees)
    for work in ahead:
        heapq.heappush(frees, heapq.heappop(frees) + work * per_image)
    return frees[0]


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def round_wait(seconds: float) -> str:
    """A wait as a person reads it: to 5 s under a minute, to the minute after."""
    if seconds < 60:
        return f"{max(5, 5 * round(seconds / 5))} s"
    return f"{round(seconds / 60)} min"
