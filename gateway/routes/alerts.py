"""Alerts for the caller's teams, their lifecycle (acknowledge, resolve, assign, each with a note) and how
quickly they were answered.

Each role sees its own teams' alerts (``onestop.roles.alert_teams``); the student concerned (``subject``) is
shown only to the clinic and counselling roles, each such read audited (``gateway.routes.common``). An
action is recorded in the alert's history with the caller's name and syncs to central like any change;
actions taken at central arrive through the sync (``gateway.sync``) and merge the same way
(``onestop.alert_history``).
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, HTTPException, Query

from gateway import alerts as rules
from gateway.routes.common import ANY_ROLE, Context, visible_all
from onestop.alert_history import AlertError, response_times, stats, stats_window
from onestop.records import ActionNote, AlertRecord, Assignment, ResponseTimes
from onestop.roles import alert_teams
from web.auth import Principal

Change = Callable[[AlertRecord, str, datetime], AlertRecord]


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)  # no offset: UTC



def router(ctx: Context) -> APIRouter:
    """``/api/v1/alerts``, its three actions and its response times."""
    api = APIRouter(tags=["alerts"])
    anyone = ctx.only(*ANY_ROLE)

    @api.get("/api/v1/alerts", summary="Alerts for the caller's teams")
    def list_alerts(principal: Annotated[Principal, anyone],
                    status: Annotated[Literal["open", "acknowledged", "resolved", "unresolved"] | None,
                                      Query(description="filter by status")] = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[AlertRecord]:
        return visible_all(ctx.view.alerts(alert_teams(principal.role), status, limit), principal, "/api/v1/alerts",
                           ctx.recent)

    @api.get("/api/v1/alerts/stats", summary="Time to acknowledge and to resolve per team and severity "
                                             "(median, 90th percentile) for alerts raised in [since, until) "
                                             "(default: the last 30 days)")
    def alert_stats(principal: Annotated[Principal, anyone], since: datetime | None = None,
                    until: datetime | None = None) -> list[ResponseTimes]:
        try:  # a time near year 1 or 9999 has no UTC equivalent, or no 30 days before it
            start, end = stats_window(since and _utc(since), until and _utc(until), datetime.now(UTC))
        except OverflowError as exc:
            raise HTTPException(400, "a time outside the calendar") from exc
        except AlertError as exc:
            raise HTTPException(400, str(exc)) from exc
        teams = alert_teams(principal.role)
        responses = [response_times(r) for r in ctx.view.alert_lifecycles(start)
                     if r.team in teams and r.raised_at < end]
        return stats(responses)

    @api.post("/api/v1/alerts/{alert_id}/acknowledge", summary="Take an alert on")
    def acknowledge(alert_id: str, principal: Annotated[Principal, anyone],
                    body: Annotated[ActionNote | None, Body()] = None) -> AlertRecord:
        note = body.note if body else None
        return transition(alert_id, principal, "acknowledge", lambda r, who, at: rules.acknowledge(r, who, at, note))

    @api.post("/api/v1/alerts/{alert_id}/resolve", summary="Close an alert")
    def resolve(alert_id: str, principal: Annotated[Principal, anyone],
                body: Annotated[ActionNote | None, Body()] = None) -> AlertRecord:
        note = body.note if body else None
        return transition(alert_id, principal, "resolve", lambda r, who, at: rules.resolve(r, who, at, note))

    @api.post("/api/v1/alerts/{alert_id}/assign", summary="Hand an alert to a person")
    def assign(alert_id: str, principal: Annotated[Principal, anyone], body: Assignment) -> AlertRecord:
        return transition(alert_id, principal, "assign",
                           lambda r, who, at: rules.assign(r, who, at, body.assignee, body.note))

    def transition(alert_id: str, principal: Principal, action: str, change: Change) -> AlertRecord:
        record = ctx.view.alert(alert_id)
        if record is None or record.team not in alert_teams(principal.role):
            raise HTTPException(404, "no such alert for your team")
        try:
            updated = change(record, principal.name, datetime.now(UTC))
        except rules.AlertError as exc:
            raise HTTPException(409, str(exc)) from exc
        return visible_all([ctx.view.save_alert(updated)], principal, f"/api/v1/alerts/{{id}}/{action}",
                           ctx.recent)[0]

    return api
