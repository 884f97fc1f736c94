"""Records the gateway keeps and syncs to central besides events: alerts and device health.

These travel gateway → central in ``POST /api/v1/alerts/sync`` and ``POST /api/v1/fleet/sync`` (role
``gateway``); both are upserts keyed by id (alerts) or device id (fleet), so resending is harmless. Device
health: the newer ``updated_at`` wins. Alerts: the two copies' histories are merged, the later action wins
(``onestop.alert_history``). Actions taken at central travel down in ``GET
/api/v1/sites/{site}/alerts/actions`` (``AlertActions``) and merge the same way at the gateway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from onestop.events import MAX_COUNT, UUID_PATTERN, Card, format_ts
from onestop.ids import DEVICE_PATTERN, SITE_PATTERN, SLUG_PATTERN

# How soon someone should look, most urgent first. A screening's ``notice`` finding is advice the student
# already saw on the screen (onestop/clinical.py ``STAFF_ALERTED``): no one is alerted to it.
Severity = Literal["urgent", "follow-up", "notice"]
SEVERITY_ORDER: dict[str, int] = {severity: rank for rank, severity in enumerate(get_args(Severity))}
HealthTeam = Literal["clinic", "counselling"]  # who may see a student's health alerts
Team = Literal[HealthTeam, "facilities", "technicians"]
AlertStatus = Literal["open", "acknowledged", "resolved"]
HEALTH_TEAMS = frozenset(get_args(HealthTeam))
TEAMS: tuple[str, ...] = (*get_args(HealthTeam), "facilities", "technicians")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_serializer("*", when_used="json")
    def _times(self, value: object) -> object:
        return format_ts(value) if isinstance(value, datetime) else value


AlertActionKind = Literal["acknowledge", "resolve", "assign"]
PERSON_NAME = r"^[^\x00-\x1f\x7f<>]{1,64}$"  # a principal's name: printable, no markup
MAX_HISTORY = 200  # actions kept per alert (a bound, not a workflow limit: a real alert sees a handful)


class AlertAction(_Record):
    """One thing a person (or ``system``) did to an alert, at the gateway or at central.

    The alert's lifecycle fields follow from its history (``onestop.alert_history``): the later action wins,
    every action is kept. ``id`` makes merging two copies of a history idempotent.
    """

    id: str = Field(pattern=UUID_PATTERN)
    action: AlertActionKind
    by: str = Field(min_length=1, max_length=64, description="the principal's name (as its token names it)")
    at: datetime
    note: str | None = Field(None, max_length=500)
    assignee: str | None = Field(None, pattern=PERSON_NAME, description="assign: to whom (none: unassigned)")


class AlertRecord(_Record):
    """An alert raised at a gateway, with its lifecycle.

    ``subject`` (the card of the student concerned) is set only for health alerts and is shown only to the
    ``clinic`` and ``counselling`` roles; ``summary`` never contains measured values or answers.
    """

    id: str = Field(pattern=UUID_PATTERN)
    site: str = Field(pattern=SITE_PATTERN)
    rule: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", description="e.g. bp-crisis, phq9-item9, over-capacity")
    severity: Severity
    team: Team
    status: AlertStatus = "open"
    summary: str = Field(max_length=300)
    raised_at: datetime
    updated_at: datetime
    device: str | None = Field(None, pattern=DEVICE_PATTERN)
    space: str | None = Field(None, pattern=SLUG_PATTERN)
    event_id: str | None = Field(None, pattern=UUID_PATTERN, description="the event that raised it")
    subject: Card | None = None
    acknowledged_by: str | None = Field(None, max_length=64)
    acknowledged_at: datetime | None = None
    resolved_by: str | None = Field(None, max_length=64)
    resolved_at: datetime | None = None
    # Added with the two-way lifecycle (optional, so older records still validate).
    assigned_to: str | None = Field(None, pattern=PERSON_NAME)
    history: list[AlertAction] = Field(default_factory=list, max_length=MAX_HISTORY)


class AlertActionDown(BaseModel):
    """One action taken at central, on its way down to the alert's gateway (``seq`` orders them)."""

    seq: int = Field(ge=1)
    alert: str = Field(pattern=UUID_PATTERN)
    action: AlertAction


class AlertActions(BaseModel):
    """Body of ``GET /api/v1/sites/{site}/alerts/actions``: central's actions after the cursor, oldest first."""

    actions: list[AlertActionDown] = Field(max_length=10_000)
    next: int = Field(ge=0, description="the cursor to ask with next time")


class ActionNote(BaseModel):
    """Optional body of acknowledge and resolve (gateway and central)."""

    note: str | None = Field(None, max_length=500, description="why, or what was done")


class Assignment(ActionNote):
    """Body of assign (gateway and central)."""

    assignee: str | None = Field(description="the person's name; null to unassign", pattern=PERSON_NAME)


class ResponseTimes(BaseModel):
    """How quickly one team's alerts of one severity were acknowledged and resolved (seconds): one row of
    ``GET /api/v1/alerts/stats`` at the gateway and at central (``onestop.alert_history.stats``)."""

    team: Team
    severity: Severity
    alerts: int
    acknowledged: int
    acknowledge_median_s: float | None
    acknowledge_p90_s: float | None
    resolved: int
    resolve_median_s: float | None
    resolve_p90_s: float | None


class DeviceHealth(_Record):
    """What the gateway knows about one device right now."""

    device: str = Field(pattern=DEVICE_PATTERN)
    kind: str | None = Field(None, max_length=32)
    online: bool
    fw: str | None = Field(None, max_length=64)
    boot: str | None = Field(None, max_length=64)
    space: str | None = Field(None, pattern=SLUG_PATTERN)
    last_seen: datetime | None = None
    outbox: int | None = Field(None, ge=0, le=MAX_COUNT, description="bounded like the heartbeat's outbox")
    clock_skew_s: float | None = Field(None, allow_inf_nan=False,
                                       description="device clock minus gateway clock, when implausible")
    updated_at: datetime


class AlertSync(BaseModel):
    """Body of ``POST /api/v1/alerts/sync``."""

    site: str = Field(pattern=SITE_PATTERN)
    alerts: list[AlertRecord] = Field(max_length=10_000)


class FleetSync(BaseModel):
    """Body of ``POST /api/v1/fleet/sync``."""

    site: str = Field(pattern=SITE_PATTERN)
    devices: list[DeviceHealth] = Field(max_length=10_000)
