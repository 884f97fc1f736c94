"""Alerts for the caller's teams, and their lifecycle (acknowledge, resolve).

Each role sees its own teams' alerts (``onestop.roles.alert_teams``); the student concerned (``subject``) is
shown only to the clinic and counselling roles, each such read audited (``gateway.routes.common``).
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from gateway import alerts as rules
from gateway.routes.common import ANY_ROLE, Context, visible_all
from onestop.records import AlertRecord
from onestop.roles import alert_teams
from web.auth import Principal

Change = Callable[[AlertRecord, str, datetime], AlertRecord]


def router(ctx: Context) -> APIRouter:
    """``/api/v1/alerts`` and its two transitions."""
    api = APIRouter(tags=["alerts"])
    anyone = ctx.only(*ANY_ROLE)

    @api.get("/api/v1/alerts", summary="Alerts for the caller's teams")
    def list_alerts(principal: Annotated[Principal, anyone],
                    status: Annotated[Literal["open", "acknowledged", "resolved", "unresolved"] | None,
                                      Query(description="filter by status")] = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[AlertRecord]:
        return visible_all(ctx.view.alerts(alert_teams(principal.role), status, limit), principal, "/api/v1/alerts",
                           ctx.recent)

    @api.post("/api/v1/alerts/{alert_id}/acknowledge", summary="Take an alert on")
    def acknowledge(alert_id: str, principal: Annotated[Principal, anyone]) -> AlertRecord:
        return transition(alert_id, principal, rules.acknowledge)

    @api.post("/api/v1/alerts/{alert_id}/resolve", summary="Close an alert")
    def resolve(alert_id: str, principal: Annotated[Principal, anyone]) -> AlertRecord:
        return transition(alert_id, principal, rules.resolve)

    def transition(alert_id: str, principal: Principal, change: Change) -> AlertRecord:
        record = ctx.view.alert(alert_id)
        if record is None or record.team not in alert_teams(principal.role):
            raise HTTPException(404, "no such alert for your team")
        try:
            updated = change(record, principal.name, datetime.now(UTC))
        except rules.AlertError as exc:
            raise HTTPException(409, str(exc)) from exc
        ctx.view.save_alert(updated)
        return visible_all([updated], principal, f"/api/v1/alerts/{{id}}/{change.__name__}",
                           ctx.recent)[0]

    return api
