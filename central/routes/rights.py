"""A student's rights: a copy of what central holds about them (JSON, with the FHIR Bundle of their
Observations), and erasure. Both are for ``clinic`` and ``counselling`` — the people who receive such
requests — and both are audited with who did it (the subject pseudonymised). An export holds the asking
role's part only (``central.rights``); erasure removes everything and leaves a tombstone.
"""


from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool

from central.fhir import searchset
from central.routes.common import HEALTH_DATA_ROLES, Context, allow, caller
from central.routes.fhir import FHIR_BASE, MAX_SCREENINGS, resources
from central.routes.health import audited
from onestop.ids import CARD_PATTERN
from onestop.roles import alert_teams

Card = Annotated[str, Path(pattern=CARD_PATTERN, description="the student's card (personal data)")]


def router(ctx: Context) -> APIRouter:
    """Export and erasure routes."""
    api = APIRouter()
    store = ctx.store

    @api.get("/api/v1/students/{card}/export", tags=["health", "rights"],
             summary="What central holds about one student that the caller's role may read: events, alerts, a FHIR "
                     "Bundle, and counts of what only the other health role may read (audited)",
             **allow(ctx, *HEALTH_DATA_ROLES))
    async def export(request: Request, card: Card) -> dict[str, Any]:
        role = caller(request).role

        def build() -> dict[str, Any]:
            held = store.rights.export(card, role, alert_teams(role))
            found = [r for e in store.screenings(card, limit=MAX_SCREENINGS) for r in resources(e, card, None, role)]
            base = str(request.base_url).rstrip("/") + FHIR_BASE
            held["fhir"] = searchset(found, len(found), base, str(request.url), None, datetime.now(UTC))
            audited(ctx, request, "/api/v1/students/{card}/export", {"subject": card}, [card],
                    {card: len(held["events"]) + len(held["alerts"])})
            return held

        return await run_in_threadpool(build)

    @api.delete("/api/v1/students/{card}", tags=["health", "rights"],
                summary="Erase every record of one student central holds, and refuse them at ingest from now on "
                     "(audited with who erased)",
                **allow(ctx, *HEALTH_DATA_ROLES))
    async def erase(request: Request, card: Card) -> dict[str, int]:
        def run() -> dict[str, int]:
            gone = store.rights.erase(card, ctx.pseudonyms.of(card))
            counts = {"events": gone.events, "alerts": gone.alerts, "conflicts": gone.conflicts}
            audited(ctx, request, "/api/v1/students/{card}", {"subject": card, **counts}, [card],
                    {card: sum(counts.values())})
            return counts

        return await run_in_threadpool(run)

    return api
