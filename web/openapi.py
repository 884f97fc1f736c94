"""What both HTTP APIs' OpenAPI documents state beyond FastAPI's generation, stated once.

``finish`` completes a generated document so integrators can trust it (``@redocly/cli lint`` passes, see
``tests/test_openapi_lint.py``):

- ``servers``: the document describes the server that serves it (a relative URL);
- a route without a bearer guard says so with ``security: []`` (public by intent);
- a guarded route lists its roles (``x-roles`` and its description) and documents 401 and 403. The roles are
  read from the guard itself (``web.auth.Authenticator.require`` marks its dependency), so the document cannot
  disagree with what the route enforces.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from onestop.roles import Role

AUTH_RESPONSES: dict[str, dict[str, Any]] = {
    "401": {"description": "missing or invalid bearer token"},
    "403": {"description": "the token's role (or bound site) may not do this"},
}
LICENSE = {"name": "Apache-2.0", "identifier": "Apache-2.0"}


def _guards(dependant: Dependant) -> Iterator[tuple[Role, ...]]:
    for sub in dependant.dependencies:
        roles = getattr(sub.call, "roles", None)
        if roles is not None:
            yield roles
        yield from _guards(sub)


def api_routes(app: FastAPI) -> Iterator[APIRoute]:
    """Every API route of ``app``, through included routers (FastAPI keeps those as one entry each)."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            yield route


def route_roles(route: APIRoute) -> tuple[Role, ...] | None:
    """The roles the route's bearer guard admits, or ``None`` for a public route."""
    found = list(_guards(route.dependant))
    return found[0] if found else None


def finish(app: FastAPI, doc: dict[str, Any], server: str) -> dict[str, Any]:
    """``doc`` (generated from ``app``) completed in place with servers, security and roles; returned."""
    doc.setdefault("servers", [{"url": "/", "description": server}])
    doc["info"].setdefault("license", LICENSE)
    for route in api_routes(app):
        if not route.include_in_schema:
            continue
        roles = route_roles(route)
        for method in route.methods or ():
            op = doc["paths"].get(route.path_format, {}).get(method.lower())
            if op is None:
                continue
            if roles is None:
                op.setdefault("security", [])
                continue
            names = [r.value for r in roles]
            op.setdefault("x-roles", names)
            note = f"Roles: {', '.join(names)}."
            if note not in op.get("description", ""):
                op["description"] = f"{op['description']}\n\n{note}" if op.get("description") else note
            for code, response in AUTH_RESPONSES.items():
                op["responses"].setdefault(code, dict(response))
    return doc
