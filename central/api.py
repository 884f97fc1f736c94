"""The central service's HTTP API (FastAPI): assembles the route modules, errors, metrics and OpenAPI.

No `from __future__ import annotations` here: FastAPI must see real annotations to find dependencies
defined inside `create_app`.
"""


import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

import onestop
from central import retention
from central.bookings import BookingIn
from central.errors import RequestError
from central.fhir import operation_outcome
from central.ingest import AlertSyncIn, FleetSyncIn, IngestAnswer, IngestBatch, InvalidBatchError
from central.notifications import NotificationStore
from central.pseudonyms import Pseudonyms
from central.routes import (
    alerts,
    analytics,
    bookings,
    dashboard,
    directory,
    feedback,
    fhir,
    health,
    records,
    rights,
    sync,
    work_orders,
)
from central.routes.common import Context, warn_unbound_gateway_tokens
from central.routes.fhir import FHIR_BASE, FHIR_JSON, FHIR_SCHEMAS
from central.settings import CentralSettings
from central.store import CentralStore
from onestop.records import TEAMS
from web.alert_metrics import response_time_families
from web.auth import EXPIRY_WARNING, Authenticator
from web.docs import install_docs
from web.headers import install_security_headers
from web.oidc import install_sign_in
from web.openapi import finish

__all__ = ["IngestAnswer", "IngestBatch", "create_app"]

from onestop.ticker import Ticker
from onestop.work_orders import WorkOrderSync

RAW_BODY_MODELS: tuple[type[BaseModel], ...] = (IngestBatch, AlertSyncIn, FleetSyncIn, WorkOrderSync, BookingIn)


class _StoreCollector(Collector):
    """Reads the store at scrape time, so every worker reports the same shared truth."""

    def __init__(self, store: CentralStore) -> None:
        self._store = store

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        stats = self._store.stats()
        for name, help_text in (("events", "Events stored"), ("duplicates", "Duplicate events dropped"),
                                ("quarantined", "Ingest batches rejected as invalid (422)"),
                                ("future_dated", "Alert and fleet records dated after their arrival (clamped)"),
                                ("unknown_space", "Events stored for a space the site's configuration lacks"),
                                ("conflicts", "Events whose id central already held with other content"),
                                ("erased_dropped", "Events dropped at ingest: they name a student erased at central")):
            family = CounterMetricFamily(f"onestop_central_{name}", help_text)
            family.add_metric([], stats[name])
            yield family
        expired = CounterMetricFamily("onestop_central_expired", "Rows removed by their class's time limit "
                                      "(central/retention.py)", labels=["class"])
        for name in retention.CLASSES:
            expired.add_metric([name], stats[f"expired_{name}"])
        yield expired
        for name, help_text in (("open_alerts", "Alerts open"), ("devices_offline", "Devices offline")):
            gauge = GaugeMetricFamily(f"onestop_central_{name}", help_text)
            gauge.add_metric([], stats[name])
            yield gauge
        lag = GaugeMetricFamily("onestop_central_gateway_lag_seconds",
                                "Age of the newest event of the gateway's last batch on arrival", labels=["site"])
        seen = GaugeMetricFamily("onestop_central_gateway_last_seen_timestamp_seconds",
                                 "When the gateway last called ingest", labels=["site"])
        for gw in self._store.gateways():
            lag.add_metric([gw["site"]], gw["lag_s"] or 0.0)
            seen.add_metric([gw["site"]], gw["last_seen"].timestamp())
        yield lag
        yield seen
        yield from response_time_families("onestop_central", self._store.alerts.response_times(TEAMS))
        notified = CounterMetricFamily("onestop_central_notifications", "Notification tries, their ends and "
                                       "escalations (central/notifier.py)", labels=["outcome"])
        for outcome, value in NotificationStore(self._store.db).counts().items():
            notified.add_metric([outcome], value)
        yield notified


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated document plus the schemas of bodies that routes read raw (gzip)."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    for model in RAW_BODY_MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            components.setdefault(name, sub)
        components[model.__name__] = schema
    components.update(FHIR_SCHEMAS)
    app.openapi_schema = finish(app, doc, "this central service")
    return doc


def _fhir_error(request: Request, status: int, message: str) -> JSONResponse | None:
    """Under the FHIR base an error is an OperationOutcome; elsewhere None (the plain JSON answer)."""
    if not request.url.path.startswith(FHIR_BASE):
        return None
    code = {401: "login", 403: "forbidden", 404: "not-found"}.get(status, "invalid")
    return JSONResponse(operation_outcome(code, message), status_code=status, media_type=FHIR_JSON,
                        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return _fhir_error(request, exc.status_code, str(exc.detail)) or await http_exception_handler(request, exc)

    @app.exception_handler(InvalidBatchError)
    def _invalid(_request: Request, exc: InvalidBatchError) -> JSONResponse:
        return JSONResponse({"detail": exc.problems, "invalid_events": exc.invalid_events}, status_code=422)

    @app.exception_handler(RequestError)
    def _request_error(request: Request, exc: RequestError) -> JSONResponse:
        return _fhir_error(request, exc.status, str(exc)) or JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo input values back: request bodies may hold personal data.
        detail = [{"loc": list(err.get("loc", ())), "type": err.get("type"), "msg": err.get("msg")}
                  for err in exc.errors()[:100]]
        problems = "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in detail)
        fhir = _fhir_error(request, 422, problems)
        if fhir is not None:
            return fhir
        return JSONResponse({"detail": detail}, status_code=422)


def create_app(settings: CentralSettings, store: CentralStore) -> FastAPI:
    """The FastAPI application of the central service (its lifespan runs the retention ticker)."""
    ticker = Ticker("retention", lambda: retention.expire(store.db, settings.retention),
                    settings.retention.interval_s, join_s=10)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        ticker.start()
        try:
            yield
        finally:
            ticker.stop()

    app = FastAPI(title="onestop central", version=onestop.__version__, docs_url=None, redoc_url=None,
                  lifespan=lifespan,
                  description="Campus-wide service: ingest from building gateways, alerts, fleet, configuration "
                              "downlink, occupancy analytics and forecast, screenings with FHIR export and "
                              "audit. Every route except /healthz, /metrics, /api/v1/stats, the dashboard and "
                              "this document needs a bearer token; each route lists its roles (`x-roles`).",
                  # Every body is counted while it is read (and Content-Length checked first): none is
                  # buffered past this, whatever the route. Routes may set a smaller bound.
                  max_body_size=settings.max_batch_bytes)
    install_security_headers(app)
    warn_unbound_gateway_tokens(settings)
    sign_in = install_sign_in(app, settings.oidc, home="/dashboard")
    ctx = Context(settings=settings, store=store, auth=Authenticator(settings.tokens, sign_in),
                  pseudonyms=Pseudonyms.from_file(settings.pseudonym_key_file))
    registry = CollectorRegistry()
    registry.register(_StoreCollector(store))
    Gauge("onestop_central_tokens_expiring_soon",
          f"Bearer tokens that expire within {EXPIRY_WARNING.days} days (rotate them)", registry=registry
          ).set_function(ctx.auth.expiring_soon)
    latency = Histogram("onestop_central_request_seconds", "Request handling time", ["route", "method"],
                        registry=registry)

    @app.middleware("http")
    async def _timing(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        latency.labels(getattr(route, "path", "unmatched"), request.method).observe(time.perf_counter() - started)
        return response

    _install_error_handlers(app)

    @app.get("/healthz", tags=["ops"], summary="Liveness")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/stats", tags=["ops"], summary="Event, duplicate, quarantine, gateway, alert, device counts")
    def stats() -> dict[str, int]:
        return store.stats()

    for module in (sync, records, alerts, analytics, health, fhir, rights, directory, dashboard, work_orders,
                   bookings, feedback):
        app.include_router(module.router(ctx))
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    install_docs(app)
    return app
