"""The link to central: its state and backlog, and the events central refused."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from gateway.read_model import SyncStatus
from gateway.routes.common import OPERATIONS, TECHNICIANS, Context
from web.auth import Principal


class DeadLetter(BaseModel):
    """An event central refused as invalid, set aside for a person to look at."""

    id: str
    device: str
    type: str
    reason: str
    at: datetime


def router(ctx: Context) -> APIRouter:
    """``/api/v1/sync`` and ``/api/v1/dead-letters``."""
    api = APIRouter(tags=["sync"])
    operations, technicians = ctx.only(*OPERATIONS), ctx.only(*TECHNICIANS)

    @api.get("/api/v1/sync", summary="Link to central and backlog")
    def sync(_: Annotated[Principal, operations]) -> SyncStatus:
        return ctx.view.sync_status()

    @api.get("/api/v1/dead-letters", summary="Events central refused as invalid")
    def dead_letters(_: Annotated[Principal, technicians],
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[DeadLetter]:
        return [DeadLetter(id=i, device=d, type=t, reason=r, at=datetime.fromtimestamp(at, UTC))
                for i, d, t, r, at in ctx.view.dead_letters(limit)]

    return api
