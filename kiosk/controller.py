"""What happens when a student taps a card at a kiosk — pure decisions, no I/O, no Kivy.

``TapController.tap`` turns a card into a ``Decision``: the event to record (if any) and the feedback to show.
It decides from local state only, so feedback is instant even when the gateway or the network is down:
- a card not inside this space checks in (unless the space is known to be full);
- a card inside checks out;
- the live count from the gateway's retained occupancy topic refines "full" when it is available.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FeedbackKind = Literal["welcome", "goodbye", "full", "unknown-card"]


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of a tap: what to record and what to tell the student."""

    feedback: FeedbackKind
    event_type: str | None = None
    data: dict[str, Any] | None = None


@dataclass
class TapController:
    """Check-in / check-out decisions for one space."""

    space: str
    capacity: int | None = None
    inside: set[str] = field(default_factory=set)
    remote_count: int | None = None  # the gateway's live count, when known

    @property
    def count(self) -> int:
        """Best local estimate of how many people are inside."""
        return max(len(self.inside), self.remote_count or 0)

    def tap(self, card: str) -> Decision:
        """Decide what a tap of ``card`` means."""
        if not card:
            return Decision("unknown-card")
        if card in self.inside:
            self.inside.discard(card)
            if self.remote_count:
                self.remote_count -= 1
            return Decision("goodbye", "checkout", {"space": self.space, "card": card, "via": "tap",
                                                    "reservation": None})
        if self.capacity is not None and self.count >= self.capacity:
            return Decision("full")
        self.inside.add(card)
        if self.remote_count is not None:
            self.remote_count += 1
        return Decision("welcome", "checkin", {"space": self.space, "card": card, "via": "tap",
                                               "reservation": None})

    def occupancy_update(self, count: int) -> None:
        """The gateway published a new authoritative count for this space."""
        self.remote_count = count
