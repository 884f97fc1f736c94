"""Occupancy from check-ins and check-outs (pure): replay, step function, time buckets.

A space's occupancy is the number of cards checked in and not yet out. Replaying a space's events in time
order gives a step function (change points ``Step(at, count)``). Rules, chosen to be robust to what real
kiosks send:

- a check-in of a card already inside refreshes its session without counting it twice;
- a check-out of a card that is not inside is ignored (a missed tap, or a session already closed);
- ``via: "auto"`` check-outs (the gateway closing sessions past the space's maximum stay) count as any
  other check-out, and a session with no check-out at all ends after ``max_stay`` anyway, so one lost event
  never leaves a phantom occupant for good.

Because every session ends within ``max_stay``, the occupancy at time t depends only on events in
``[t - max_stay, t]``: callers replay from ``start - max_stay`` and need no stored state.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Bucket = Literal["hour", "day"]


@dataclass(frozen=True, slots=True)
class CheckEvent:
    """A check-in (``"in"``) or check-out (``"out"``) of a card at a space."""

    at: datetime
    kind: Literal["in", "out"]
    card: str


@dataclass(frozen=True, slots=True)
class Step:
    """From ``at`` on, ``count`` people are in the space."""

    at: datetime
    count: int


@dataclass(frozen=True, slots=True)
class Span:
    """One time bucket's occupancy: the most people at once and the time-weighted mean."""

    start: datetime
    end: datetime
    peak: int
    mean: float


def replay(events: Iterable[CheckEvent], max_stay: timedelta, until: datetime | None = None) -> list[Step]:
    """The occupancy step function of time-ordered ``events`` (sessions also end ``max_stay`` after entry)."""
    inside: dict[str, datetime] = {}
    expiries: list[tuple[datetime, str, datetime]] = []
    steps: list[Step] = []

    def step(at: datetime) -> None:
        if steps and steps[-1].at == at:
            steps[-1] = Step(at, len(inside))
        else:
            steps.append(Step(at, len(inside)))

    def expire(upto: datetime) -> None:
        while expiries and expiries[0][0] <= upto:
            ends, card, since = heapq.heappop(expiries)
            if inside.get(card) == since:  # skip entries superseded by a later check-in
                del inside[card]
                step(ends)

    for event in events:
        expire(event.at)
        if event.kind == "in":
            fresh = event.card not in inside
            inside[event.card] = event.at
            heapq.heappush(expiries, (event.at + max_stay, event.card, event.at))
            if fresh:
                step(event.at)
        elif inside.pop(event.card, None) is not None:
            step(event.at)
    if until is not None:
        expire(until)
    return steps


def count_at(steps: Sequence[Step], at: datetime) -> int:
    """Occupancy at time ``at``."""
    count = 0
    for s in steps:
        if s.at > at:
            break
        count = s.count
    return count


def boundaries(start: datetime, end: datetime, size: Bucket, zone: ZoneInfo) -> list[datetime]:
    """Bucket edges (UTC) covering ``[start, end)``, aligned to local hours or local midnights in ``zone``.

    Arithmetic is done in UTC: Python adds timedeltas to zone-aware datetimes in wall-clock time, which
    would make the hour after a clock change two hours long.
    """
    local = start.astimezone(zone)
    if size == "hour":
        edges = [local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)]
        while edges[-1] < end:
            edges.append(edges[-1] + timedelta(hours=1))
        return edges
    day = local.date()
    edges = [datetime.combine(day, time(0), zone).astimezone(UTC)]
    while edges[-1] < end:
        day += timedelta(days=1)
        edges.append(datetime.combine(day, time(0), zone).astimezone(UTC))
    return edges


def spans(steps: Sequence[Step], edges: Sequence[datetime]) -> list[Span]:
    """Peak and mean occupancy of each bucket between consecutive ``edges``."""
    out: list[Span] = []
    index, level = 0, 0
    for start, end in zip(edges, edges[1:], strict=False):
        while index < len(steps) and steps[index].at <= start:
            level = steps[index].count
            index += 1
        peak, area, cursor = level, 0.0, start
        while index < len(steps) and steps[index].at < end:
            area += level * (steps[index].at - cursor).total_seconds()
            cursor, level = steps[index].at, steps[index].count
            peak = max(peak, level)
            index += 1
        area += level * (end - cursor).total_seconds()
        out.append(Span(start, end, peak, area / (end - start).total_seconds()))
    return out


def reading_stats(readings: Iterable[tuple[datetime, float]], edges: Sequence[datetime]
                  ) -> list[tuple[float, float] | None]:
    """Per bucket, the (max, mean) of sensor readings in it, or ``None`` when there were none."""
    sums: list[list[float]] = [[] for _ in edges[1:]]
    ordered = list(edges)
    for at, value in readings:
        if not ordered or at < ordered[0] or at >= ordered[-1]:
            continue
        lo, hi = 0, len(ordered) - 1
        while hi - lo > 1:  # binary search for the bucket holding ``at``
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if ordered[mid] <= at else (lo, mid)
        sums[lo].append(value)
    return [(max(v), sum(v) / len(v)) if v else None for v in sums]
