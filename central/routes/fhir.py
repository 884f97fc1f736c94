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
SPEC = "https://hl7.org/fhir/R4/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _resource(kind: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """The part of a FHIR R4 resource's JSON this endpoint fills; the full definition is HL7's (linked)."""
    return {"type": "object", "description": f"A FHIR R4 {kind} (the elements this endpoint fills).",
            "externalDocs": {"url": f"{SPEC}{kind.lower()}.html"},
            "properties": {"resourceType": {"type": "string", "enum": [kind]}, **properties},
            "required": ["resourceType", *required]}


_CODING = {"type": "object", "properties": {"system": {"type": "string"}, "code": {"type": "string"},
                                            "display": {"type": "string"}}}
_CONCEPT = {"type": "object", "properties": {"coding": {"type": "array", "items": _CODING},
                                             "text": {"type": "string"}}}
_QUANTITY = {"type": "object", "properties": {"value": {"type": "number"}, "unit": {"type": "string"},
                                              "system": {"type": "string"}, "code": {"type": "string"}}}
# The schemas of what the FHIR routes answer, added to the document's components by ``central.api``.
FHIR_SCHEMAS: dict[str, dict[str, Any]] = {
    "FhirObservation": _resource("Observation", {
        "id": {"type": "string"}, "status": {"type": "string", "enum": ["final"]},
        "meta": {"type": "object", "properties": {"profile": {"type": "array", "items": {"type": "string"}}}},
        "identifier": {"type": "array", "items": {"type": "object"}},
        "category": {"type": "array", "items": _CONCEPT}, "code": _CONCEPT,
        "subject": {"type": "object", "description": "the student, by card identifier"},
        "effectiveDateTime": {"type": "string", "format": "date-time"},
        "valueQuantity": _QUANTITY, "valueInteger": {"type": "integer"},
        "component": {"type": "array", "items": {"type": "object", "properties": {
            "code": _CONCEPT, "valueQuantity": _QUANTITY}}},
        "device": {"type": "object", "properties": {"display": {"type": "string"}}}},
        ["id", "status", "code", "subject", "effectiveDateTime"]),
    "FhirBundle": _resource("Bundle", {
        "type": {"type": "string", "enum": ["searchset"]}, "timestamp": {"type": "string", "format": "date-time"},
        "total": {"type": "integer", "minimum": 0},
        "link": {"type": "array", "items": {"type": "object", "properties": {
            "relation": {"type": "string", "enum": ["self", "next"]}, "url": {"type": "string"}}}},
        "entry": {"type": "array", "items": {"type": "object", "properties": {
            "fullUrl": {"type": "string"}, "resource": _ref("FhirObservation"),
            "search": {"type": "object", "properties": {"mode": {"type": "string"}}}}}}},
        ["type", "total", "entry"]),
    "FhirCapabilityStatement": _resource("CapabilityStatement", {
        "status": {"type": "string"}, "date": {"type": "string", "format": "date-time"},
        "kind": {"type": "string"}, "fhirVersion": {"type": "string", "enum": ["4.0.1"]},
        "format": {"type": "array", "items": {"type": "string"}},
        "software": {"type": "object"}, "implementation": {"type": "object"},
        "rest": {"type": "array", "items": {"type": "object"}}},
        ["status", "kind", "fhirVersion", "format"]),
    "FhirOperationOutcome": _resource("OperationOutcome", {
        "issue": {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {
            "severity": {"type": "string"}, "code": {"type": "string"}, "diagnostics": {"type": "string"}}}}},
        ["issue"]),
}


class FhirResponse(JSONResponse):
    """JSON served as ``application/fhir+json`` (so the document names that media type alone)."""

    media_type = FHIR_JSON


def fhir_responses(schema: str) -> dict[int | str, dict[str, Any]]:
    """The documented answers of a FHIR route whose 200 body is ``schema``; errors are OperationOutcomes."""
    outcome = {FHIR_JSON: {"schema": _ref("FhirOperationOutcome")}}
    return {200: {"description": f"a {schema.removeprefix('Fhir')}", "content": {FHIR_JSON: {"schema": _ref(schema)}}},
            401: {"description": "missing or invalid bearer token", "content": outcome},
            403: {"description": "the token's role may not read health data", "content": outcome},
            404: {"description": "no such resource", "content": outcome},
            422: {"description": "invalid search parameters", "content": outcome}}


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
             response_class=FhirResponse,
             **allow(ctx, *HEALTH_DATA_ROLES, responses=fhir_responses("FhirCapabilityStatement")))
    def metadata(request: Request) -> JSONResponse:
        return JSONResponse(capability_statement(base(request), onestop.__version__, datetime.now(UTC)),
                            media_type=FHIR_JSON)

    @api.get(f"{FHIR_BASE}/Observation", tags=["health", "fhir"],
             summary="FHIR R4 searchset Bundle of a subject's Observations: vital signs and questionnaire "
                     "scores (audited)",
             response_class=FhirResponse, **allow(ctx, *HEALTH_DATA_ROLES, responses=fhir_responses("FhirBundle")))
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
             response_class=FhirResponse,
             **allow(ctx, *HEALTH_DATA_ROLES, responses=fhir_responses("FhirObservation")))
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
