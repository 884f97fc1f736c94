"""The card directory over HTTP: a campus-card system pushes changes; each gateway fetches its site's share.

Pushing is for role ``admin`` (a token issued to the campus-card system, named so in the audit trail: the
directory decides who may enter where, which only an administrator may otherwise change). Reading a
cardholder is audited like other reads of personal data. A gateway fetches ``/api/v1/gateways/{site}/cards``
(keyed hashes only, ``onestop.cards``) with ``If-None-Match``, like its configuration.
"""


from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from central.audit import AuditEntry
from central.directory import HOLDER_ID_PATTERN, CardholderOut, CardholderPush
from central.directory_store import Directory
from central.errors import NotFoundError
from central.routes.common import Context, allow, caller, check_site
from central.siteconfigs import etag_matches
from onestop.cards import SiteCards
from onestop.ids import SITE_PATTERN
from onestop.roles import Role

MAX_PUSH_BYTES = 1024 * 1024  # 1,000 cardholders of well under 1 KiB each
SitePath = Annotated[str, Path(pattern=SITE_PATTERN, description="site id")]


class PushAnswer(BaseModel):
    """What a push did: cardholders added, changed, unchanged; cards withdrawn (refused as lost) and moved."""

    added: int
    changed: int
    unchanged: int
    cards_withdrawn: int
    cards_moved: int


def router(ctx: Context) -> APIRouter:
    """``/api/v1/directory/...`` and ``/api/v1/gateways/{site}/cards``."""
    api = APIRouter(tags=["directory"])
    directory = Directory(ctx.store.db, ctx.pseudonyms)

    @api.post("/api/v1/directory/cardholders", summary="Add or change cardholders (upsert; idempotent)",
              max_body_size=MAX_PUSH_BYTES,
              **allow(ctx, Role.ADMIN, responses={413: {"description": "body larger than 1 MiB"},
                                                  422: {"description": "a cardholder is invalid: nothing stored"}}))
    async def push(request: Request, body: CardholderPush) -> PushAnswer:
        by = caller(request).name
        result = await run_in_threadpool(directory.upsert, body.cardholders, by)
        return PushAnswer(**vars(result))

    @api.get("/api/v1/directory/cardholders/{holder_id}", summary="One cardholder (no card numbers; audited)",
             **allow(ctx, Role.ADMIN, responses={404: {"description": "no such cardholder"}}))
    def holder(request: Request,
               holder_id: Annotated[str, Path(pattern=HOLDER_ID_PATTERN)]) -> CardholderOut:
        found = directory.holder(holder_id)
        who = caller(request)
        ctx.store.audit.record(AuditEntry(who.name, who.role.value, "GET", "/api/v1/directory/cardholders/{id}",
                                          None, {"holder": holder_id}, int(found is not None)))
        if found is None:
            raise NotFoundError(f"no cardholder {holder_id!r}")
        return found

    @api.get("/api/v1/gateways/{site}/cards", summary="The site's refused and admitted cards as keyed hashes (ETag)",
             response_model=SiteCards,
             **allow(ctx, Role.GATEWAY, Role.ADMIN,
                     responses={304: {"description": "unchanged since the ETag given in If-None-Match"}}))
    def site_cards(request: Request, site: SitePath) -> Response:
        check_site(caller(request), site)
        config = ctx.store.configs.get(site)
        groups = {g for s in config.model().spaces for g in s.groups or ()} if config else set()
        cards, etag = directory.site_cards(site, groups)
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if etag_matches(request.headers.get("If-None-Match"), etag):
            return Response(status_code=304, headers=headers)
        return Response(cards.model_dump_json(), media_type="application/json", headers=headers)

    return api
