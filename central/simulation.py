"""A deterministic simulator of study-space use, producing the events kiosks and sensors would send (pure).

Students follow a weekly timetable of classes. On a teaching day a student with classes often studies in
a gap between them or after the last one; without classes, visits are rarer and drawn from a day profile
(afternoon and evening peaks). Demand grows slowly through the term. In exam periods there are no classes,
most students come, earlier and for longer, weekends included: the exam-week surge. A student goes to an
open space that has room (the kiosk answers "full" otherwise, so occupancy never exceeds capacity) and
taps out when leaving, at closing time at the latest; a few forget, and the gateway closes their session
at the space's maximum stay (``via: "auto"``). A people counter per space reports every 15 minutes.

Everything comes from one ``random.Random(seed)``: the same scenario gives the same events, ids included.
"""

from __future__ import annotations

import heapq
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from central.utilisation import is_open
from onestop.events import Envelope
from onestop.site import SpaceConfig

# Relative chance of arriving at each local hour, for visits not tied to classes (teaching and exam days).
FREE_PROFILE = {8: 1, 9: 2, 10: 3, 11: 4, 12: 4, 13: 6, 14: 7, 15: 7, 16: 6, 17: 5, 18: 4, 19: 5, 20: 5,
                21: 3, 22: 1}
EXAM_PROFILE = {7: 2, 8: 6, 9: 8, 10: 7, 11: 5, 12: 4, 13: 5, 14: 5, 15: 4, 16: 3, 17: 3, 18: 3, 19: 4,
                20: 3, 21: 2}


@dataclass(frozen=True)
class Scenario:
    """What to simulate: one site's spaces, a population, a stretch of calendar."""

    site: str
    spaces: tuple[SpaceConfig, ...]
    start: date
    days: int
    students: int = 600
    exam_days: frozenset[date] = frozenset()
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    seed: int = 1
    forgot_checkout: float = 0.03
    term_growth: float = 0.03  # relative growth of demand per week of term
    counter_every: timedelta | None = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One simulated event: device, per-device ``seq``, type, data, device time and gateway receive time."""

    at: datetime
    received: datetime
    device: str
    seq: int
    type: str
    data: dict[str, Any]
    id: str


@dataclass
class _Student:
    card: str
    classes: dict[int, list[tuple[int, int]]]  # weekday -> [(start hour, end hour)]


def _timetable(rng: random.Random) -> dict[int, list[tuple[int, int]]]:
    week: dict[int, list[tuple[int, int]]] = {}
    for _ in range(rng.randint(5, 12)):
        day, start = rng.randrange(5), rng.randint(9, 17)
        end = min(start + rng.choice((1, 1, 2)), 19)
        slots = week.setdefault(day, [])
        if all(end <= s or start >= e for s, e in slots):
            slots.append((start, end))
    return {day: sorted(slots) for day, slots in week.items()}


def _pick_hour(rng: random.Random, profile: dict[int, int]) -> int:
    return rng.choices(list(profile), weights=list(profile.values()))[0]


class _Simulator:
    def __init__(self, scenario: Scenario) -> None:
        self.s = scenario
        self.rng = random.Random(scenario.seed)
        self.students = [_Student(f"{self.rng.getrandbits(32):08X}", _timetable(self.rng))
                         for _ in range(scenario.students)]
        self.seq: dict[str, int] = {}
        self.events: list[SimEvent] = []
        self._open: dict[tuple[str, int], bool] = {}

    def is_open(self, space: SpaceConfig, at: datetime) -> bool:
        """Opening hours by quarter hour (cached: the simulator asks often)."""
        quarter = int(at.timestamp()) // 900
        key = (space.id, quarter)
        if key not in self._open:
            self._open[key] = is_open(space.hours, datetime.fromtimestamp(quarter * 900, self.s.zone))
        return self._open[key]

    def local(self, day: date, hours: float) -> datetime:
        return (datetime.combine(day, time(0), self.s.zone) + timedelta(hours=hours)).astimezone(UTC)

    def emit(self, at: datetime, device: str, kind: str, data: dict[str, Any]) -> None:
        seq = self.seq[device] = self.seq.get(device, 0) + 1
        ms = int(at.timestamp() * 1000)
        value = (ms << 80) | (0x7 << 76) | (self.rng.getrandbits(12) << 64) | (0b10 << 62) | self.rng.getrandbits(62)
        received = at + timedelta(milliseconds=self.rng.randint(50, 3000))
        self.events.append(SimEvent(at, received, device, seq, kind, data, str(uuid.UUID(int=value))))

    def visits(self, day: date) -> list[tuple[float, float, _Student]]:
        """(arrival hour, stay hours, student) for one day, unordered."""
        exam, weekday = day in self.s.exam_days, day.weekday()
        growth = 1 + self.s.term_growth * ((day - self.s.start).days / 7)
        out = []
        for student in self.students:
            classes = [] if exam else student.classes.get(weekday, [])
            if exam:
                chance = 0.45 if weekday >= 5 else 0.7
            elif classes:
                chance = 0.35 * growth
            else:
                chance = (0.08 if weekday >= 5 else 0.12) * growth
            if self.rng.random() >= min(chance, 0.95):
                continue
            if exam:
                arrive = _pick_hour(self.rng, EXAM_PROFILE) + self.rng.random()
                stay = self.rng.uniform(2.0, 6.0)
            elif classes:
                gaps = [(end, nxt) for (_, end), (nxt, _) in zip(classes, classes[1:], strict=False) if nxt - end >= 1]
                if gaps and self.rng.random() < 0.6:
                    end, nxt = self.rng.choice(gaps)
                    arrive, stay = end + self.rng.uniform(0, 0.2), (nxt - end) - self.rng.uniform(0.2, 0.4)
                else:
                    arrive = classes[-1][1] + self.rng.uniform(0, 0.5)
                    stay = self.rng.lognormvariate(0.5, 0.5)
            else:
                arrive = _pick_hour(self.rng, FREE_PROFILE) + self.rng.random()
                stay = self.rng.lognormvariate(0.6, 0.5)
            out.append((arrive, max(stay, 0.25), student))
        return out

    def run(self) -> list[SimEvent]:
        spaces = self.s.spaces
        inside: dict[str, list[tuple[datetime, str]]] = {sp.id: [] for sp in spaces}  # departure heaps
        for offset in range(self.s.days):
            day = self.s.start + timedelta(days=offset)
            for arrive, stay, student in sorted(self.visits(day), key=lambda v: v[0]):
                at = self.local(day, arrive)
                for heap in inside.values():
                    while heap and heap[0][0] <= at:
                        heapq.heappop(heap)
                candidates = [sp for sp in spaces if self.is_open(sp, at)
                              and len(inside[sp.id]) < sp.capacity]
                if not candidates:
                    continue  # everything full or closed: the student goes elsewhere
                space = self.rng.choices(candidates, weights=[sp.capacity for sp in candidates])[0]
                leave = self._departure(space, at, at + timedelta(hours=stay))
                kiosk = f"kiosk-{self.s.site}-{space.id}"[:64]
                self.emit(at, kiosk, "checkin", {"space": space.id, "card": student.card, "via": "tap",
                                                  "reservation": None})
                if self.rng.random() < self.s.forgot_checkout:
                    leave = at + timedelta(hours=space.max_stay_h)
                    self.emit(leave, kiosk, "checkout", {"space": space.id, "card": student.card, "via": "auto",
                                                          "reservation": None})
                else:
                    self.emit(leave, kiosk, "checkout", {"space": space.id, "card": student.card, "via": "tap",
                                                          "reservation": None})
                heapq.heappush(inside[space.id], (leave, student.card))
        self._counters()
        self.events.sort(key=lambda e: (e.received, e.id))
        return self.events

    def _departure(self, space: SpaceConfig, at: datetime, wanted: datetime) -> datetime:
        """When the student taps out: as planned, or shortly before the space closes."""
        probe = at
        while probe < wanted:
            nxt = min(probe + timedelta(minutes=15), wanted)
            if not self.is_open(space, nxt):
                return max(at + timedelta(minutes=5), nxt - timedelta(minutes=self.rng.randint(1, 10)))
            probe = nxt
        return wanted

    def _counters(self) -> None:
        """People-counter readings: the true occupancy with a little counting error."""
        if self.s.counter_every is None:
            return
        changes: dict[str, list[tuple[datetime, int]]] = {sp.id: [] for sp in self.s.spaces}
        for e in self.events:
            if e.type in ("checkin", "checkout"):
                changes[e.data["space"]].append((e.at, 1 if e.type == "checkin" else -1))
        start = self.local(self.s.start, 0)
        end = self.local(self.s.start + timedelta(days=self.s.days), 0)
        for space in self.s.spaces:
            deltas, level, index = sorted(changes[space.id]), 0, 0
            at = start
            while at < end:
                while index < len(deltas) and deltas[index][0] <= at:
                    level += deltas[index][1]
                    index += 1
                noisy = max(0, level + self.rng.choice((-1, 0, 0, 0, 1)) if level else 0)
                self.emit(at, f"sensor-{self.s.site}-{space.id}"[:64], "reading",
                          {"sensor": "door-counter", "code": "people_count", "value": float(noisy),
                           "unit": "{people}", "space": space.id})
                at += self.s.counter_every  # type: ignore[operator]


def simulate(scenario: Scenario) -> list[SimEvent]:
    """Every event of ``scenario``, ordered by gateway receive time."""
    return _Simulator(scenario).run()


def envelopes(events: list[SimEvent]) -> Iterator[tuple[datetime, Envelope]]:
    """The simulated events as (receive time, validated envelope), ready for ingest."""
    for e in events:
        yield e.received, Envelope.model_validate({"id": e.id, "device": e.device, "seq": e.seq, "ts": e.at,
                                                   "type": e.type, "data": e.data})


def exam_days(start: date, days: int) -> frozenset[date]:
    """``days`` consecutive days from ``start``: a convenience for scenarios and settings."""
    return frozenset(start + timedelta(days=i) for i in range(days))
