"""Spaces and devices now."""

from typing import Annotated

from fastapi import APIRouter

from gateway.read_model import SpaceNow
from gateway.routes.common import ANY_ROLE, OPERATIONS, Context
from onestop.records import DeviceHealth
from web.auth import Principal


def router(ctx: Context) -> APIRouter:
    """``/api/v1/spaces`` and ``/api/v1/devices``."""
    api = APIRouter(tags=["building"])
    anyone, operations = ctx.only(*ANY_ROLE), ctx.only(*OPERATIONS)

    @api.get("/api/v1/spaces", summary="Occupancy of every space now")
    def spaces(_: Annotated[Principal, anyone]) -> list[SpaceNow]:
        return ctx.view.spaces()

    @api.get("/api/v1/devices", summary="Every device's health")
    def devices(_: Annotated[Principal, operations]) -> list[DeviceHealth]:
        return ctx.view.devices()

    return api
