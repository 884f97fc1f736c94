"""Work orders of the caller's departments (docs/work-orders.md): list, one, change of state, notes, and the
page that shows them by department and state with their actions (``/work-orders``).

Which departments a role sees is ``onestop.work_orders.may_see`` (facilities, technicians, counselling,
clinic their own; staff every department but counselling's and the clinic's; admin all). An order of another
department answers 404, as if it did not exist. Every change is recorded in the order's history with the
caller's name; a change made from an outdated copy answers 409 instead of overwriting someone else's.
"""

from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.routes.common import ANY_ROLE, Context
from gateway.work_orders import WorkOrderError, annotate, move
from onestop.work_orders import MAX_NOTE, State, WorkOrderRecord, may_see
from web.auth import Principal
from web.headers import Page

StateFilter = Literal["open", "acknowledged", "in-progress", "done", "rejected", "unfinished"]


class WorkOrderView(WorkOrderRecord):
    """A work order as the API shows it, with whether it is late against its targets now."""

    overdue: bool


class Change(BaseModel):
    """A change of state, a note, or a new assignee (any of them)."""

    model_config = ConfigDict(extra="forbid")

    state: State | None = None
    note: str | None = Field(None, max_length=MAX_NOTE)
    reason: str | None = Field(None, max_length=MAX_NOTE, description="required to reject")
    assignee: str | None = Field(None, max_length=64, description="empty string: nobody")


def view(record: WorkOrderRecord, now: datetime) -> WorkOrderView:
    return WorkOrderView(**record.model_dump(), overdue=record.is_overdue(now))


def router(ctx: Context) -> APIRouter:
    """``/api/v1/work-orders``."""
    api = APIRouter(tags=["work orders"])
    anyone = ctx.only(*ANY_ROLE)
    page = Page(resources.files("gateway").joinpath("work_orders.html").read_text(encoding="utf-8"))

    @api.get("/work-orders", response_class=HTMLResponse, include_in_schema=False)
    def work_orders_page() -> HTMLResponse:
        """The building's work orders by department and state, with their actions (the API below)."""
        return page.response()

    @api.get("/api/v1/work-orders", summary="Work orders of the caller's departments, open ones first")
    def list_orders(principal: Annotated[Principal, anyone],
                    department: Annotated[str | None, Query(max_length=64)] = None,
                    state: Annotated[StateFilter | None, Query()] = None,
                    overdue: Annotated[bool | None, Query(description="only late ones (true)")] = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[WorkOrderView]:
        now = datetime.now(UTC)
        found = [view(r, now) for r in ctx.view.work_orders(lambda d: may_see(principal.role, d), department,
                                                             state, limit)]
        return [v for v in found if overdue is None or v.overdue == overdue]

    @api.get("/api/v1/work-orders/{order_id}", summary="One work order with its history")
    def get_order(order_id: str, principal: Annotated[Principal, anyone]) -> WorkOrderView:
        return view(_mine(order_id, principal), datetime.now(UTC))

    @api.post("/api/v1/work-orders/{order_id}", summary="Acknowledge, start, finish or reject; add a note")
    def change(order_id: str, body: Change, principal: Annotated[Principal, anyone]) -> WorkOrderView:
        record, now = _mine(order_id, principal), datetime.now(UTC)
        try:
            if body.state is not None:
                updated = move(record, body.state, principal.name, now, note=body.note, reason=body.reason,
                               assignee=body.assignee)
            elif body.note or body.assignee is not None:
                updated = annotate(record, principal.name, now, body.note, body.assignee)
            else:
                raise HTTPException(422, "say what changes: state, note or assignee")
        except WorkOrderError as exc:
            raise HTTPException(409, str(exc)) from exc
        if not ctx.view.save_work_order(updated, record.updated_at):
            raise HTTPException(409, "the work order changed meanwhile; reload it")
        return view(updated, now)

    def _mine(order_id: str, principal: Principal) -> WorkOrderRecord:
        record = ctx.view.work_order(order_id[:64])
        if record is None or not may_see(principal.role, record.department):
            raise HTTPException(404, "no such work order for your department")
        return record

    return api
