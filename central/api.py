"""The central service's HTTP API (FastAPI).

No `from __future__ import annotations` here: FastAPI must see real annotations to find dependencies
defined inside `create_app`.
"""


import zlib
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, Field, ValidationError

import onestop
from central.settings import CentralSettings
from central.store import CentralStore
from onestop.auth import Authenticator, Principal, Role
from onestop.events import Envelope
from onestop.ids import SITE_PATTERN


class IngestItem(BaseModel):
    """One event as the gateway received it."""

    received: datetime = Field(description="gateway receive time (RFC 3339 or Unix seconds)")
    envelope: Envelope


class IngestBatch(BaseModel):
    """A batch from one gateway; send it gzip-compressed with ``Content-Encoding: gzip``."""

    site: str = Field(pattern=SITE_PATTERN)
    events: list[IngestItem] = Field(max_length=50_000)


class IngestAnswer(BaseModel):
    """How many events of the batch were new and how many central already had."""

    new: int
    duplicates: int


class _Counters:
    def __init__(self) -> None:
        self.rejected_batches = 0


def _read_body(raw: bytes, encoding: str | None, limit: int) -> bytes:
    if encoding in (None, "", "identity"):
        if len(raw) > limit:
            raise HTTPException(413, "batch too large")
        return raw
    if encoding != "gzip":
        raise HTTPException(415, f"unsupported Content-Encoding {encoding!r}")
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = decompressor.decompress(raw, limit + 1)  # bounded: a zip bomb stops at the limit
    except zlib.error as exc:
        raise HTTPException(400, "body is not valid gzip") from exc
    if len(body) > limit or decompressor.unconsumed_tail:
        raise HTTPException(413, "batch too large once decompressed")
    return body


def create_app(settings: CentralSettings, store: CentralStore) -> FastAPI:
    """The FastAPI application of the central service."""
    app = FastAPI(title="onestop central", version=onestop.__version__,
                  description="Campus-wide service: ingest from building gateways, occupancy, analytics.")
    auth = Authenticator(settings.tokens)
    counters = _Counters()
    registry = CollectorRegistry()

    class StoreCollector(Collector):
        def collect(self) -> Iterator[CounterMetricFamily]:
            stats = store.stats()
            for name, help_text in (("events", "Events stored"), ("duplicates", "Duplicate events dropped")):
                family = CounterMetricFamily(f"onestop_central_{name}", help_text)
                family.add_metric([], stats[name])
                yield family
            rejected = CounterMetricFamily("onestop_central_rejected_batches", "Ingest batches rejected")
            rejected.add_metric([], counters.rejected_batches)
            yield rejected

    registry.register(StoreCollector())

    @app.get("/healthz", tags=["ops"], summary="Liveness")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/stats", tags=["ops"], summary="Event, duplicate and gateway counts")
    def stats() -> dict[str, int]:
        return {**store.stats(), "quarantined": counters.rejected_batches}

    @app.post("/api/v1/ingest", tags=["ingest"], response_model=IngestAnswer,
              summary="A batch of events from a gateway (idempotent on event id)",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": IngestBatch.model_json_schema(ref_template="#/components/schemas/{model}")}}}})
    async def ingest(request: Request,
                     principal: Annotated[Principal, Depends(auth.require(Role.GATEWAY))]) -> IngestAnswer:
        body = _read_body(await request.body(), request.headers.get("content-encoding"),
                          settings.max_batch_bytes)
        try:
            batch = IngestBatch.model_validate_json(body)
        except ValidationError as exc:
            counters.rejected_batches += 1
            # Locations only: values may be personal data.
            detail = [{"loc": err["loc"], "msg": err["msg"], "type": err["type"]} for err in exc.errors()[:20]]
            raise HTTPException(422, detail) from None
        result = await run_in_threadpool(store.ingest, batch.site,
                                         [(item.received, item.envelope) for item in batch.events])
        return IngestAnswer(new=result.new, duplicates=result.duplicates)

    return app
