"""Health data: screenings, questionnaire results, FHIR export; and the audit log of reading them.

Only ``clinic`` and ``counselling`` may read health data (CONTRACT.md), and each only its part
(``central.health_parts``): the clinic reads vital signs (``/screenings``), counselling questionnaires
(``/questionnaires``). Every read writes the audit log *before* the data leaves: one row per subject
returned (or one row when nothing matched), so "who read card X's records, and when?" has an answer even
for list reads. ``admin`` reads the log.
"""


from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from central.audit import AuditEntry
from central.health_parts import holds_part
from central.routes.common import Context, allow, caller
from central.store import StoredEvent
from central.timerange import BAD_TIME, query_time
from onestop.ids import CARD_PATTERN, SITE_PATTERN
from onestop.roles import Role

CardQuery = Annotated[str | None, Query(pattern=CARD_PATTERN, description="the student's card (personal data)")]
SiteQuery = Annotated[str | None, Query(pattern=SITE_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=1000)]

PHQ9_BANDS = ((4, "minimal"), (9, "mild"), (14, "moderate"), (19, "moderately severe"), (27, "severe"))
GAD7_BANDS = ((4, "minimal"), (9, "mild"), (14, "moderate"), (21, "severe"))


class MeasurementView(BaseModel):
    code: str
    value: float
    unit: str
    device_model: str | None = None


class ScreeningView(BaseModel):
    """One health-station session's measurements: who, where (site, station) and when (absolute, UTC)."""

    event_id: str
    site: str
    device: str
    space: str | None = Field(None, description="the station's space as its gateway last reported it")
    at: datetime
    subject: str
    session: str
    complete: bool
    measurements: list[MeasurementView]


class QuestionnaireView(BaseModel):
    """One completed questionnaire with its score band (CLINICAL.md)."""

    event_id: str
    site: str
    device: str
    at: datetime
    subject: str
    session: str
    instrument: str
    answers: list[int]
    score: int
    band: str
    same_day_follow_up: bool


class AuditView(BaseModel):
    """One read of health data."""

    id: int
    at: datetime
    principal: str
    role: str
    method: str
    route: str
    subject_ref: str | None
    params: dict[str, Any]
    results: int
    person_sub: str | None = None
    person_name: str | None = None
    person_email: str | None = None


def band(instrument: str, score: int) -> str:
    """The severity band of a questionnaire score."""
    for upper, name in PHQ9_BANDS if instrument == "PHQ-9" else GAD7_BANDS:
        if score <= upper:
            return name
    return "severe"


def audited(ctx: Context, request: Request, route: str, params: dict[str, Any], subjects: list[str | None],
            counts: dict[str | None, int]) -> None:
    """Write the audit rows of one read, before its data leaves: one per subject (pseudonymised)."""
    who = caller(request)
    visible = {k: v for k, v in params.items() if k != "subject" and v is not None}
    for subject in subjects or [params.get("subject")]:
        ctx.store.audit.record(AuditEntry(who.name, who.role.value, request.method, route,
                                          ctx.pseudonyms.maybe(subject), visible, counts.get(subject, 0),
                                          who.person))


def router(ctx: Context) -> APIRouter:
    """Health-data routes and the audit log."""
    api = APIRouter()
    store = ctx.store

    def read_screenings(request: Request, route: str, subject: str | None, site: str | None,
                        since: datetime | None, until: datetime | None, limit: int) -> list[StoredEvent]:
        role = caller(request).role
        start, end = query_time(since, "since"), query_time(until, "until")
        found: list[StoredEvent] = []
        offset, size = 0, max(limit, 200)
        while len(found) < limit:  # sessions without the caller's part are skipped, yet ``limit`` still holds
            page = store.screenings(subject, site, start, end, size, offset)
            found += [e for e in page if holds_part(e.data, role)][:limit - len(found)]
            if len(page) < size:
                break
            offset += size
        counts: dict[str | None, int] = {}
        for event in found:
            counts[event.subject] = counts.get(event.subject, 0) + 1
        audited(ctx, request, route, {"subject": subject, "site": site, "since": since and since.isoformat(),
                                 "until": until and until.isoformat(), "limit": limit}, sorted(counts), counts)
        return found

    @api.get("/api/v1/screenings", tags=["health"], response_model=list[ScreeningView],
             summary="Screening measurements (vital signs), newest first: who, which station, when (audited)",
             **allow(ctx, Role.CLINIC, responses=BAD_TIME))
    async def screenings(request: Request, subject: CardQuery = None, site: SiteQuery = None,
                         since: datetime | None = None, until: datetime | None = None, limit: Limit = 100) -> list:
        found = await run_in_threadpool(read_screenings, request, "/api/v1/screenings", subject, site, since,
                                        until, limit)
        spaces = {d["device"]: d["space"] for d in await run_in_threadpool(store.fleet.list)}
        return [ScreeningView(event_id=e.id, site=e.site, device=e.device, space=spaces.get(e.device), at=e.at,
                              subject=e.subject or "",
                              session=e.data["session"], complete=e.data["complete"],
                              measurements=e.data.get("measurements", [])) for e in found]

    @api.get("/api/v1/questionnaires", tags=["health"], response_model=list[QuestionnaireView],
             summary="PHQ-9 / GAD-7 results with bands, newest first (audited)",
             **allow(ctx, Role.COUNSELLING, responses=BAD_TIME))
    async def questionnaires(request: Request, subject: CardQuery = None, site: SiteQuery = None,
                             since: datetime | None = None, until: datetime | None = None,
                             limit: Limit = 100) -> list:
        found = await run_in_threadpool(read_screenings, request, "/api/v1/questionnaires", subject, site, since,
                                        until, limit)
        return [QuestionnaireView(event_id=e.id, site=e.site, device=e.device, at=e.at, subject=e.subject or "",
                                  session=e.data["session"], instrument=q["instrument"], answers=q["answers"],
                                  score=q["score"], band=band(q["instrument"], q["score"]),
                                  same_day_follow_up=q["instrument"] == "PHQ-9" and q["answers"][8] > 0)
                for e in found for q in e.data.get("questionnaires", [])]

    @api.get("/api/v1/audit", tags=["health"], response_model=list[AuditView],
             summary="The audit log of health-data reads, newest first", **allow(ctx, Role.ADMIN, responses=BAD_TIME))
    def audit(principal: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]+$")] = None,
              subject: CardQuery = None, since: datetime | None = None, limit: Limit = 200) -> list[dict]:
        refs = None if subject is None else ctx.pseudonyms.all_of(subject)
        return store.audit.list(principal, refs, query_time(since, "since"), limit)

    return api
