"""The FHIR R4 endpoint (base ``/api/v1/fhir``): Observation search and read, and the CapabilityStatement.

Only ``clinic`` and ``counselling`` read it, each only its part (``central.health_parts``): the clinic
vital-sign Observations, counselling the questionnaire-score ones; the other part's resources are not
found, as if absent. Every search and read is audited like the other health reads
(``central.routes.health.audited``). A search pages with ``_count`` and ``_offset``: ``total`` counts every
match and a ``next`` link names the following page. Errors under this base are OperationOutcomes
(``central.api``).
"""


from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

import onestop
from central.errors import NotFoundError
from central.fhir import capability_statement, observations, scores, searchset, split_id
from central.health_parts import visible_part
from central.routes.common import HEALTH_DATA_ROLES, Context, allow, caller
from central.routes.health import audited
from central.store import StoredEvent
from onestop.roles import Role

FHIR_BASE = "/api/v1/fhir"
FHIR_JSON = "application/fhir+json"
MAX_SCREENINGS = 10_000  # one student's screenings searched at most; far beyond any real count
FHIR_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {FHIR_JSON: {"schema": {"type": "object"}}}},
    404: {"description": "no such resource (an OperationOutcome)"},
}


def resources(event: StoredEvent, card: str, codes: frozenset[str] | None, role: Role) -> list[dict[str, Any]]:
    """The Observations of one screening event that ``role`` may read: vital signs, then questionnaire scores."""
    data = visible_part(event.data, role)
    return (observations(event.id, card, event.at, data.get("measurements", []), codes)
            + scores(event.id, card, event.at, data.get("questionnaires", []), codes))


def router(ctx: Context) -> APIRouter:
    """The FHIR routes."""
    api = APIRouter()
    store = ctx.store

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/") + FHIR_BASE

    @api.get(f"{FHIR_BASE}/metadata", tags=["fhir"], summary="The FHIR CapabilityStatement of this endpoint",
             response_class=JSONResponse, **allow(ctx, *HEALTH_DATA_ROLES, responses=FHIR_RESPONSES))
    def metadata(request: Request) -> JSONResponse:
        return JSONResponse(capability_statement(base(request), onestop.__version__, datetime.now(UTC)),
                            media_type=FHIR_JSON)

    @api.get(f"{FHIR_BASE}/Observation", tags=["health", "fhir"],
             summary="FHIR R4 searchset Bundle of a subject's Observations: vital signs and questionnaire "
                     "scores (audited)",
             response_class=JSONResponse, **allow(ctx, *HEALTH_DATA_ROLES, responses=FHIR_RESPONSES))
    async def search(
            request: Request,
            subject: Annotated[str, Query(pattern=r"^(Patient/)?[0-9A-F]{4,32}$",
                                          description="the card, optionally as Patient/<card>")],
            code: Annotated[str | None, Query(pattern=r"^[0-9]{1,7}-[0-9](,[0-9]{1,7}-[0-9])*$",
                                              description="LOINC codes, comma-separated")] = None,
            count: Annotated[int, Query(alias="_count", ge=1, le=1000)] = 100,
            offset: Annotated[int, Query(alias="_offset", ge=0, le=10_000_000)] = 0) -> JSONResponse:
        card = subject.removeprefix("Patient/")
        codes = frozenset(code.split(",")) if code else None
        role = caller(request).role

        def build() -> dict[str, Any]:
            matches = [r for e in store.screenings(card, limit=MAX_SCREENINGS)
                       for r in resources(e, card, codes, role)]
            page = matches[offset:offset + count]
            audited(ctx, request, f"{FHIR_BASE}/Observation",
                    {"subject": card, "code": code, "_count": count, "_offset": offset}, [card], {card: len(page)})
            following = None
            if offset + count < len(matches):
                following = str(request.url.include_query_params(_offset=offset + count))
            return searchset(page, len(matches), base(request), str(request.url), following, datetime.now(UTC))

        return JSONResponse(await run_in_threadpool(build), media_type=FHIR_JSON)

    @api.get(f"{FHIR_BASE}/Observation/{{resource_id}}", tags=["health", "fhir"],
             summary="One FHIR Observation, as a search Bundle's fullUrl names it (audited)",
             response_class=JSONResponse, **allow(ctx, *HEALTH_DATA_ROLES, responses=FHIR_RESPONSES))
    async def read(request: Request,
                   resource_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9\-.]{1,64}$")]) -> JSONResponse:
        role = caller(request).role

        def build() -> dict[str, Any]:
            parts = split_id(resource_id)
            event = store.screening(parts[0]) if parts else None
            card = event.subject if event else None
            found = [r for r in resources(event, card, None, role) if r["id"] == resource_id] if event and card else []
            audited(ctx, request, f"{FHIR_BASE}/Observation/{{id}}", {"subject": card, "id": resource_id},
                    [card], {card: len(found)})
            if not found:
                raise NotFoundError(f"no Observation {resource_id}")
            return found[0]

        return JSONResponse(await run_in_threadpool(build), media_type=FHIR_JSON)

    return api
