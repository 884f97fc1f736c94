"""Read routes over what gateways sync: alerts with their lifecycle, the fleet, the gateways themselves.

Alerts follow the gateway's team rule (``onestop.roles.alert_teams``): each role lists and counts only its
teams' alerts. A health alert's ``subject`` (a card number) is shown only to the ``clinic`` and
``counselling`` roles, and such a list is audited (one row per student named, ``central.routes.health``;
an unchanged list read again by the same person, as a dashboard polls, once per 10 minutes);
every other reader sees ``subject`` withheld and the student's keyed pseudonym in ``subject_ref``
(``central.pseudonyms``), enough to tell "the same student again" and nothing more, and a health alert's
history without its notes (free text about a student).
"""


from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from central.alerts import AlertFilter
from central.routes.common import ALERT_ROLES, FLEET_ROLES, Context, allow, caller
from central.routes.health import audited
from central.timerange import BAD_TIME, query_time
from onestop.ids import SITE_PATTERN
from onestop.records import HEALTH_TEAMS, AlertAction, AlertStatus, Severity, Team
from onestop.roles import HEALTH_ROLES, alert_teams
from web.repeats import RecentReads


class AlertView(BaseModel):
    """An alert as central holds it."""

    id: str
    site: str
    rule: str
    severity: Severity
    team: Team
    status: AlertStatus
    summary: str
    raised_at: datetime
    updated_at: datetime
    device: str | None
    space: str | None
    event_id: str | None
    subject: str | None
    subject_ref: str | None = Field(None, description="the subject's pseudonym (for roles that may not see "
                                                       "the card)")
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    synced_at: datetime
    assigned_to: str | None = None
    history: list[AlertAction] | None = Field(None, description="every action, oldest first: who, when, a note")


def withheld_notes(row: dict) -> list[dict] | None:
    """A stored alert's history as a role outside the clinic and counselling may see it."""
    if row["team"] not in HEALTH_TEAMS or not row["history"]:
        return row["history"]
    return [{**action, "note": None} for action in row["history"]]


class DeviceView(BaseModel):
    """A device's health as its gateway last reported it."""

    device: str
    site: str
    kind: str | None
    online: bool
    fw: str | None
    boot: str | None
    space: str | None
    last_seen: datetime | None
    outbox: int | None
    updated_at: datetime
    synced_at: datetime


class GatewayView(BaseModel):
    """A gateway as central sees it through ingest."""

    site: str
    last_seen: datetime
    events: int
    duplicates: int
    quarantined: int
    lag_s: float | None
    max_lag_s: float | None


class ConflictView(BaseModel):
    """An event id that arrived with content other than the stored copy's (which central kept)."""

    event_id: str
    site: str
    device: str
    first_at: datetime
    last_at: datetime
    times: int


class SiteFleet(BaseModel):
    """Devices online and offline at one site."""

    online: int
    offline: int


SiteQuery = Annotated[str | None, Query(pattern=SITE_PATTERN)]


def router(ctx: Context) -> APIRouter:
    """Alert, fleet and gateway read routes."""
    api = APIRouter()
    store = ctx.store
    recent = RecentReads()

    @api.get("/api/v1/alerts", tags=["alerts"], response_model=list[AlertView],
             summary="Alerts of the caller's teams from every gateway, newest first, filtered by team, status, "
                     "site, severity",
             **allow(ctx, *ALERT_ROLES, responses=BAD_TIME))
    def list_alerts(request: Request, team: Team | None = None, status: AlertStatus | None = None,
                    site: SiteQuery = None, severity: Severity | None = None, since: datetime | None = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict]:
        role = caller(request).role
        rows = store.alerts.list(AlertFilter(alert_teams(role), team, status, site, severity,
                                             query_time(since, "since"), limit))
        if role not in HEALTH_ROLES:  # nor the notes on a health alert (onestop.alert_history.notes_withheld)
            return [{**row, "subject": None, "subject_ref": ctx.pseudonyms.maybe(row["subject"]),
                     "history": withheld_notes(row)} for row in rows]
        counts: dict[str | None, int] = {}
        for row in rows:
            if row["subject"] is not None:
                counts[row["subject"]] = counts.get(row["subject"], 0) + 1
        # The list names students: audited like every other health read, before it leaves; the dashboard's
        # poll of an unchanged list once per window (``web.repeats``).
        if counts and recent.is_new((caller(request).name, frozenset(counts))):
            audited(ctx, request, "/api/v1/alerts", {"team": team, "status": status, "site": site,
                                                     "severity": severity, "since": since and since.isoformat(),
                                                     "limit": limit}, sorted(counts), counts)
        return rows

    @api.get("/api/v1/alerts/summary", tags=["alerts"], response_model=dict[str, dict[str, int]],
             summary="Alert counts by team and status, for the caller's teams", **allow(ctx, *ALERT_ROLES))
    def alert_summary(request: Request) -> dict[str, dict[str, int]]:
        return store.alerts.summary(alert_teams(caller(request).role))

    @api.get("/api/v1/fleet", tags=["fleet"], response_model=list[DeviceView],
             summary="Device health across the campus", **allow(ctx, *FLEET_ROLES))
    def fleet(site: SiteQuery = None, online: bool | None = None) -> list[dict]:
        return store.fleet.list(site, online)

    @api.get("/api/v1/fleet/summary", tags=["fleet"], response_model=dict[str, SiteFleet],
             summary="Devices online and offline per site", **allow(ctx, *FLEET_ROLES))
    def fleet_summary() -> dict[str, dict[str, int]]:
        return store.fleet.summary()

    @api.get("/api/v1/gateways", tags=["fleet"], response_model=list[GatewayView],
             summary="Every gateway: last contact, sync lag, events, duplicates, rejected batches",
             **allow(ctx, *FLEET_ROLES))
    def gateways() -> list[dict]:
        return store.gateways()

    @api.get("/api/v1/events/conflicts", tags=["fleet"], response_model=list[ConflictView],
             summary="Event ids received again with other content (the stored copy was kept), most recent first",
             **allow(ctx, *FLEET_ROLES))
    def event_conflicts(limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict]:
        return store.conflicts(limit)

    return api



