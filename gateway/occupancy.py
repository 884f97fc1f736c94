"""Who is in which space — the authoritative sessions, decided without I/O.

The book is rebuilt at start-up by replaying the stored check-in / check-out events (the gateway's own
automatic check-outs included), so it needs no table of its own. Times are the gateway's receive times:
device clocks may be wrong.

Rules:
- a check-in of a card already inside the same space is counted (``double-checkin``) and changes nothing;
- a check-in of a card inside another space moves it (counted ``moved``);
- a check-out of a card that is not inside is counted (``checkout-without-checkin``) and changes nothing;
- events for spaces the configuration does not know are counted (``unknown-space``) and ignored;
- sessions still open when their space closes, or older than the space's maximum stay, are closed by the
  gateway itself with ``via: "auto"`` (``due_checkouts``); the shell records each only if ``still_open``
  holds inside the same transaction and lock as ingest, so a tap-out and an automatic check-out never both
  close one session.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from onestop.site import SpaceConfig, is_open

__all__ = ["AutoCheckout", "OccupancyBook", "is_open"]  # is_open: one rule, in onestop.site


@dataclass(frozen=True, slots=True)
class AutoCheckout:
    """A session the gateway closes itself."""

    space: str
    card: str
    reason: str  # "closing" or "max-stay"
    since: datetime  # the session it closes: a tap-out (and a new check-in) may overtake the decision


@dataclass
class OccupancyBook:
    """Open sessions per space, plus the people counts reported by sensor nodes."""

    spaces: dict[str, SpaceConfig]
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    sessions: dict[str, dict[str, datetime]] = field(default_factory=dict)  # space -> card -> since
    sensor_counts: dict[str, tuple[float, datetime]] = field(default_factory=dict)
    anomalies: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for space in self.spaces:
            self.sessions.setdefault(space, {})
        self._where: dict[str, str] = {card: space for space, cards in self.sessions.items() for card in cards}

    def count(self, space: str) -> int:
        """People inside ``space`` by card taps."""
        return len(self.sessions.get(space, {}))

    def apply(self, event_type: str, space: str, card: str, at: datetime) -> set[str]:
        """Apply a check-in or check-out; returns the spaces whose count changed."""
        if space not in self.spaces:
            self.anomalies["unknown-space"] += 1
            return set()
        if event_type == "checkin":
            current = self._where.get(card)
            if current == space:
                self.anomalies["double-checkin"] += 1
                return set()
            changed = {space}
            if current is not None:
                self.anomalies["moved"] += 1
                del self.sessions[current][card]
                changed.add(current)
            self.sessions[space][card] = at
            self._where[card] = space
            return changed
        if event_type == "checkout":
            if self._where.get(card) != space:
                self.anomalies["checkout-without-checkin"] += 1
                return set()
            del self.sessions[space][card]
            del self._where[card]
            return {space}
        return set()

    def sensor_reading(self, space: str, value: float, at: datetime) -> bool:
        """A people counter reported ``value``; returns whether it differs from the last one."""
        previous = self.sensor_counts.get(space)
        self.sensor_counts[space] = (value, at)
        return previous is None or previous[0] != value

    def due_checkouts(self, now: datetime) -> list[AutoCheckout]:
        """Sessions to close now: their space has closed, or they outlasted the maximum stay."""
        local = now.astimezone(self.timezone)
        due: list[AutoCheckout] = []
        for space, cards in self.sessions.items():
            config = self.spaces[space]
            closed = not is_open(config.hours, local)
            limit = timedelta(hours=config.max_stay_h)
            for card, since in cards.items():
                if closed:
                    due.append(AutoCheckout(space, card, "closing", since))
                elif now - since > limit:
                    due.append(AutoCheckout(space, card, "max-stay", since))
        return due

    def still_open(self, auto: AutoCheckout) -> bool:
        """Whether the session ``auto`` was decided for is still open (not closed by a tap-out since)."""
        return self.sessions.get(auto.space, {}).get(auto.card) == auto.since
