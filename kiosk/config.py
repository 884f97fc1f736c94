"""What a kiosk takes from its retained ``dev/{device}/cfg`` topic, and how that meets its local settings.

The gateway publishes one retained JSON object per device (``onestop.payloads.DeviceConfig``, extra keys
allowed). A kiosk reads these keys and ignores the rest, so the gateway can add fields freely:

======================  =====================================================================================
``space``               the space this kiosk checks people into (slug); replaces the local setting
``display_name``        the space's name on the idle screen; ``display_name_zh`` its Chinese name (optional)
``capacity``            people allowed at once; "full" is judged against it
``activity``            set → attendance mode: taps register attendance at this activity (slug) instead of
                        checking in; ``activity_name`` / ``activity_name_zh`` show on screen
``roster``              attendance mode, optional: the cards allowed at the activity; others are "unknown"
``reservations``        bookings ``{"id", "space", "card", "start", "end"}`` (``onestop.site.Reservation``);
                        a card with a booking for this space that is current claims it on its tap
``reservation_early_min``  how early a booking may be claimed (default 15 minutes)
``reservations_only``   true → only cards with a current booking may check in
``max_stay_h``          a check-in older than this is forgotten locally (the gateway closes it via "auto")
``direction``           ``in`` (never checks out), ``out`` (never checks in) or ``toggle``; replaces the local
                        setting only when the gateway's ``[[devices]]`` entry names one
``presence_key``        hex key of the space's presence tags (``onestop.presence``): lets the kiosk read who
                        is inside from the gateway's ``space/{space}/presence``
``cards``               the cards refused here, as keyed hashes (``onestop.cards.KioskCards``): lost, blocked
                        and graduated cards, and, in a space restricted to some groups, the cards admitted
``hours``               the space's opening hours (``onestop.site.OpeningHours``), shown on the idle screen
``thresholds``          health stations: overrides of ``onestop.clinical.Thresholds`` (any subset)
``request_categories``  the buttons of "Report a problem / request a service" (``onestop.work_orders.CategoryLabel``;
                        default ``DEFAULT_CATEGORIES``), from the site's ``[work_orders]``
``requests``            the building's recent requests that asked for a reply, keyed by a tag of the card
                        (``RequestStatus``): a student taps to see the state of their own
``request_key``         hex key of those tags (as ``presence_key``): the card itself never travels
======================  =====================================================================================

Each key is a section judged on its own (``merge_sections``): a section that does not validate (a booking
list over ``MAX_RESERVATIONS``, a negative capacity) keeps its local value, is logged and counted, and the
rest of the message still applies, so one oversized section never keeps a kiosk in the wrong space.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from onestop.cards import KioskCards
from onestop.clinical import Thresholds
from onestop.errors import ConfigError
from onestop.events import Card, Slug, as_utc
from onestop.payloads import MAX_RESERVATIONS, Direction
from onestop.site import OpeningHours, Reservation
from onestop.work_orders import DEFAULT_CATEGORIES, MAX_CATEGORIES, STATES, CategoryLabel

KIOSK_CATEGORIES = tuple(CategoryLabel(id=c.id, label=c.label, label_zh=c.label_zh) for c in DEFAULT_CATEGORIES)
MAX_REQUEST_STATUSES = 200  # the newest requests with a reply wanted, in one kiosk's cfg


class RequestStatus(BaseModel):
    """One request's state as a kiosk may show it to the student who made it (no note, no card)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    tag: str = Field(pattern=r"^[0-9a-f]{16,64}$", description="keyed tag of the card (onestop.presence.tag)")
    category: str = Field(max_length=32)
    state: str = Field(max_length=16)
    opened: datetime
    updated: datetime

    @field_validator("state")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in STATES:
            raise ValueError(f"unknown state {value!r}")
        return value


class StationConfig(BaseModel):
    """The effective configuration of one kiosk or health station (settings, then cfg on top)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    space: Slug
    display_name: str | None = Field(None, max_length=80)
    display_name_zh: str | None = Field(None, max_length=80)
    capacity: int | None = Field(None, ge=0)
    activity: Slug | None = None
    activity_name: str | None = Field(None, max_length=80)
    activity_name_zh: str | None = Field(None, max_length=80)
    roster: frozenset[Card] | None = None
    reservations: tuple[Reservation, ...] = Field((), max_length=MAX_RESERVATIONS)
    reservation_early_min: float = Field(15, ge=0, le=240)
    reservations_only: bool = False
    max_stay_h: float = Field(12.0, gt=0, le=72)
    direction: Direction = "toggle"
    presence_key: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    cards: KioskCards | None = None  # the card directory's refusals for this kiosk (onestop.cards)
    hours: OpeningHours | None = None  # the space's opening hours, for the idle screen
    thresholds: Thresholds = Field(default_factory=Thresholds)
    request_categories: tuple[CategoryLabel, ...] = Field(KIOSK_CATEGORIES, min_length=1, max_length=MAX_CATEGORIES)
    requests: tuple[RequestStatus, ...] = Field((), max_length=MAX_REQUEST_STATUSES)
    request_key: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")

    @field_validator("thresholds", mode="before")
    @classmethod
    def _partial_thresholds(cls, value: Any) -> Any:
        # The gateway sends only what it overrides; the rest keeps the CLINICAL.md defaults.
        return Thresholds.model_validate(value) if isinstance(value, dict) else value

    @field_validator("reservations", mode="after")
    @classmethod
    def _aware(cls, value: tuple[Reservation, ...]) -> tuple[Reservation, ...]:
        # Bookings without an offset are taken as UTC, like every time on the wire.
        return tuple(r if r.start.tzinfo and r.end.tzinfo else
                     r.model_copy(update={"start": as_utc(r.start), "end": as_utc(r.end)}) for r in value)

    @property
    def attendance(self) -> bool:
        """True when taps register attendance rather than check people in and out."""
        return self.activity is not None

    def name(self, lang: str) -> str:
        """The space's (or activity's) name for the screen, in ``lang`` when there is one."""
        if self.attendance:
            return (lang == "zh" and self.activity_name_zh) or self.activity_name or str(self.activity)
        return (lang == "zh" and self.display_name_zh) or self.display_name or self.space

    def category_label(self, category: str, lang: str) -> str:
        """A request category's words for the screen, in ``lang`` when there are some (the id if unknown)."""
        found = next((c for c in self.request_categories if c.id == category), None)
        if found is None:
            return category
        return (lang == "zh" and found.label_zh) or found.label

    def reservation_for(self, card: str, now: datetime) -> Reservation | None:
        """The booking ``card`` may claim here at ``now``, if any (the one ending last wins)."""
        early = timedelta(minutes=self.reservation_early_min)
        current = [r for r in self.reservations
                   if r.card == card and r.space == self.space and r.start - early <= now < r.end]
        return max(current, key=lambda r: r.end, default=None)



class Merged(NamedTuple):
    """A cfg message applied: the configuration, and the problems of the sections that were refused."""

    config: StationConfig
    refused: list[str]


def merge_sections(base: StationConfig, cfg: dict[str, Any]) -> Merged:
    """``base`` with every valid key of a gateway ``cfg`` message applied; invalid keys keep their local value.

    Each cfg message is complete (it is retained and replaces the previous one), so it is always applied to
    the *local* base, never on top of an earlier cfg; keys it leaves out keep their local value.
    """
    known = {k: v for k, v in cfg.items() if k in StationConfig.model_fields}
    refused: list[str] = []
    while True:
        try:
            return Merged(StationConfig.model_validate({**base.model_dump(exclude_defaults=True), **known}), refused)
        except ValidationError as exc:
            # Paths and messages only: a roster or a booking holds card numbers.
            problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10]]
            bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]} & set(known)
            if not bad:  # the local base itself is invalid: nothing to leave out
                raise ConfigError("cfg topic", problems) from exc
            refused += [p for p in problems if p.split(".", 1)[0].split(":", 1)[0] in bad]
            known = {k: v for k, v in known.items() if k not in bad}


def merge(base: StationConfig, cfg: dict[str, Any]) -> StationConfig:
    """``merge_sections``, all or nothing: ``ConfigError`` listing the problems when any section is invalid."""
    merged = merge_sections(base, cfg)
    if merged.refused:
        raise ConfigError("cfg topic", merged.refused)
    return merged.config
