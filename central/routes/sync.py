"""Routes the gateways call: event ingest, alert and fleet sync, the configuration downlink.

Bodies of the three POST routes are JSON, optionally gzip-compressed (``Content-Encoding: gzip``); they are
read raw so compressed bodies work, and documented in OpenAPI by their models. They are read chunk by chunk
through ``central.bodies.BodyDecoder`` (the ``Bounded`` dependency, after the caller is authenticated), so a
body over ``max_batch_bytes`` (received or decompressed) is refused while it arrives, never buffered whole
first. The routes themselves are plain functions, which FastAPI runs in its thread pool: decoding, validating
and storing a batch never hold up the event loop.
"""


import functools
import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Request, Response
from pydantic import BaseModel

from central.bodies import BodyDecoder
from central.errors import NotFoundError, RequestError
from central.ingest import (
    AlertSyncIn,
    FleetSyncIn,
    IngestAnswer,
    IngestBatch,
    InvalidBatchError,
    drop_erased,
    validate_model,
)
from central.routes.common import Context, allow, bound_site, caller, check_site
from central.siteconfigs import etag_matches
from onestop.ids import SITE_PATTERN, SITE_RE
from onestop.roles import Role
from onestop.site import SiteConfig
from web.auth import Principal

SitePath = Annotated[str, Path(pattern=SITE_PATTERN, description="site id")]
# A site's configuration is a few kilobytes; its route needs no more than this (the app-wide bound is larger).
MAX_CONFIG_BYTES = 1024 * 1024


class SyncAnswer(BaseModel):
    """How many records were applied (new, or newer than central's copy) and how many were stale."""

    applied: int
    stale: int


class BoundedBody:
    """A dependency: the request body read as it arrives, ``BodyError`` (413/415) as soon as it breaks
    ``limit``; the route decodes it (``finish``) in the thread pool."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    async def __call__(self, request: Request) -> BodyDecoder:
        declared = request.headers.get("content-length")
        decoder = BodyDecoder(request.headers.get("content-encoding"), self.limit,
                              int(declared) if declared and declared.isdigit() else None)
        async for chunk in request.stream():
            decoder.feed(chunk)
        return decoder


def _claimed_site(body: bytes | bytearray) -> str | None:
    try:
        site = json.loads(body).get("site")
    except (ValueError, AttributeError):
        return None
    return site if isinstance(site, str) and SITE_RE.match(site) else None


def router(ctx: Context) -> APIRouter:
    """The gateway-facing routes."""
    api = APIRouter(tags=["gateways"])
    store, settings = ctx.store, ctx.settings

    # A card's pseudonyms, to match erasure tombstones at ingest. Cached: the same students tap every day,
    # and an HMAC per key per event would add about a fifth to ingest once a first student is erased.
    @functools.lru_cache(maxsize=65_536)
    def pseudonyms_of(card: str) -> tuple[str, ...]:
        return tuple(ctx.pseudonyms.all_of(card))
    bad_body = {400: {"description": "not valid gzip"}, 413: {"description": "body too large"},
                415: {"description": "unsupported Content-Encoding"},
                422: {"description": "invalid; `detail` lists locations and error types only (no values)"}}

    # Route dependencies (``allow``'s guard) are solved before parameters: the caller is known before the body is read.
    Bounded = Annotated[BodyDecoder, Depends(BoundedBody(settings.max_batch_bytes))]  # a type alias

    @api.post("/api/v1/ingest", response_model=IngestAnswer, tags=["ingest"],
              summary="A batch of events from a gateway (idempotent on event id; all or nothing)",
              **allow(ctx, Role.GATEWAY, responses=bad_body, body=IngestBatch))
    def ingest(request: Request, body: Bounded) -> IngestAnswer:
        raw, principal = body.finish(), caller(request)
        try:
            batch = validate_model(IngestBatch, raw)
        except InvalidBatchError:
            store.count_quarantined(bound_site(principal) or _claimed_site(raw))
            raise
        check_site(principal, batch.site)
        result = store.ingest(batch.site, batch.events, pseudonyms=pseudonyms_of)
        return IngestAnswer(new=result.new, duplicates=result.duplicates, conflicts=result.conflicts,
                            erased=result.erased)

    def records_body(model: type[BaseModel], body: BodyDecoder, principal: Principal) -> Any:
        parsed = validate_model(model, body.finish())
        check_site(principal, parsed.site)
        return parsed

    @api.post("/api/v1/alerts/sync", response_model=SyncAnswer, tags=["alerts"],
              summary="Upsert a gateway's alerts (newer updated_at wins)",
              **allow(ctx, Role.GATEWAY, responses=bad_body, body=AlertSyncIn))
    def alerts_sync(request: Request, body: Bounded) -> SyncAnswer:
        sync = records_body(AlertSyncIn, body, caller(request))
        if any(alert.site != sync.site for alert in sync.alerts):
            raise RequestError("every alert's site must be the batch's site")
        # An erased student's alerts, sent again, must not come back.
        kept, dropped = drop_erased(sync.alerts, lambda alert: alert.subject, pseudonyms_of,
                                    store.rights.tombstones())
        store.rights.count_dropped(dropped)
        result = store.alerts.upsert(kept)
        return SyncAnswer(applied=result.applied, stale=result.stale)

    @api.post("/api/v1/fleet/sync", response_model=SyncAnswer, tags=["fleet"],
              summary="Upsert a gateway's device health (newer updated_at wins)",
              **allow(ctx, Role.GATEWAY, responses=bad_body, body=FleetSyncIn))
    def fleet_sync(request: Request, body: Bounded) -> SyncAnswer:
        sync = records_body(FleetSyncIn, body, caller(request))
        result = store.fleet.upsert(sync.site, sync.devices)
        return SyncAnswer(applied=result.applied, stale=result.stale)

    # The 200 body is the stored SiteConfig, exactly as the PUT body's schema describes it (the handlers answer
    # the stored JSON as it is, with its ETag, so no response model re-serialises it).
    config_body = {"description": "the site's configuration (a SiteConfig)",
                   "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SiteConfig"}}}}
    config_responses = {200: config_body, 304: {"description": "unchanged since the ETag given in If-None-Match"},
                        404: {"description": "no configuration stored for this site"}}

    @api.get("/api/v1/gateways/{site}/config", tags=["configuration"], response_model=None,
             summary="The site's configuration (ETag; 304 on If-None-Match)",
             **allow(ctx, Role.GATEWAY, Role.ADMIN, responses=config_responses))
    def get_config(request: Request, site: SitePath,
                   if_none_match: Annotated[str | None, Header()] = None) -> Response:
        check_site(caller(request), site)
        stored = store.configs.get(site)
        if stored is None:
            raise NotFoundError(f"no configuration stored for site {site!r}")
        headers = {"ETag": stored.etag, "Cache-Control": "no-cache"}
        if etag_matches(if_none_match, stored.etag):
            return Response(status_code=304, headers=headers)
        return Response(stored.json, media_type="application/json", headers=headers)

    @api.put("/api/v1/gateways/{site}/config", tags=["configuration"], response_model=None,
             max_body_size=MAX_CONFIG_BYTES,
             summary="Store the site's configuration (validated; If-Match for optimistic concurrency). A "
                     "gateway may store its own site's only while central has none (If-None-Match: *)",
             **allow(ctx, Role.GATEWAY, Role.ADMIN, responses={
                 200: config_body, 412: {"description": "If-Match does not match the stored ETag; or, for a "
                                                        "gateway, a configuration is stored already"},
                 428: {"description": "a gateway sent no If-None-Match: *"}}))
    def put_config(request: Request, site: SitePath, config: Annotated[SiteConfig, Body()],
                   if_match: Annotated[str | None, Header()] = None,
                   if_none_match: Annotated[str | None, Header()] = None) -> Response:
        principal = caller(request)
        if principal.role is Role.GATEWAY:
            # A gateway introduces its building to central once (names, capacities, hours); from then on the
            # configuration is managed here and flows down. So: its own site, and create-only.
            check_site(principal, site)
            if if_none_match is None or if_none_match.strip() != "*":
                return Response(status_code=428, content=b'{"detail":"a gateway must send If-None-Match: *"}',
                                media_type="application/json")
            if store.configs.get(site) is not None:
                return Response(status_code=412, media_type="application/json",
                                content=b'{"detail":"a configuration for this site is stored already"}')
        if if_match is not None:
            current = store.configs.get(site)
            if current is None or not etag_matches(if_match, current.etag):
                return Response(status_code=412, content=b'{"detail":"configuration changed meanwhile"}',
                                media_type="application/json")
        stored = store.configs.put(site, config, caller(request).name)
        return Response(stored.json, media_type="application/json", headers={"ETag": stored.etag})

    return api

