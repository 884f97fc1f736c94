"""The gateway's local HTTP API (FastAPI) and the staff dashboard, assembled from ``gateway.routes``.

``/healthz``, ``/metrics`` and ``/api/v1/stats`` are open (they hold no personal data); every other route
needs a bearer token whose role allows it. The routes see the running gateway only through its read model
(``gateway.read_model.ReadModel``).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from prometheus_client.registry import Collector

import onestop
from gateway.read_model import ReadModel
from gateway.routes import alerts, building, dashboard, ops, sync, work_orders
from gateway.routes.common import Context
from onestop.roles import TokenEntry
from web.auth import Authenticator
from web.headers import install_security_headers


def create_app(view: ReadModel, tokens: Iterable[TokenEntry], collectors: Iterable[Collector] = ()) -> FastAPI:
    """The FastAPI application for one gateway; ``collectors`` add to its metrics."""
    app = FastAPI(title="onestop gateway", version=onestop.__version__, docs_url=None, redoc_url=None,
                  description="Local API of a building gateway: occupancy, devices, alerts, sync.")
    install_security_headers(app)
    ctx = Context(view, Authenticator(tokens))
    app.include_router(dashboard.router(ctx))
    app.include_router(ops.router(ctx, tuple(collectors)))
    for module in (building, alerts, sync, work_orders):
        app.include_router(module.router(ctx))
    return app
