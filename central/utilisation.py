"""Utilisation of a space against its capacity, counted over the hours it is open (pure).

An open hour is **nearly empty** when at no moment more than 10 % of the capacity was in use, and **over
90 % full** when at some moment at least 90 % was. Both are counted from hourly peaks, so a short rush still
counts as a full hour: facilities planning cares about whether people were turned away, not the average.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from central.occupancy import Span
from onestop.site import OpeningHours, is_open

NEARLY_EMPTY = 0.10
NEARLY_FULL = 0.90


def open_during(hours: OpeningHours, start: datetime, zone: ZoneInfo) -> bool:
    """Whether the space is open at any moment of the hour starting at ``start`` (checked every 15 minutes)."""
    return any(is_open(hours, (start + timedelta(minutes=m)).astimezone(zone)) for m in (0, 15, 30, 45))


@dataclass(frozen=True, slots=True)
class Utilisation:
    """How a space was used over a period."""

    capacity: int
    open_hours: int
    nearly_empty_hours: int
    over_90_hours: int
    mean_utilisation: float | None
    peak_utilisation: float | None

    @property
    def nearly_empty_share(self) -> float | None:
        return self.nearly_empty_hours / self.open_hours if self.open_hours else None

    @property
    def over_90_share(self) -> float | None:
        return self.over_90_hours / self.open_hours if self.open_hours else None


def utilisation(hourly: Sequence[Span], capacity: int, hours: OpeningHours, zone: ZoneInfo) -> Utilisation:
    """Summarise hourly occupancy ``hourly`` against ``capacity`` over the open hours."""
    open_spans = [s for s in hourly if open_during(hours, s.start, zone)]
    if capacity <= 0 or not open_spans:
        return Utilisation(capacity, len(open_spans), 0, 0, None, None)
    empty = sum(1 for s in open_spans if s.peak <= NEARLY_EMPTY * capacity)
    full = sum(1 for s in open_spans if s.peak >= NEARLY_FULL * capacity)
    mean = sum(s.mean for s in open_spans) / len(open_spans) / capacity
    peak = max(s.peak for s in open_spans) / capacity
    return Utilisation(capacity, len(open_spans), empty, full, round(mean, 4), round(peak, 4))
