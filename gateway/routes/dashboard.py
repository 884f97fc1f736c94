"""The staff dashboard page and the one call that feeds it."""

from datetime import UTC, datetime
from importlib import resources
from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from gateway.read_model import SpaceNow, SyncStatus
from gateway.routes.common import ANY_ROLE, OPERATIONS, Context, visible_all
from onestop.records import AlertRecord, DeviceHealth
from onestop.roles import alert_teams
from web.auth import Principal
from web.headers import Page


class Overview(BaseModel):
    """Everything the dashboard shows, in one call."""

    site: str
    role: str = Field(description="the caller's role: the page shows the view for it")
    now: datetime
    spaces: list[SpaceNow]
    devices: list[DeviceHealth]
    alerts: list[AlertRecord]
    sync: SyncStatus
    broker: bool
    urgent: dict[str, int] = Field(description="unresolved urgent alerts per team, for every role: a count, "
                                               "even of alerts the caller may not open")


def router(ctx: Context) -> APIRouter:
    """``/`` and ``/api/v1/overview``."""
    api = APIRouter()
    anyone = ctx.only(*ANY_ROLE)
    page = Page(resources.files("gateway").joinpath("dashboard.html").read_text(encoding="utf-8"))

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return page.response()

    @api.get("/api/v1/overview", tags=["building"], summary="Everything the dashboard shows")
    def overview(principal: Annotated[Principal, anyone]) -> Overview:
        view = ctx.view
        alerts = visible_all(view.alerts(alert_teams(principal.role), "unresolved", 50), principal,
                             "/api/v1/overview", ctx.recent)
        devices = view.devices() if principal.role in OPERATIONS else []
        return Overview(site=view.site, role=principal.role.value, now=datetime.now(UTC), spaces=view.spaces(),
                        devices=devices, alerts=alerts, sync=view.sync_status(), broker=view.broker_connected(),
                        urgent=view.urgent_by_team())

    return api
