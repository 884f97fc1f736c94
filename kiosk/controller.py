"""What a tap at a kiosk means — pure decisions, no I/O, no clock, no Kivy.

``TapController.decide(card, now)`` turns a card into a ``Decision``: the event to record (if any) and the
feedback to show, changing nothing; ``apply(decision, now)`` makes its state change once the caller has
recorded the event, so the kiosk never believes what it failed to record. It decides from local state
only, so feedback is instant even when the gateway or the network is down. In the order it checks:

1. a string that is not a card id → ``unknown-card``;
2. attendance mode (the cfg names an ``activity``): a card not on the roster (when there is one) →
   ``unknown-card``; already registered at this activity → ``already-registered`` (no event); else
   ``attendance``;
3. a card inside this space checks out → ``goodbye`` (with the booking it came in on, if any);
4. a card with a current booking here claims it → ``reservation`` (even when the space is full: the seat
   was held for it);
5. a space open to bookings only → ``reservation-required``;
6. no room (local count or the gateway's live count, whichever is higher) → ``full``;
7. otherwise it checks in → ``welcome``.

A check-in older than ``max_stay_h`` is forgotten at the next tap (the gateway closes such stays itself,
``via: "auto"``), so a student who left without tapping is welcomed, not said goodbye to, the next day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from kiosk.config import StationConfig
from onestop.ids import CARD_RE

FeedbackKind = Literal["welcome", "reservation", "goodbye", "attendance", "already-registered", "full",
                       "reservation-required", "unknown-card", "identified", "not-recorded"]
POSITIVE: frozenset[str] = frozenset({"welcome", "reservation", "goodbye", "attendance", "already-registered",
                                      "identified"})


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of a tap: what to record and what to tell the student."""

    feedback: FeedbackKind
    event_type: str | None = None
    data: dict[str, Any] | None = None
    until: datetime | None = None  # the end of a claimed booking, for the screen

    @property
    def positive(self) -> bool:
        """True when the student may go ahead (green on screen)."""
        return self.feedback in POSITIVE


@dataclass(frozen=True, slots=True)
class Stay:
    """A card inside the space: since when, and on which booking."""

    since: datetime
    reservation: str | None = None


@dataclass
class TapController:
    """Check-in / check-out, booking and attendance decisions for one kiosk."""

    space: str
    capacity: int | None = None
    inside: dict[str, Stay] = field(default_factory=dict)
    remote_count: int | None = None  # the gateway's live count, when known
    config: StationConfig | None = None
    registered: set[str] = field(default_factory=set)  # cards registered at the current activity

    def __post_init__(self) -> None:
        if self.config is None:
            self.config = StationConfig(space=self.space, capacity=self.capacity)

    @property
    def count(self) -> int:
        """Best local estimate of how many people are inside."""
        return max(len(self.inside), self.remote_count or 0)

    def configure(self, config: StationConfig) -> None:
        """Apply a new effective configuration (the caller reloads ``inside`` if the space changed)."""
        previous = self.config
        self.config, self.space, self.capacity = config, config.space, config.capacity
        if previous is None or previous.activity != config.activity:
            self.registered = set()
        if previous is None or previous.space != config.space:
            self.remote_count = None

    def decide(self, card: str, now: datetime) -> Decision:
        """What a tap of ``card`` at ``now`` (UTC) means, changing nothing (``apply`` it once recorded)."""
        config = self.config
        assert config is not None  # set in __post_init__
        if not card or not CARD_RE.fullmatch(card):
            return Decision("unknown-card")
        if config.attendance:
            return self._attendance(card, config)
        stale = set(self.stale_cards(now))
        stay = None if card in stale else self.inside.get(card)
        if stay is not None:
            return Decision("goodbye", "checkout", self._check_data(card, stay.reservation))
        booking = config.reservation_for(card, now)
        if booking is not None:
            return Decision("reservation", "checkin", self._check_data(card, booking.id), booking.end)
        if config.reservations_only:
            return Decision("reservation-required")
        count = max(len(self.inside) - len(stale), self.remote_count or 0)
        if self.capacity is not None and count >= self.capacity:
            return Decision("full")
        return Decision("welcome", "checkin", self._check_data(card, None))

    def apply(self, decision: Decision, now: datetime) -> None:
        """Make a decision's state change, once its event is durable (the kiosk believes what it recorded)."""
        for stale in self.stale_cards(now):
            del self.inside[stale]
        data = decision.data or {}
        card = str(data.get("card", ""))
        if decision.event_type == "checkout":
            self.inside.pop(card, None)
            if self.remote_count:
                self.remote_count -= 1
        elif decision.event_type == "checkin":
            self.inside[card] = Stay(now, data.get("reservation"))
            if self.remote_count is not None:
                self.remote_count += 1
        elif decision.event_type == "attendance":
            self.registered.add(card)

    def tap(self, card: str, now: datetime) -> Decision:
        """Decide and apply at once (when there is nothing to record first, as in tests of the rules)."""
        decision = self.decide(card, now)
        self.apply(decision, now)
        return decision

    def occupancy_update(self, count: int) -> None:
        """The gateway published a new authoritative count for this space."""
        self.remote_count = count

    # -- helpers -------------------------------------------------------------------------------------------
    def _check_data(self, card: str, reservation: str | None) -> dict[str, Any]:
        return {"space": self.space, "card": card, "via": "tap", "reservation": reservation}

    def _attendance(self, card: str, config: StationConfig) -> Decision:
        if config.roster is not None and card not in config.roster:
            return Decision("unknown-card")
        if card in self.registered:
            return Decision("already-registered")
        return Decision("attendance", "attendance", {"activity": config.activity, "card": card})

    def stale_cards(self, now: datetime) -> list[str]:
        """Cards whose stay is older than ``max_stay_h``; the next tap forgets them."""
        assert self.config is not None
        limit = now - timedelta(hours=self.config.max_stay_h)
        return [c for c, stay in self.inside.items() if stay.since < limit]
