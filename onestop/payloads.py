"""Payloads of the contract's non-event topics: device state (birth / Will), configuration, occupancy,
alerts and gateway state."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from onestop.cards import KioskCards
from onestop.events import UUID_PATTERN, Slug, format_ts
from onestop.ids import DEVICE_PATTERN, SITE_PATTERN
from onestop.presence import MAX_TAGS, TAG_BYTES
from onestop.records import AlertRecord, AlertStatus, Severity, Team

# What a device is: what provisioning registers, the building's configuration lists, a device announces in
# its birth message and the gateway's authority grants by (the gateway announces itself as ``gateway``).
DeviceKind = Literal["kiosk", "health-station", "sensor"]
DEVICE_KINDS: tuple[DeviceKind, ...] = get_args(DeviceKind)


class DeviceState(BaseModel):
    """``dev/{device}/state``: birth (``online: true``) or Last Will (``online: false``).

    ``boot`` is fresh per process start, so a late Will from an old connection can be told from the
    current birth.
    """

    model_config = ConfigDict(extra="allow")
    online: bool
    boot: str = Field(min_length=1, max_length=64)
    kind: Literal[DeviceKind, "gateway"] | None = None
    fw: str | None = Field(None, max_length=64)
    started: datetime | None = None

    @field_serializer("started")
    def _started(self, ts: datetime | None) -> str | None:
        return format_ts(ts) if ts else None


class Occupancy(BaseModel):
    """``space/{space}/occupancy`` (retained)."""

    space: Slug
    count: int = Field(ge=0)
    capacity: int | None = Field(default=None, ge=0)
    ts: datetime
    sensor_count: float | None = Field(default=None, description="people counted by a sensor node, if any")

    @field_serializer("ts")
    def _ts(self, ts: datetime) -> str:
        return format_ts(ts)


# Reservations in one device's cfg: the gateway sends at most this many (current and upcoming, soonest first),
# a kiosk accepts at most this many.
MAX_RESERVATIONS = 5000


Direction = Literal["in", "out", "toggle"]


class SpacePresence(BaseModel):
    """``space/{space}/presence`` (retained): who is inside, as keyed hashes (``onestop.presence``).

    ``inside`` is base64 of 8-byte tags ``HMAC-SHA256(space key, card)``; only the space's kiosks hold the key
    (in their cfg). ``upto`` is, per kiosk of the space, the last sequence number the gateway had applied, so
    a kiosk knows which of its own taps this copy already includes.
    """

    model_config = ConfigDict(extra="ignore")
    space: Slug
    key_id: str = Field(pattern=r"^[0-9a-f]{12}$", description="which key the tags were made with")
    inside: str = Field(max_length=-(-MAX_TAGS * TAG_BYTES // 3) * 4, pattern=r"^[A-Za-z0-9+/]*={0,2}$",
                        description="base64 of the concatenated, sorted 8-byte tags")
    count: int = Field(ge=0, description="people inside (more than the tags when truncated)")
    truncated: bool = Field(False, description="more people are inside than fit: the newest check-ins are kept")
    upto: dict[str, int] = Field(default_factory=dict, max_length=64,
                                 description="kiosk -> last sequence number applied")
    ts: datetime

    @field_serializer("ts")
    def _ts(self, ts: datetime) -> str:
        return format_ts(ts)


class DeviceConfig(BaseModel):
    """``dev/{device}/cfg`` (retained): what the gateway tells a device about its place."""

    model_config = ConfigDict(extra="allow")
    device: str
    space: Slug | None = None
    display_name: str | None = None
    mode: DeviceKind | None = None
    space_name: str | None = None
    capacity: int | None = None
    activity: str | None = Field(default=None, description="attendance mode: the activity being registered")
    reservations: list[dict] = Field(default_factory=list, description="reservations for the device's space")
    max_stay_h: float | None = Field(default=None, description="sessions longer than this are closed")
    direction: Direction | None = Field(default=None, description="kiosks: in, out or toggle (the default)")
    presence_key: str | None = Field(default=None, description="kiosks: hex key of their space's presence tags")
    cards: KioskCards | None = Field(default=None, description="kiosks: the cards refused here, as keyed hashes "
                                                                "(onestop.cards)")
    thresholds: dict | None = Field(default=None, description="screening thresholds (health stations)")


class GatewayState(BaseModel):
    """``gateway/state`` (retained): the gateway's birth / Will and whether central is reachable."""

    model_config = ConfigDict(extra="allow")
    online: bool
    boot: str
    central: Literal["reachable", "unreachable", "unknown"] = "unknown"
    backlog: int | None = None


class AlertMessage(BaseModel):
    """``alert/{team}`` (not retained): what a team's staff display shows.

    Never the student's card: anyone who may read the topic (a display in a corridor, the gateway's
    observers) would learn who was screened and why. Staff who must know look the alert up in the HTTP API
    with a ``clinic`` or ``counselling`` token, by ``id``.
    """

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=UUID_PATTERN)
    site: str = Field(pattern=SITE_PATTERN)
    rule: str = Field(description="e.g. bp-crisis, phq9-item9, over-capacity")
    severity: Severity
    team: Team
    status: AlertStatus
    summary: str = Field(max_length=300, description="never measured values or answers")
    raised_at: datetime
    device: str | None = Field(None, pattern=DEVICE_PATTERN)
    space: Slug | None = None
    event_id: str | None = Field(None, pattern=UUID_PATTERN, description="the event that raised it")

    @classmethod
    def from_record(cls, record: AlertRecord) -> AlertMessage:
        """The publishable part of a stored alert: its ``subject`` and lifecycle stay behind."""
        return cls.model_validate(record.model_dump(include=set(cls.model_fields)))

    @field_serializer("raised_at")
    def _raised_at(self, ts: datetime) -> str:
        return format_ts(ts)
