"""Alert actions at central (acknowledge, resolve, assign, each with a note), their downlink to the alert's
gateway, and how quickly alerts were answered.

An action is taken on central's copy by the same rule as at the gateway (``onestop.alert_history``): the
caller's teams only (``onestop.roles.alert_teams``), recorded with the caller's name, and queued for the
alert's gateway, which fetches what is newer than its cursor (``GET /api/v1/sites/{site}/alerts/actions``,
its site-bound token) and merges it: the later action wins on both sides, both are kept in the history.
"""


from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request

from central.errors import NotFoundError, RequestError
from central.routes.common import ALERT_ROLES, Context, allow, caller, check_site
from central.timerange import BAD_TIME, query_time
from onestop.alert_history import AlertError, new_action, notes_withheld, stats, stats_window
from onestop.ids import SITE_PATTERN
from onestop.records import ActionNote, AlertActions, AlertRecord, Assignment, ResponseTimes
from onestop.roles import HEALTH_ROLES, Role, alert_teams

ACTIONS_PAGE_MAX = 1000


class AlertStateError(RequestError):
    """The alert's state does not allow the action (already resolved, not open): 409."""

    status = 409



NOT_FOUND = {404: {"description": "no such alert for the caller's teams"},
             409: {"description": "the alert's state does not allow this action"}}


def router(ctx: Context) -> APIRouter:
    """The three actions, the gateways' downlink of them, and response-time statistics."""
    api = APIRouter(tags=["alerts"])
    store = ctx.store

    def act(request: Request, alert_id: str, kind: str, note: str | None, assignee: str | None = None) -> dict:
        who = caller(request)
        action = new_action(kind, who.name, datetime.now(UTC), note, assignee)  # type: ignore[arg-type]
        try:
            updated = store.alerts.act(alert_id, alert_teams(who.role), action)
        except AlertError as exc:
            raise AlertStateError(str(exc)) from exc
        if updated is None:
            raise NotFoundError("no such alert for your team")
        return shown(updated, who.role)

    def shown(record: AlertRecord, role: Role) -> dict:
        if role in HEALTH_ROLES:
            return record.model_dump(mode="json")
        return {**notes_withheld(record).model_dump(mode="json"), "subject": None,
                "subject_ref": ctx.pseudonyms.maybe(record.subject)}

    @api.post("/api/v1/alerts/{alert_id}/acknowledge", summary="Take an alert on (reaches its gateway)",
              **allow(ctx, *ALERT_ROLES, responses=NOT_FOUND))
    def acknowledge(request: Request, alert_id: str, body: Annotated[ActionNote | None, Body()] = None) -> dict:
        return act(request, alert_id, "acknowledge", body.note if body else None)

    @api.post("/api/v1/alerts/{alert_id}/resolve", summary="Close an alert (reaches its gateway)",
              **allow(ctx, *ALERT_ROLES, responses=NOT_FOUND))
    def resolve(request: Request, alert_id: str, body: Annotated[ActionNote | None, Body()] = None) -> dict:
        return act(request, alert_id, "resolve", body.note if body else None)

    @api.post("/api/v1/alerts/{alert_id}/assign", summary="Hand an alert to a person (reaches its gateway)",
              **allow(ctx, *ALERT_ROLES, responses=NOT_FOUND))
    def assign(request: Request, alert_id: str, body: Assignment) -> dict:
        return act(request, alert_id, "assign", body.note, body.assignee)

    @api.get("/api/v1/alerts/stats", response_model=list[ResponseTimes],
             summary="Time to acknowledge and to resolve per team and severity (median, 90th percentile) for "
                     "alerts raised in [since, until) (default: the last 30 days)",
             **allow(ctx, *ALERT_ROLES, responses=BAD_TIME))
    def alert_stats(request: Request, since: datetime | None = None,
                    until: datetime | None = None) -> list[ResponseTimes]:
        try:
            start, end = stats_window(query_time(since, "since"), query_time(until, "until"), datetime.now(UTC))
        except AlertError as exc:
            raise RequestError(str(exc)) from exc
        responses = store.alerts.response_times(alert_teams(caller(request).role), start, end)
        return stats(responses)

    @api.get("/api/v1/sites/{site}/alerts/actions", response_model=AlertActions,
             summary="Actions taken at central on the site's alerts after a cursor, oldest first (its gateway)",
             **allow(ctx, Role.GATEWAY))
    def site_actions(request: Request, site: Annotated[str, Path(pattern=SITE_PATTERN)],
                     after: Annotated[int, Query(ge=0, le=2**62)] = 0,
                     limit: Annotated[int, Query(ge=1, le=ACTIONS_PAGE_MAX)] = 500) -> AlertActions:
        check_site(caller(request), site)
        return store.alerts.actions_after(site, after, limit)

    return api
