"""A student's rights: a copy of everything central holds about them (JSON, with the FHIR Bundle of their
Observations), and erasure. Both are for ``clinic`` and ``counselling`` — the people who receive such
requests and may see what they return — and both are audited with who did it (the subject pseudonymised).
"""


from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool

from central.fhir import searchset
from central.routes.common import HEALTH_DATA_ROLES, Context, allow
from central.routes.fhir import FHIR_BASE, MAX_SCREENINGS, resources
from central.routes.health import audited
from onestop.ids import CARD_PATTERN

Card = Annotated[str, Path(pattern=CARD_PATTERN, description="the student's card (personal data)")]


def router(ctx: Context) -> APIRouter:
    """Export and erasure routes."""
    api = APIRouter()
    store = ctx.store

    @api.get("/api/v1/students/{card}/export", tags=["health", "rights"],
             summary="Everything central holds about one student: events, alerts, and a FHIR Bundle (audited)",
             **allow(ctx, *HEALTH_DATA_ROLES))
    async def export(request: Request, card: Card) -> dict[str, Any]:
        def build() -> dict[str, Any]:
            held = store.rights.export(card)
            found = [r for e in store.screenings(card, limit=MAX_SCREENINGS) for r in resources(e, card, None)]
            base = str(request.base_url).rstrip("/") + FHIR_BASE
            held["fhir"] = searchset(found, len(found), base, str(request.url), None, datetime.now(UTC))
            audited(ctx, request, "/api/v1/students/{card}/export", {"subject": card}, [card],
                    {card: len(held["events"]) + len(held["alerts"])})
            return held

        return await run_in_threadpool(build)

    @api.delete("/api/v1/students/{card}", tags=["health", "rights"],
                summary="Erase every record of one student central holds (audited with who erased)",
                **allow(ctx, *HEALTH_DATA_ROLES))
    async def erase(request: Request, card: Card) -> dict[str, int]:
        def run() -> dict[str, int]:
            gone = store.rights.erase(card)
            counts = {"events": gone.events, "alerts": gone.alerts, "conflicts": gone.conflicts}
            audited(ctx, request, "/api/v1/students/{card}", {"subject": card, **counts}, [card],
                    {card: sum(counts.values())})
            return counts

        return await run_in_threadpool(run)

    return api
