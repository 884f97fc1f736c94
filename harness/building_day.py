"""A building's day, simulated without I/O: who arrives where, who leaves, who is screened.

Arrivals per space follow an hour-of-day profile (quiet at night, busy late morning, afternoon and
evening) scaled by the space's peak rate; an exam week multiplies demand for study rooms. Each student stays
for a log-normally distributed time, comes in through one of the space's ``kiosks`` and leaves through one of
its ``exits`` (any of its kiosks when it has no separate exit), so a space with two kiosks sees students
walk in at one and out at the other; a few forget to tap out
(the gateway closes those sessions at closing time or after the maximum stay). Health stations see a steady
trickle of students, a fraction of them with results that must raise an alert.

``advance`` is fed simulated minutes and returns what happens in them; the demo plays it on real devices.

Not ``central/simulation.py``, which states another fact: a whole term of study visits driven by weekly
class timetables, generated at once as stored events with exact times, so that ``central.evaluation`` can
score the occupancy forecast hour by hour. This one plays a day live, minute by minute, as taps and
screenings at named kiosks and stations (screenings, exits and card readers have no place in the other; a
term's timetables none here), so one would not serve the other without growing the other's parts.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Relative arrival intensity for each hour of the day (0-23).
HOURLY = [0.05, 0.03, 0.02, 0.02, 0.02, 0.05, 0.15, 0.35, 0.7, 0.9, 1.0, 1.0,
          0.7, 0.8, 1.0, 1.0, 0.9, 0.7, 0.6, 0.8, 0.9, 0.7, 0.4, 0.15]
ABNORMAL = ("bp-crisis", "spo2-low", "fever", "phq9-item9", "bp-stage-2")


@dataclass(frozen=True)
class SpacePlan:
    """How one space behaves in the simulation."""

    space: str
    kiosks: tuple[str, ...]  # the way in (kiosks with direction "in" or "toggle")
    capacity: int
    opens: int = 0          # hour; opens == closes means always open
    closes: int = 0
    peak_per_hour: float = 30.0
    mean_stay_min: float = 90.0
    study: bool = True      # exam weeks raise demand for study spaces
    exits: tuple[str, ...] = ()  # the way out (direction "out"); empty: any of ``kiosks``

    def open_at(self, hour: int) -> bool:
        if self.opens == self.closes:
            return True
        return self.opens <= hour < self.closes


@dataclass(frozen=True)
class TapAction:
    """A student taps a card at a kiosk."""

    kiosk: str
    card: str
    arriving: bool


@dataclass(frozen=True)
class ScreeningAction:
    """A student uses a health station; ``finding`` names the abnormal result to produce, if any."""

    station: str
    card: str
    finding: str | None


@dataclass
class BuildingDay:
    """The simulation state; deterministic for a given ``rng``."""

    spaces: list[SpacePlan]
    stations: list[str]
    students: list[str]
    rng: random.Random
    now: datetime
    exam_week: bool = False
    exam_surge: float = 1.8
    screenings_per_hour: float = 6.0
    abnormal_share: float = 0.2
    forget_share: float = 0.05
    inside: dict[str, tuple[str, str, datetime | None]] = field(default_factory=dict)  # card -> space, kiosk, leave

    def occupancy(self, space: str) -> int:
        """How many simulated students are in ``space``."""
        return sum(1 for s, _, _ in self.inside.values() if s == space)

    def _arrivals(self, rate_per_hour: float, minutes: float) -> int:
        # Poisson by inversion: fine for the small means of a few simulated minutes.
        mean, n = rate_per_hour * minutes / 60, 0
        threshold, product = math.exp(-mean), self.rng.random()
        while product > threshold:
            n += 1
            product *= self.rng.random()
        return n

    def advance(self, minutes: float) -> list[TapAction | ScreeningAction]:
        """Move the clock on by ``minutes``; returns the taps and screenings that happen, in order."""
        self.now += timedelta(minutes=minutes)
        hour = self.now.hour
        actions: list[TapAction | ScreeningAction] = []
        for card, (space, _kiosk, leave) in list(self.inside.items()):
            plan = next(p for p in self.spaces if p.space == space)
            if leave is not None and (leave <= self.now or not plan.open_at(hour)):
                exits = plan.exits or plan.kiosks
                actions.append(TapAction(self.rng.choice(exits) if len(exits) > 1 else exits[0], card,
                                         arriving=False))
                del self.inside[card]
            elif leave is None and not plan.open_at(hour):
                del self.inside[card]  # forgot to tap out: the gateway closes the session itself
        free = [c for c in self.students if c not in self.inside]
        self.rng.shuffle(free)
        for plan in self.spaces:
            if not plan.open_at(hour):
                continue
            rate = plan.peak_per_hour * HOURLY[hour] * (self.exam_surge if self.exam_week and plan.study else 1)
            for _ in range(self._arrivals(rate, minutes)):
                if not free or self.occupancy(plan.space) >= plan.capacity:
                    break
                card = free.pop()
                kiosk = self.rng.choice(plan.kiosks)
                stay = self.rng.lognormvariate(math.log(plan.mean_stay_min), 0.5)
                leave = None if self.rng.random() < self.forget_share else self.now + timedelta(minutes=stay)
                self.inside[card] = (plan.space, kiosk, leave)
                actions.append(TapAction(kiosk, card, arriving=True))
        for station in self.stations:
            for _ in range(self._arrivals(self.screenings_per_hour * max(HOURLY[hour], 0.2), minutes)):
                if not free:
                    break
                finding = self.rng.choice(ABNORMAL) if self.rng.random() < self.abnormal_share else None
                actions.append(ScreeningAction(station, free.pop(), finding))
        return actions


def vitals(finding: str | None, rng: random.Random) -> dict[str, float]:
    """Plausible measurements for a screening, abnormal in the way ``finding`` says."""
    values = {"systolic": rng.randint(105, 128), "diastolic": rng.randint(65, 79), "pulse": rng.randint(58, 92),
              "spo2": rng.randint(96, 99), "temperature": round(rng.uniform(36.3, 37.2), 1),
              "weight": round(rng.uniform(48, 95), 1), "height": rng.randint(150, 192)}
    if finding == "bp-crisis":
        values.update(systolic=rng.randint(182, 200), diastolic=rng.randint(110, 125))
    elif finding == "bp-stage-2":
        values.update(systolic=rng.randint(141, 165), diastolic=rng.randint(85, 95))
    elif finding == "spo2-low":
        values.update(spo2=rng.randint(86, 92))
    elif finding == "fever":
        values.update(temperature=round(rng.uniform(38.1, 39.4), 1))
    return values


def phq9_answers(finding: str | None, rng: random.Random) -> list[int]:
    """PHQ-9 answers; item 9 above zero when ``finding`` is ``phq9-item9``."""
    answers = [rng.choice((0, 0, 1, 1, 2)) for _ in range(8)]
    return answers + [rng.randint(1, 3) if finding == "phq9-item9" else 0]
