"""Feedback per space and week (docs/work-orders.md, "Feedback"), beside the space's occupancy.

``start`` / ``end`` without an offset are UTC (``central.timerange``); weeks follow the campus time zone.
"""


from datetime import UTC, datetime, timedelta

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from central.analytics import Analytics
from central.errors import NotFoundError
from central.feedback import MAX_SPAN, FeedbackWeek, weekly
from central.routes.analytics import NOT_FOUND, SitePath, SpacePath, exam_days
from central.routes.common import ANALYTICS_ROLES, Context, allow
from central.timerange import TimeRangeError, query_range


class FeedbackView(BaseModel):
    """A space's anonymous feedback ratings per ISO week."""

    site: str
    space: str
    start: datetime
    end: datetime
    timezone: str
    weeks: list[FeedbackWeek]


def router(ctx: Context) -> APIRouter:
    """The feedback route."""
    api = APIRouter(tags=["analytics"])
    analytics = Analytics(ctx.store, ctx.settings.zone, exam_days(ctx))

    def answer(site: str, space: str, start: datetime, end: datetime) -> list[FeedbackWeek]:
        if analytics.space(site, space) is None:
            raise NotFoundError(f"no space {space!r} in site {site!r}'s configuration")
        return weekly(ctx.store.space_events(site, space, start, end, types=("feedback",)), ctx.settings.zone)

    @api.get("/api/v1/sites/{site}/spaces/{space}/feedback", response_model=FeedbackView,
             summary="A space's anonymous feedback per ISO week: count, mean rating, distribution "
                     "(default: the last 12 weeks)",
             **allow(ctx, *ANALYTICS_ROLES, responses=NOT_FOUND))
    async def space_feedback(site: SitePath, space: SpacePath, start: datetime | None = None,
                             end: datetime | None = None) -> FeedbackView:
        start_at, end_at = query_range(start, end, datetime.now(UTC), timedelta(weeks=12))
        if end_at - start_at > MAX_SPAN:
            raise TimeRangeError(f"at most {MAX_SPAN.days // 7} weeks per request; narrow the range")
        weeks = await run_in_threadpool(answer, site, space, start_at, end_at)
        return FeedbackView(site=site, space=space, start=start_at, end=end_at, timezone=ctx.settings.timezone,
                            weeks=weeks)

    return api
