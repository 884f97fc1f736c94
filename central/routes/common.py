"""What every route module shares: the request context, role guards, site binding of gateway tokens.

Roles are attached to each route twice from one call (``allow``): as the dependency that enforces them
and as ``x-roles`` in the OpenAPI document, so the role-matrix test can read what it must check from the
document itself.

A gateway token is bound to the site its configuration entry names (``site``): it may act only for that
site (ingest, sync, configuration downlink). A gateway token without a site may act for every site; central
refuses to start with one unless its settings say ``test_rig = true`` (``central.settings``).
"""


import logging
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from pydantic import BaseModel

from central.errors import ForbiddenError
from central.pseudonyms import Pseudonyms
from central.settings import CentralSettings
from central.store import CentralStore
from onestop.roles import Role
from web.auth import Authenticator, Principal

log = logging.getLogger(__name__)

ANALYTICS_ROLES = (Role.STAFF, Role.FACILITIES, Role.ADMIN)
HEALTH_DATA_ROLES = (Role.CLINIC, Role.COUNSELLING)
ALERT_ROLES = (Role.STAFF, Role.CLINIC, Role.COUNSELLING, Role.FACILITIES, Role.TECHNICIAN, Role.ADMIN)
FLEET_ROLES = (Role.TECHNICIAN, Role.FACILITIES, Role.ADMIN)

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing, invalid or expired bearer token, and no signed-in session"},
    403: {"description": "the token's or person's role (or bound site) may not do this"},
}


@dataclass
class Context:
    """Everything a route needs, built once by ``create_app``."""

    settings: CentralSettings
    store: CentralStore
    auth: Authenticator
    pseudonyms: Pseudonyms


def allow(ctx: Context, *roles: Role, responses: dict[int | str, dict[str, Any]] | None = None,
          body: type[BaseModel] | None = None) -> dict[str, Any]:
    """Route keyword arguments admitting only ``roles``: the guard, its OpenAPI note and error responses.

    ``body`` documents a JSON request body that the handler reads raw (see ``central.api`` for how its
    schema gets into the document's components).

    The authenticated principal is left in ``request.state.principal`` for handlers that need it.
    """
    guard = ctx.auth.require(*roles)

    def principal(request: Request, who: Principal = Depends(guard)) -> Principal:  # noqa: B008
        request.state.principal = who
        return who

    names = [r.value for r in roles]
    extra: dict[str, Any] = {"x-roles": names}
    if body is not None:
        extra["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{body.__name__}"}}}}
    return {"dependencies": [Depends(principal)], "openapi_extra": extra,
            "responses": {**AUTH_RESPONSES, **(responses or {})},
            "description": f"Roles: {', '.join(names)}."}


def caller(request: Request) -> Principal:
    """The principal ``allow`` authenticated for this request."""
    return request.state.principal


def bound_site(principal: Principal) -> str | None:
    """The site a gateway token is bound to, or ``None`` when unbound (test rigs only)."""
    return principal.site if principal.role == Role.GATEWAY else None


def check_site(principal: Principal, site: str) -> None:
    """Refuse a gateway token acting for a site other than its own."""
    own = bound_site(principal)
    if own is not None and own != site:
        raise ForbiddenError(f"this gateway token is bound to site {own!r}")


def warn_unbound_gateway_tokens(settings: CentralSettings) -> None:
    """Log each gateway token a test rig admits without a site (settings refuse them anywhere else)."""
    for entry in settings.tokens:
        if entry.role == Role.GATEWAY and entry.site is None:
            log.warning("test rig: gateway token %r is not bound to a site and may act for every site",
                        entry.name)

