"""Work orders across the campus (docs/work-orders.md): the gateways' sync, the list with filters, its CSV,
and per department the times to acknowledge and to finish and the share on time.

Which departments a role sees is ``onestop.work_orders.may_see`` — the gateway's rule, stated once. Every
list, export and report is written to the audit log with its reader (a counselling request says who wants
counselling), before its data leaves.
"""


from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from central.audit import AuditEntry
from central.bodies import BodyDecoder
from central.errors import RequestError
from central.ingest import validate_model
from central.routes.common import ALERT_ROLES, Context, allow, caller, check_site
from central.routes.sync import BoundedBody, SyncAnswer
from central.work_orders import DepartmentTimes, WorkOrderFilter, csv_text, department_times
from onestop.ids import SITE_PATTERN
from onestop.roles import Role
from onestop.work_orders import WorkOrderRecord, WorkOrderSync, may_see
from web.auth import Principal

SiteQuery = Annotated[str | None, Query(pattern=SITE_PATTERN)]
DepartmentQuery = Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
StateQuery = Literal["open", "acknowledged", "in-progress", "done", "rejected", "unfinished"]
AgeQuery = Annotated[float | None, Query(ge=0, le=24 * 3650, description="hours since the order was opened")]


BAD_BODY = {400: {"description": "not valid gzip, or an order of another site"},
            413: {"description": "body too large"}, 415: {"description": "unsupported Content-Encoding"},
            422: {"description": "invalid; `detail` lists locations and error types only (no values)"}}


class WorkOrderView(WorkOrderRecord):
    """A work order as central holds it, with whether it is late against its targets now."""

    overdue: bool


def router(ctx: Context) -> APIRouter:
    """``/api/v1/work-orders``: sync, list, CSV, department times."""
    api = APIRouter(tags=["work orders"])
    store, settings = ctx.store, ctx.settings
    # Route dependencies (``allow``'s guard) are solved before parameters: the caller is known before the body.
    Bounded = Annotated[BodyDecoder, Depends(BoundedBody(settings.max_batch_bytes))]  # noqa: N806 - a type alias

    @api.post("/api/v1/work-orders/sync", response_model=SyncAnswer,
              summary="Upsert a gateway's work orders (newer updated_at wins)",
              **allow(ctx, Role.GATEWAY, responses=BAD_BODY, body=WorkOrderSync))
    def work_orders_sync(request: Request, body: Bounded) -> SyncAnswer:
        sync = validate_model(WorkOrderSync, body.finish())
        check_site(caller(request), sync.site)
        if any(order.site != sync.site for order in sync.work_orders):
            raise RequestError("every work order's site must be the batch's site")
        result = store.work_orders.upsert(sync.work_orders)
        return SyncAnswer(applied=result.applied, stale=result.stale)

    def visible(request: Request, site: str | None, department: str | None, state: str | None,
                min_age_h: float | None, max_age_h: float | None, limit: int) -> list[WorkOrderRecord]:
        who = caller(request)
        found = store.work_orders.find(None, WorkOrderFilter(
            site, department, state, None if min_age_h is None else timedelta(hours=min_age_h),
            None if max_age_h is None else timedelta(hours=max_age_h), 100_000))
        mine = [r for r in found if may_see(who.role, r.department)][:limit]
        audit(request, who, {"site": site, "department": department, "state": state, "min_age_h": min_age_h,
                             "max_age_h": max_age_h}, len(mine))
        return mine

    def audit(request: Request, who: Principal, params: dict, results: int) -> None:
        store.audit.record(AuditEntry(who.name, who.role.value, request.method, request.url.path, None,
                                      {k: v for k, v in params.items() if v is not None}, results, who.person))

    @api.get("/api/v1/work-orders", response_model=list[WorkOrderView],
             summary="Work orders of the caller's departments from every site, newest first; filters by site, "
                     "department, state and age", **allow(ctx, *ALERT_ROLES))
    def list_orders(request: Request, site: SiteQuery = None, department: DepartmentQuery = None,
                    state: StateQuery | None = None, min_age_h: AgeQuery = None, max_age_h: AgeQuery = None,
                    limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[WorkOrderView]:
        now = datetime.now(UTC)
        return [WorkOrderView(**r.model_dump(), overdue=r.is_overdue(now))
                for r in visible(request, site, department, state, min_age_h, max_age_h, limit)]

    @api.get("/api/v1/work-orders.csv", summary="The same list as CSV (no notes)",
             **allow(ctx, *ALERT_ROLES, responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}))
    def export(request: Request, site: SiteQuery = None, department: DepartmentQuery = None,
               state: StateQuery | None = None, min_age_h: AgeQuery = None, max_age_h: AgeQuery = None,
               limit: Annotated[int, Query(ge=1, le=50_000)] = 50_000) -> Response:
        rows = visible(request, site, department, state, min_age_h, max_age_h, limit)
        return Response(csv_text(rows, datetime.now(UTC)), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="work-orders.csv"'})

    @api.get("/api/v1/work-orders/times", response_model=list[DepartmentTimes],
             summary="Per department: median and 90th percentile minutes to acknowledge and to finish, share "
                     "on time, unfinished and overdue orders", **allow(ctx, *ALERT_ROLES))
    def times(request: Request, site: SiteQuery = None, max_age_h: AgeQuery = None) -> list[DepartmentTimes]:
        rows = visible(request, site, None, None, None, max_age_h, 100_000)
        return department_times(rows, datetime.now(UTC))

    return api
