"""Bookings over HTTP: the booking system imports a space's bookings; staff list their occurrences.

``POST /api/v1/sites/{site}/spaces/{space}/bookings`` takes ``text/calendar`` (RFC 5545) or ``application/json``
(a list of ``BookingIn``) and answers what it did (``central.bookings_store``). Importing is for ``admin`` and
``facilities`` (a token issued to the booking system, named so in the audit trail): bookings decide who holds a
seat, not who may enter (the directory does that, admin only). ``GET`` on the same path lists occurrences in
``[start, end)`` (RFC 3339; at most 93 days) with the holder as a keyed pseudonym, for ``staff``, ``facilities``
and ``admin``. Both are audited: who imported how many, who listed which space.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, TypeAdapter, ValidationError

from central.audit import AuditEntry
from central.bookings import MAX_BODY_BYTES, BookingIn, parse_ical, parse_json
from central.bookings_store import Bookings
from central.errors import NotFoundError, RequestError
from central.routes.common import ANALYTICS_ROLES, Context, allow, caller
from central.timerange import BAD_TIME, TimeRangeError, query_range
from onestop.ids import SITE_PATTERN, SLUG_PATTERN
from onestop.roles import Role

MAX_SPAN = timedelta(days=93)
ROUTE = "/api/v1/sites/{site}/spaces/{space}/bookings"
SitePath = Annotated[str, Path(pattern=SITE_PATTERN, description="site id")]
SpacePath = Annotated[str, Path(pattern=SLUG_PATTERN, description="space id, as in the site's configuration")]
_ITEMS = TypeAdapter(list[BookingIn])


class UnsupportedMediaError(RequestError):
    """A body that is neither iCalendar nor JSON (415)."""

    status = 415


class Refused(BaseModel):
    """An event not imported, and why."""

    uid: str | None
    reason: str


class Outdated(BaseModel):
    """An event ignored because central holds a version at least as new."""

    uid: str
    sequence: int
    stored_sequence: int


class UnknownHolder(BaseModel):
    """A booking stored without a holder: its attendee's e-mail is not in the card directory (or it has none)."""

    uid: str
    email: str | None


class ImportAnswer(BaseModel):
    """What an import did: bookings added, replaced (newer SEQUENCE), unchanged; what it ignored or refused."""

    events: int
    added: int
    replaced: int
    unchanged: int
    occurrences: int
    stale: list[Outdated]
    conflicts: list[Outdated]
    rejected: list[Refused]
    unknown_holders: list[UnknownHolder]


class OccurrenceOut(BaseModel):
    """One occurrence: when (UTC), its status, the booking's UID, the holder's pseudonym (null when unknown)."""

    start: datetime
    end: datetime
    status: str
    uid: str
    holder: str | None


_BODY = {"requestBody": {"required": True, "content": {
    "text/calendar": {"schema": {"type": "string", "description": "an RFC 5545 VCALENDAR"}},
    "application/json": {"schema": {"type": "array", "maxItems": 2000,
                                    "items": {"$ref": "#/components/schemas/BookingIn"}}}}}}


def _guarded(ctx: Context, *roles: Role, responses: dict[int | str, dict[str, Any]]) -> dict[str, Any]:
    kwargs = allow(ctx, *roles, responses=responses)
    kwargs["openapi_extra"] = {**kwargs["openapi_extra"], **_BODY}
    return kwargs


def router(ctx: Context) -> APIRouter:
    """``/api/v1/sites/{site}/spaces/{space}/bookings``."""
    api = APIRouter(tags=["bookings"])
    store = Bookings(ctx.store.db, ctx.pseudonyms)

    def check_space(site: str, space: str) -> None:
        if space not in ctx.store.configs.spaces(site):
            raise NotFoundError(f"site {site!r} has no space {space!r} in its configuration")

    @api.post(ROUTE, summary="Import a space's bookings (iCalendar or JSON; UID + SEQUENCE, idempotent)",
              max_body_size=MAX_BODY_BYTES,
              **_guarded(ctx, Role.ADMIN, Role.FACILITIES, responses={
                  400: {"description": "the body is not an iCalendar document (or not the JSON form)"},
                  404: {"description": "the site has no such space"},
                  413: {"description": "body larger than 2 MiB"},
                  415: {"description": "Content-Type is neither text/calendar nor application/json"},
                  422: {"description": "the JSON form is invalid: nothing stored"}}))
    async def import_bookings(request: Request, site: SitePath, space: SpacePath) -> ImportAnswer:
        check_space(site, space)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in ("text/calendar", "application/json"):
            raise UnsupportedMediaError("send text/calendar (RFC 5545) or application/json")
        data = await request.body()
        now = datetime.now(UTC)
        zone = ctx.settings.zone
        if kind == "text/calendar":
            items, rejected = await run_in_threadpool(parse_ical, data, now, zone)
        else:
            try:
                parsed = _ITEMS.validate_json(data)
            except ValidationError as exc:
                raise _JsonFormError(exc) from None
            items, rejected = await run_in_threadpool(parse_json, parsed, now, zone)
        who = caller(request)
        result = await run_in_threadpool(store.import_, site, space, items, who.name, now)
        events = len(items) + len(rejected)
        ctx.store.audit.record(AuditEntry(
            who.name, who.role.value, "POST", ROUTE, None,
            {"site": site, "space": space, "events": events, "added": result.added, "replaced": result.replaced,
             "unchanged": result.unchanged, "rejected": len(rejected)}, events, who.person))
        return ImportAnswer(events=events, added=result.added, replaced=result.replaced, unchanged=result.unchanged,
                            occurrences=result.occurrences,
                            stale=[Outdated.model_validate(s) for s in result.stale],
                            conflicts=[Outdated.model_validate(c) for c in result.conflicts],
                            rejected=[Refused(uid=r.uid, reason=r.reason) for r in rejected],
                            unknown_holders=[UnknownHolder.model_validate(u) for u in result.unknown_holders])

    @api.get(ROUTE, summary="A space's booked occurrences in a time range (UTC; holders as pseudonyms; audited)",
             **allow(ctx, *ANALYTICS_ROLES, responses={**BAD_TIME, 404: {"description": "the site has no such space"}}))
    def list_bookings(request: Request, site: SitePath, space: SpacePath,
                      start: Annotated[datetime | None, Query(description="RFC 3339; default: now")] = None,
                      end: Annotated[datetime | None, Query(description="RFC 3339; default: 7 days after start")]
                      = None) -> list[OccurrenceOut]:
        check_space(site, space)
        now = datetime.now(UTC)
        begin, finish = query_range(start or now, end, (start or now) + timedelta(days=7), timedelta(days=7))
        if finish - begin > MAX_SPAN:
            raise TimeRangeError(f"at most {MAX_SPAN.days} days per request; narrow the range")
        found = store.occurrences(site, space, begin, finish)
        who = caller(request)
        ctx.store.audit.record(AuditEntry(who.name, who.role.value, "GET", ROUTE, None,
                                          {"site": site, "space": space, "start": begin.isoformat(),
                                           "end": finish.isoformat()}, len(found), who.person))
        return [OccurrenceOut(start=o.start, end=o.end, status=o.status.lower(), uid=o.uid, holder=o.holder)
                for o in found]

    return api


class _JsonFormError(RequestError):
    """The JSON form does not validate (422); the message lists where."""

    status = 422

    def __init__(self, exc: ValidationError) -> None:
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10])
        super().__init__(f"not the bookings JSON form: {where}"[:2000])

