"""The demo's simulated clock and the weeks of history it starts with.

``--start "Mon 09:00"`` sets the simulated clock, so a demo run in the evening shows a busy building. The
devices and services keep real time (their events carry the real clock); only the simulation's timetable
follows the simulated one.

A newcomer should see a real forecast, and the forecast learns from weeks of history, so the demo seeds
central with ``central.simulation``'s weeks of study visits before it starts. That history is simulated up to
the simulated clock and then moved, as a whole, onto the real one: its last moment is now, and the hour of
the week the demo simulates is the hour it stands for. So the chart's last hours look like the simulated
morning, and the forecast's next hours expect what the simulated building is about to do.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime, timedelta
from typing import Any

from central.ingest import IngestItem
from central.simulation import Scenario, envelopes, simulate
from central.store import CentralStore
from onestop.errors import OnestopError
from onestop.site import SiteConfig, SpaceConfig

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_START = re.compile(r"^\s*(?:(?P<day>[a-z]{3})[a-z]*\s+)?(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*$", re.IGNORECASE)
CHUNK = 5000


class StartTimeError(OnestopError, ValueError):
    """A ``--start`` value that names no weekday and time."""


def parse_start(text: str, now: datetime) -> datetime:
    """The simulated start: the latest ``"Mon 09:00"`` (or ``"09:00"``: today) at or before ``now``, in
    ``now``'s time zone."""
    match = _START.match(text)
    day = (match.group("day") or "").lower() if match else ""
    if match is None or (day and day not in WEEKDAYS) or int(match["hour"]) > 23 or int(match["minute"]) > 59:
        raise StartTimeError(f"--start {text!r}: give a weekday and a time, e.g. \"Mon 09:00\", or a time, \"21:30\"")
    start = now.replace(hour=int(match["hour"]), minute=int(match["minute"]), second=0, microsecond=0)
    if day:
        start -= timedelta(days=(now.weekday() - WEEKDAYS.index(day)) % 7)
    return start - timedelta(days=7 if day else 1) if start > now else start


def shift_hours(spaces: list[dict[str, Any]], offset: timedelta) -> list[dict[str, Any]]:
    """``spaces`` (``SpaceConfig`` dicts) with opening hours moved by ``offset``: the services keep real time,
    so a space open 07:00-23:00 on the simulated clock must be open at the matching real hours."""
    def moved(text: str) -> str:
        at = datetime.combine(date(2000, 1, 1), datetime.strptime(text, "%H:%M").time()) + offset
        return f"{at:%H:%M}"

    return [{**space, "hours": {**space["hours"], "open": moved(space["hours"]["open"]),
                                "close": moved(space["hours"]["close"])}} if "hours" in space else space
            for space in spaces]


def clock_offset(simulated_now: datetime, service_now: datetime) -> timedelta:
    """How far the services' wall clock is ahead of the simulated one, within a day (whole minutes)."""
    ahead = service_now.replace(tzinfo=None) - simulated_now.replace(tzinfo=None)
    return timedelta(minutes=round(ahead.total_seconds() / 60) % (24 * 60))


def seed_history(store: CentralStore, site: str, config: SiteConfig, simulated_now: datetime, now: datetime,
                 weeks: int = 4, students: int = 600, seed: int = 7, study: tuple[SpaceConfig, ...] = ()) -> int:
    """Store ``config`` for ``site`` and ``weeks`` of simulated study visits to the ``study`` spaces (as on
    the simulated clock; default: ``config``'s) ending at ``simulated_now``, moved to end at ``now``;
    returns how many events were stored."""
    zone: Any = simulated_now.tzinfo
    spaces = study or tuple(config.spaces)
    first: date = simulated_now.date() - timedelta(weeks=weeks)
    events = simulate(Scenario(site, spaces, first, 7 * weeks + 1, students=students, zone=zone, seed=seed))
    past = [e for e in events if e.at < simulated_now and e.received < simulated_now]
    # Visits still in progress at the cutoff are left out: the live building starts empty, and central's
    # "inside now" must not count students whose leaving was never simulated.
    inside: dict[tuple[str, str], str] = {}
    for e in sorted(past, key=lambda e: e.at):
        key = (e.data.get("space", ""), e.data.get("card", ""))
        if e.type == "checkin":
            inside[key] = e.id
        elif e.type == "checkout":
            inside.pop(key, None)
    unfinished = set(inside.values())
    shift = now - simulated_now
    moved = [dataclasses.replace(e, at=e.at + shift, received=e.received + shift)
             for e in past if e.id not in unfinished]
    store.configs.put(site, config, "demo")
    items = [IngestItem(received=received, envelope=envelope) for received, envelope in envelopes(moved)]
    for start in range(0, len(items), CHUNK):
        store.ingest(site, items[start:start + CHUNK], now=now)
    return len(items)


def local_now() -> datetime:
    """Now, in this machine's time zone."""
    return datetime.now().astimezone()
