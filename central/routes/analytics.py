"""Occupancy now and over time, utilisation and the peak-demand forecast, per space.

Times in answers are UTC; buckets and hours of the week follow the campus time zone (settings). ``at`` /
``start`` / ``end`` / ``origin`` without an offset are taken as UTC.
"""


from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from central.analytics import Analytics
from central.occupancy import Bucket
from central.routes.common import ANALYTICS_ROLES, Context, allow
from central.timerange import BAD_TIME, query_range, query_time
from onestop.ids import SITE_PATTERN, SLUG_PATTERN

SitePath = Annotated[str, Path(pattern=SITE_PATTERN)]
SpacePath = Annotated[str, Path(pattern=SLUG_PATTERN)]
NOT_FOUND = {404: {"description": "unknown site or space (spaces are those of the site's configuration)"}, **BAD_TIME}


class SpaceNow(BaseModel):
    """A space's occupancy at one moment."""

    site: str
    space: str
    name: str
    name_zh: str = Field("", description="the name in Chinese, when the site configuration gives one")
    count: int = Field(description="cards checked in and not yet out")
    capacity: int | None
    people_count: float | None = Field(description="latest people-counter reading of the last hour, if any")


class BucketView(BaseModel):
    """One time bucket."""

    start: datetime
    end: datetime
    peak: int = Field(description="most people at once")
    mean: float = Field(description="time-weighted mean occupancy")
    people_count_max: float | None
    people_count_mean: float | None


class HistoryView(BaseModel):
    """A space's occupancy over time."""

    site: str
    space: str
    capacity: int | None
    bucket: Bucket
    timezone: str
    buckets: list[BucketView]


class UtilisationView(BaseModel):
    """How a space was used against its capacity over its open hours."""

    site: str
    space: str
    start: datetime
    end: datetime
    capacity: int
    open_hours: int
    nearly_empty_hours: int = Field(description="open hours whose peak stayed at or under 10 % of capacity")
    over_90_hours: int = Field(description="open hours whose peak reached 90 % of capacity")
    nearly_empty_share: float | None
    over_90_share: float | None
    mean_utilisation: float | None
    peak_utilisation: float | None


class HourView(BaseModel):
    """The forecast of one hour."""

    start: datetime
    expected: float
    high: float
    exam: bool


class ForecastView(BaseModel):
    """The next 7 days' expected hourly peaks, with what the model learnt."""

    site: str
    space: str
    capacity: int | None
    model: str
    exam_factor: float
    weeks_used: int
    decay: float
    hours: list[HourView]


def exam_days(ctx: Context) -> frozenset[date]:
    """Every date inside an exam period of the settings."""
    days = set()
    for period in ctx.settings.exam_periods:
        day = period.start
        while day <= period.end:
            days.add(day)
            day += timedelta(days=1)
    return frozenset(days)


def router(ctx: Context) -> APIRouter:
    """Analytics routes."""
    api = APIRouter(tags=["analytics"])
    analytics = Analytics(ctx.store, ctx.settings.zone, exam_days(ctx))

    @api.get("/api/v1/occupancy", response_model=list[SpaceNow], summary="Campus occupancy now, per space",
             **allow(ctx, *ANALYTICS_ROLES, responses=BAD_TIME))
    async def occupancy_now(at: datetime | None = None) -> list[dict]:
        return await run_in_threadpool(analytics.now, query_time(at, "at") or datetime.now(UTC))

    @api.get("/api/v1/spaces/{site}/{space}/occupancy", response_model=HistoryView,
             summary="A space's occupancy per hour or day (peak, mean) with people-counter readings",
             **allow(ctx, *ANALYTICS_ROLES, responses=NOT_FOUND))
    async def occupancy_history(site: SitePath, space: SpacePath, start: datetime | None = None,
                                end: datetime | None = None, bucket: Bucket = "hour") -> HistoryView:
        start_at, end_at = query_range(start, end, datetime.now(UTC), timedelta(days=7), bucket)
        history = await run_in_threadpool(analytics.history, site, space, start_at, end_at, bucket)
        buckets = [BucketView(start=s.start, end=s.end, peak=s.peak, mean=round(s.mean, 3),
                              people_count_max=r[0] if r else None,
                              people_count_mean=round(r[1], 3) if r else None)
                   for s, r in zip(history.spans, history.readings, strict=True)]
        return HistoryView(site=site, space=space, capacity=history.space.capacity if history.space else None,
                           bucket=bucket, timezone=ctx.settings.timezone, buckets=buckets)

    @api.get("/api/v1/spaces/{site}/{space}/utilisation", response_model=UtilisationView,
             summary="Open hours nearly empty vs. over 90 % full (default: the last 28 days)",
             **allow(ctx, *ANALYTICS_ROLES, responses=NOT_FOUND))
    async def space_utilisation(site: SitePath, space: SpacePath, start: datetime | None = None,
                                end: datetime | None = None) -> UtilisationView:
        start_at, end_at = query_range(start, end, datetime.now(UTC), timedelta(days=28), "hour")
        u = await run_in_threadpool(analytics.utilisation, site, space, start_at, end_at)
        return UtilisationView(site=site, space=space, start=start_at, end=end_at, capacity=u.capacity,
                               open_hours=u.open_hours, nearly_empty_hours=u.nearly_empty_hours,
                               over_90_hours=u.over_90_hours, nearly_empty_share=u.nearly_empty_share,
                               over_90_share=u.over_90_share, mean_utilisation=u.mean_utilisation,
                               peak_utilisation=u.peak_utilisation)

    @api.get("/api/v1/spaces/{site}/{space}/forecast", response_model=ForecastView,
             summary="Expected peak occupancy per hour for the next 7 days (see docs/central.md for the model)",
             **allow(ctx, *ANALYTICS_ROLES, responses=NOT_FOUND))
    async def space_forecast(site: SitePath, space: SpacePath, origin: datetime | None = None,
                             weeks: Annotated[int, Query(ge=1, le=12)] = 8) -> ForecastView:
        made, config = await run_in_threadpool(analytics.forecast, site, space,
                                               query_time(origin, "origin") or datetime.now(UTC),
                                               weeks)
        return ForecastView(site=site, space=space, capacity=config.capacity if config else None,
                            model="hour-of-week profile, recency-weighted, exam profile/factor, capped at capacity",
                            exam_factor=made.exam_factor, weeks_used=made.weeks_used, decay=made.parameters.decay,
                            hours=[HourView(start=h.start, expected=h.expected, high=h.high, exam=h.exam)
                                   for h in made.hours])

    return api
