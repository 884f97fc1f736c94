"""What a tap at a kiosk means — pure decisions, no I/O, no clock, no Kivy.

``TapController.decide(card, now)`` turns a card into a ``Decision``: the event to record (if any) and the
feedback to show, changing nothing; ``apply(decision, now)`` makes its state change once the caller has
recorded the event, so the kiosk never believes what it failed to record. It decides from what it holds
locally, so feedback is instant even when the gateway or the network is down: the gateway's last presence
copy for the space (``Authority``: every kiosk's taps, as keyed hashes) with this kiosk's own taps since
laid over it, or, without a usable copy, its own taps alone. In the order it checks:

1. a string that is not a card id → ``unknown-card``;
   a card the directory refuses (``cards`` in the cfg, ``onestop.cards``; decided from the last good copy,
   also offline) → ``card-lost``, ``card-blocked`` or ``card-expired`` (graduated): nothing is recorded,
   nobody is checked in or out, and the refusal is counted (``refused``);
2. attendance mode (the cfg names an ``activity``): a card not on the roster (when there is one) →
   ``unknown-card``; already registered at this activity → ``already-registered`` (no event); else
   ``attendance``;
3. a card inside this space checks out → ``goodbye`` (with the booking it came in on, if any); at an ``in``
   kiosk it is ``already-in`` instead (no event);
4. at an ``out`` kiosk a card not inside is ``not-inside`` (no event): an exit never checks anyone in;
5. a card with a current booking here claims it → ``reservation`` (even when the space is full: the seat
   was held for it);
6. a space restricted to some groups, for a card not in them → ``not-admitted`` (counted; checking out
   stays possible);
   a space open to bookings only → ``reservation-required``;
7. no room (local count or the gateway's live count, whichever is higher) → ``full``;
8. otherwise it checks in → ``welcome``.

A request (work order, docs/work-orders.md) is a separate, short flow: the student picks a category on screen,
which starts a ``RequestDraft``; the next tap within ``REQUEST_WAIT_S`` is their card for a reply
(``request_decision``) instead of a check-in, and "anonymous" sends it without one. A draft left alone expires,
so the next student's tap is never attached to someone else's request.

Feedback (docs/work-orders.md, "Feedback"): after a recorded checkout the kiosk may ask one optional question
about the space (``feedback_due``): at most every ``every``-th checkout (0: never), and never a card asked in
the last ``FEEDBACK_INTERVAL`` (the runtime keeps a keyed tag of each card asked, not the card). The answer is
a ``feedback`` event with the space, the question and the rating only (``feedback_decision``): anonymous.

A check-in older than ``max_stay_h`` is forgotten at the next tap (the gateway closes such stays itself,
``via: "auto"``), so a student who left without tapping is welcomed, not said goodbye to, the next day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from kiosk.config import RequestStatus, StationConfig
from onestop import presence as tags
from onestop.ids import CARD_RE
from onestop.work_orders import requester_tag

FeedbackKind = Literal["welcome", "reservation", "goodbye", "attendance", "already-registered", "full",
                       "reservation-required", "unknown-card", "identified", "not-recorded", "already-in",
                       "not-inside", "card-lost", "card-blocked", "card-expired", "not-admitted", "request-sent",
                       "request-sent-anonymous", "feedback-thanks"]
POSITIVE: frozenset[str] = frozenset({"welcome", "reservation", "goodbye", "attendance", "already-registered",
                                      "identified", "already-in", "request-sent", "request-sent-anonymous",
                                      "feedback-thanks"})
REFUSALS: dict[str, FeedbackKind] = {"lost": "card-lost", "blocked": "card-blocked", "graduated": "card-expired",
                                     "not-in-group": "not-admitted"}
REQUEST_WAIT_S = 30.0  # how long a chosen category waits for a card or "anonymous" before it is dropped
FEEDBACK_QUESTION = "space-rating"  # "How do you rate this space today?" (kiosk/i18n.py)
FEEDBACK_INTERVAL = timedelta(days=7)  # a card is asked at most once in this time
FEEDBACK_WAIT_S = 15.0  # an unanswered question goes away after this
MAX_OWN_TAPS = 20_000  # own taps kept until a presence copy includes them (a long outage of a busy door)


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


@dataclass(frozen=True, slots=True)
class Authority:
    """The gateway's presence for this kiosk's space, with the key its tags were made with."""

    key: bytes
    tags: frozenset[bytes]
    upto: int  # this kiosk's last sequence number the copy already includes
    ts: datetime  # when the gateway made it
    truncated: bool = False  # more people inside than tags: a card not found may still be inside


@dataclass(frozen=True, slots=True)
class OwnTap:
    """A check-in or check-out this kiosk recorded, kept until a presence copy includes it."""

    seq: int
    event_type: str
    card: str
    at: datetime


@dataclass
class TapController:
    """Check-in / check-out, booking and attendance decisions for one kiosk."""

    space: str
    capacity: int | None = None
    inside: dict[str, Stay] = field(default_factory=dict)
    remote_count: int | None = None  # the gateway's live count, when known
    config: StationConfig | None = None
    registered: set[str] = field(default_factory=set)  # cards registered at the current activity
    authority: Authority | None = None  # the gateway's presence copy for this space, when there is one
    own: list[OwnTap] = field(default_factory=list)  # own taps the copy does not include yet
    refused: dict[str, int] = field(default_factory=dict)  # refused taps by feedback (card-lost, ...)

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
            self.remote_count, self.authority, self.own = None, None, []

    def decide(self, card: str, now: datetime) -> Decision:
        """What a tap of ``card`` at ``now`` (UTC) means, changing nothing (``apply`` it once recorded)."""
        config = self.config
        assert config is not None  # set in __post_init__
        if not card or not CARD_RE.fullmatch(card):
            return Decision("unknown-card")
        verdict = config.cards.verdict(card) if config.cards else None
        if verdict is not None and verdict != "not-in-group":
            return Decision(REFUSALS[verdict])
        if config.attendance:
            return self._attendance(card, config)
        stale = set(self.stale_cards(now))
        if self.is_inside(card, now, stale):
            if config.direction == "in":
                return Decision("already-in")
            stay = self.inside.get(card)
            return Decision("goodbye", "checkout", self._check_data(card, stay.reservation if stay else None))
        if config.direction == "out":
            return Decision("not-inside")
        if verdict == "not-in-group":
            return Decision(REFUSALS[verdict])
        booking = config.reservation_for(card, now)
        if booking is not None:
            return Decision("reservation", "checkin", self._check_data(card, booking.id), booking.end)
        if config.reservations_only:
            return Decision("reservation-required")
        count = max(len(self.inside) - len(stale), self.remote_count or 0)
        if self.capacity is not None and count >= self.capacity:
            return Decision("full")
        return Decision("welcome", "checkin", self._check_data(card, None))

    def is_inside(self, card: str, now: datetime, stale: set[str] | None = None) -> bool:
        """Whether ``card`` is inside this space: the gateway's copy with this kiosk's later taps over it.

        A copy older than the maximum stay says nothing any more (the gateway would have closed those
        stays); then, as without a copy, the kiosk's own taps decide.
        """
        assert self.config is not None
        stale = set(self.stale_cards(now)) if stale is None else stale
        local = card in self.inside and card not in stale
        auth, max_stay = self.authority, timedelta(hours=self.config.max_stay_h)
        if auth is None or now - auth.ts > max_stay:
            return local
        for tap in reversed(self.own):
            if tap.card == card:
                return tap.event_type == "checkin" and now - tap.at <= max_stay
        if tags.tag(auth.key, card) in auth.tags:
            return True
        return local and auth.truncated

    def set_authority(self, authority: Authority) -> list[str]:
        """Adopt a newer presence copy; returns the cards this kiosk thought inside that are not (forgotten).

        Own taps the copy includes (``seq <= upto``) are dropped; later ones stay laid over it.
        """
        self.authority = authority
        self.own = [t for t in self.own if t.seq > authority.upto]
        if authority.truncated:
            return []
        pending = {t.card for t in self.own}
        gone = [c for c in self.inside if c not in pending and tags.tag(authority.key, c) not in authority.tags]
        for card in gone:
            del self.inside[card]
        return gone

    def apply(self, decision: Decision, now: datetime, seq: int | None = None) -> list[str]:
        """Make a decision's state change, once its event is durable (the kiosk believes what it recorded);
        returns the cards forgotten as inside for longer than ``max_stay_h``.

        ``seq`` is the recorded event's sequence number: the tap is laid over the gateway's copy until a copy
        that includes it arrives.
        """
        if decision.feedback in REFUSALS.values():
            self.refused[decision.feedback] = self.refused.get(decision.feedback, 0) + 1
        forgotten = self.stale_cards(now)
        for stale in forgotten:
            del self.inside[stale]
        data = decision.data or {}
        card = str(data.get("card", ""))
        if seq is not None and decision.event_type in ("checkin", "checkout"):
            self.own.append(OwnTap(seq, decision.event_type, card, now))
            del self.own[:-MAX_OWN_TAPS]
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
        return forgotten

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


@dataclass(frozen=True, slots=True)
class RequestDraft:
    """A category the student chose, waiting for their card or "anonymous" (``since``: monotonic seconds)."""

    category: str
    since: float

    def expired(self, now: float) -> bool:
        """True once ``REQUEST_WAIT_S`` passed: the draft is dropped and a tap checks in as usual."""
        return now - self.since > REQUEST_WAIT_S


def request_decision(draft: RequestDraft, space: str, card: str | None) -> Decision:
    """The ``request`` event for a draft, with the student's card for a reply or anonymous (``card=None``).

    A string that is not a card id is ``unknown-card`` and records nothing (the student may tap again or
    choose "anonymous").
    """
    if card is not None and not CARD_RE.fullmatch(card):
        return Decision("unknown-card")
    data = {"category": draft.category, "space": space, "card": card, "note": None}
    return Decision("request-sent" if card else "request-sent-anonymous", "request", data)


def own_requests(config: StationConfig, card: str) -> list[RequestStatus]:
    """The requests ``card`` made in this building, newest first, and nobody else's (matched by the keyed tag
    the gateway keeps instead of the card; none without the key)."""
    if not config.request_key or not CARD_RE.fullmatch(card or ""):
        return []
    mine = requester_tag(bytes.fromhex(config.request_key), card)
    return sorted((r for r in config.requests if r.tag == mine), key=lambda r: r.opened, reverse=True)


# -- feedback (docs/work-orders.md, "Feedback") --------------------------------------------------------------
def feedback_due(every: int, checkouts: int, last_asked: datetime | None, now: datetime) -> bool:
    """Whether to ask the student who just checked out: ``checkouts`` recorded since the last question (this
    one included) reached ``every`` (0 disables), and this card was not asked within ``FEEDBACK_INTERVAL``
    (``last_asked``: when it was, from the runtime's keyed record)."""
    if every <= 0 or checkouts < every:
        return False
    return last_asked is None or not timedelta(0) <= now - last_asked < FEEDBACK_INTERVAL


@dataclass(frozen=True, slots=True)
class FeedbackAsk:
    """A question on screen, waiting for a rating or "skip" (``since``: monotonic seconds). Holds no card."""

    space: str
    question: str
    since: float

    def expired(self, now: float) -> bool:
        """True once ``FEEDBACK_WAIT_S`` passed: the question goes away unanswered."""
        return now - self.since > FEEDBACK_WAIT_S


def feedback_decision(ask: FeedbackAsk, rating: int) -> Decision:
    """The anonymous ``feedback`` event for a rating of 1 to 5: the space, the question, the rating, no card."""
    if not 1 <= rating <= 5:
        raise ValueError("a rating is 1 to 5")
    return Decision("feedback-thanks", "feedback", {"space": ask.space, "question": ask.question, "rating": rating})
