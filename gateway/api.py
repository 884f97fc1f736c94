"""The gateway's local HTTP API (FastAPI) and the staff dashboard, assembled from ``gateway.routes``.

``/healthz``, ``/metrics`` and ``/api/v1/stats`` are open (they hold no personal data); every other route
needs a bearer token whose role allows it. The routes see the running gateway only through its read model
(``gateway.read_model.ReadModel``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from prometheus_client.registry import Collector

import onestop
from gateway.read_model import ReadModel
from gateway.routes import alerts, building, dashboard, ops, sync, work_orders
from gateway.routes.common import Context
from onestop.roles import TokenEntry
from web.auth import Authenticator
from web.docs import install_docs
from web.headers import install_security_headers
from web.oidc import OidcSettings, install_sign_in
from web.openapi import finish


def create_app(view: ReadModel, tokens: Iterable[TokenEntry], collectors: Iterable[Collector] = (),
               oidc: OidcSettings | None = None) -> FastAPI:
    """The FastAPI application for one gateway; ``collectors`` add to its metrics; ``oidc``: people sign in
    through the campus identity provider."""
    app = FastAPI(title="onestop gateway", version=onestop.__version__, docs_url=None, redoc_url=None,
                  description="Local API of a building gateway: occupancy, devices, alerts, sync.")
    install_security_headers(app)
    sign_in = install_sign_in(app, oidc, home="/")
    # With campus sign-in, a person's bearer token here is the building's break-glass token: its uses are logged.
    ctx = Context(view, Authenticator(tokens, sign_in, break_glass=True))
    app.include_router(dashboard.router(ctx))
    app.include_router(ops.router(ctx, tuple(collectors)))
    for module in (building, alerts, sync, work_orders):
        app.include_router(module.router(ctx))
    install_docs(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated document, completed with servers, public routes' ``security: []`` and guarded routes'
    roles and 401/403 (``web.openapi``)."""
    if not app.openapi_schema:
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        app.openapi_schema = finish(app, doc, "this building's gateway")
    return app.openapi_schema
