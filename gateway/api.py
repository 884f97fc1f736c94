"""The gateway's local HTTP API (FastAPI) and the staff dashboard.

``/healthz``, ``/metrics`` and ``/api/v1/stats`` are open (they hold no personal data); every other route
needs a bearer token whose role allows it. Alerts are filtered by team: each role sees its own team's
alerts, and the student concerned (``subject``) is shown only to the clinic and counselling roles.

No ``from __future__ import annotations`` here: FastAPI must see real annotations to find dependencies
defined inside ``create_app``.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Response
from fastapi.responses import HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel

import onestop
from gateway import alerts as rules
from gateway.occupancy import is_open
from onestop.auth import HEALTH_ROLES, Authenticator, Principal, Role, alert_teams
from onestop.records import AlertRecord, DeviceHealth
from onestop.web import Page, install_security_headers

if TYPE_CHECKING:
    from gateway.service import Gateway

ANY_ROLE = tuple(r for r in Role if r is not Role.GATEWAY)  # the gateway role is for talking to central
OPERATIONS = (Role.STAFF, Role.FACILITIES, Role.TECHNICIAN, Role.ADMIN)


class SpaceNow(BaseModel):
    """A space right now."""

    id: str
    name: str
    count: int
    capacity: int
    open: bool
    sensor_count: float | None = None


class SyncStatus(BaseModel):
    """The link to central and what waits for it."""

    central: str
    last_success: datetime | None
    backlog: int
    synced: int
    alerts_unsynced: int
    dead_letters: int
    dropped: dict[str, int]


class DeadLetter(BaseModel):
    """An event central refused as invalid, set aside for a person to look at."""

    id: str
    device: str
    type: str
    reason: str
    at: datetime


class Overview(BaseModel):
    """Everything the dashboard shows, in one call."""

    site: str
    now: datetime
    spaces: list[SpaceNow]
    devices: list[DeviceHealth]
    alerts: list[AlertRecord]
    sync: SyncStatus
    broker: bool


class QuarantinedMessage(BaseModel):
    """A rejected message's metadata (the payload itself stays on the gateway)."""

    id: int
    topic: str
    reason: str
    detail: str
    size: int
    received: datetime


class _StoreCollector(Collector):
    """Reads the store's persistent counters at scrape time, so there is one source of truth."""

    def __init__(self, gateway: "Gateway") -> None:
        self._gateway = gateway

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats = self._gateway.store.stats()
        counters = self._gateway.store.counters()
        yield _counter("events_stored", "Events stored (deduplicated)", stats["events"])
        yield _counter("duplicates", "Redelivered events dropped by id", stats["duplicates"])
        yield _counter("conflicts", "Events whose id was already stored with other content (kept aside)",
                       stats["conflicts"])
        quarantined = CounterMetricFamily("onestop_gateway_quarantined", "Rejected messages", labels=["reason"])
        for reason, count in sorted(stats["quarantined_by_reason"].items()):  # type: ignore[union-attr]
            quarantined.add_metric([reason], count)
        yield quarantined
        yield _counter("synced", "Events confirmed by the central service", stats["synced"])
        yield _counter("alerts_set_aside", "Alert versions central refused, set aside", stats["alerts_set_aside"])
        yield _counter("fleet_refused", "Device health records central refused", stats["fleet_refused"])
        yield _counter("sync_refused", "Sync rounds central refused as a whole (no retry helps)",
                       counters.get("sync-refused", 0))
        yield _counter("sequence_gaps", "Device sequence numbers never received", counters.get("seq-gaps", 0))
        yield _counter("clock_implausible", "Events whose device clock was implausible",
                       counters.get("clock-implausible", 0))
        anomalies = CounterMetricFamily("onestop_gateway_presence_anomalies", "Presence events that changed "
                                        "nothing", labels=["kind"])
        for kind in ("double-checkin", "checkout-without-checkin", "moved", "unknown-space"):
            anomalies.add_metric([kind], counters.get(kind, 0))
        yield anomalies
        yield _gauge("sync_backlog", "Events not yet confirmed by central", stats["backlog"])
        yield _gauge("broker_connected", "1 when connected to the broker", int(self._gateway.consumer.client.connected))
        yield _counter("tick_failures", "Once-a-second ticks (silence, automatic check-outs, storage bound) that "
                       "failed", self._gateway.tick_failures)
        yield _counter("receiver_restarts", "Times the MQTT receiver process ended unexpectedly and was restarted",
                       self._gateway.consumer.client.restarts)
        occupancy = GaugeMetricFamily("onestop_gateway_occupancy", "People inside by card taps", labels=["space"])
        for space in self._gateway.building.occupancy.spaces:
            occupancy.add_metric([space], self._gateway.building.occupancy.count(space))
        yield occupancy
        open_alerts = GaugeMetricFamily("onestop_gateway_open_alerts", "Unresolved alerts", labels=["severity"])
        for severity, count in sorted(self._gateway.alerts.counts().items()):
            open_alerts.add_metric([severity], count)
        yield open_alerts


def _counter(name: str, text: str, value: object) -> CounterMetricFamily:
    family = CounterMetricFamily(f"onestop_gateway_{name}", text)
    family.add_metric([], float(value))  # type: ignore[arg-type]
    return family


def _gauge(name: str, text: str, value: object) -> GaugeMetricFamily:
    family = GaugeMetricFamily(f"onestop_gateway_{name}", text)
    family.add_metric([], float(value))  # type: ignore[arg-type]
    return family


def _visible(record: AlertRecord, principal: Principal) -> AlertRecord:
    if principal.role in HEALTH_ROLES:
        return record
    return record.model_copy(update={"subject": None})


def create_app(gateway: "Gateway") -> FastAPI:
    """The FastAPI application for one gateway."""
    app = FastAPI(title="onestop gateway", version=onestop.__version__, docs_url=None, redoc_url=None,
                  description="Local API of a building gateway: occupancy, devices, alerts, sync.")
    install_security_headers(app)
    auth = Authenticator(gateway.settings.tokens)
    registry = CollectorRegistry()
    registry.register(_StoreCollector(gateway))
    registry.register(gateway.consumer.batch_sizes)
    registry.register(gateway.consumer.commit_seconds)
    anyone = Depends(auth.require(*ANY_ROLE))
    operations = Depends(auth.require(*OPERATIONS))
    dashboard = Page(resources.files("gateway").joinpath("dashboard.html").read_text(encoding="utf-8"))

    def spaces_now() -> list[SpaceNow]:
        book = gateway.building.occupancy
        now = datetime.now(UTC).astimezone(book.timezone)
        return [SpaceNow(id=s.id, name=s.name or s.id, count=book.count(s.id), capacity=s.capacity,
                         open=is_open(s.hours, now), sensor_count=(book.sensor_counts.get(s.id) or (None,))[0])
                for s in book.spaces.values()]

    def devices_now() -> list[DeviceHealth]:
        now = datetime.now(UTC)
        with gateway.building._lock:
            return sorted((s.health(now, gateway.building.device_space(s.device))
                           for s in gateway.building.devices.devices.values()), key=lambda d: d.device)

    def sync_now() -> SyncStatus:
        stats = gateway.store.stats()
        last = gateway.syncer.last_success
        return SyncStatus(central=gateway.central_state, backlog=stats["backlog"], synced=stats["synced"],
                          last_success=datetime.fromtimestamp(last, UTC) if last else None,
                          alerts_unsynced=len(gateway.alerts.unsynced(10_000)),
                          dead_letters=stats["dead_letters"], dropped=stats["dropped"])

    def alert_for(alert_id: str, principal: Principal) -> AlertRecord:
        record = gateway.alerts.get(alert_id)
        if record is None or record.team not in alert_teams(principal.role):
            raise HTTPException(404, "no such alert for your team")
        return record

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return dashboard.response()

    @app.get("/healthz", tags=["ops"], summary="Liveness and broker connection")
    def healthz() -> dict[str, object]:
        return {"status": "ok", "site": gateway.settings.site, "broker": gateway.consumer.client.connected}

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/stats", tags=["ops"], summary="Event, quarantine and duplicate counts")
    def stats() -> dict[str, object]:
        counters = gateway.store.counters()
        return {**gateway.store.stats(), "central": gateway.central_state,
                "sequence_gaps": counters.get("seq-gaps", 0),
                "clock_implausible": counters.get("clock-implausible", 0)}

    @app.get("/api/v1/spaces", tags=["building"], summary="Occupancy of every space now")
    def spaces(_: Annotated[Principal, anyone]) -> list[SpaceNow]:
        return spaces_now()

    @app.get("/api/v1/devices", tags=["building"], summary="Every device's health")
    def devices(_: Annotated[Principal, operations]) -> list[DeviceHealth]:
        return devices_now()

    @app.get("/api/v1/alerts", tags=["alerts"], summary="Alerts for the caller's teams")
    def list_alerts(principal: Annotated[Principal, anyone],
                    status: Annotated[Literal["open", "acknowledged", "resolved", "unresolved"] | None,
                                      Query(description="filter by status")] = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[AlertRecord]:
        return [_visible(r, principal) for r in gateway.alerts.list(alert_teams(principal.role), status, limit)]

    @app.post("/api/v1/alerts/{alert_id}/acknowledge", tags=["alerts"], summary="Take an alert on")
    def acknowledge(alert_id: str, principal: Annotated[Principal, anyone]) -> AlertRecord:
        return _transition(alert_id, principal, rules.acknowledge)

    @app.post("/api/v1/alerts/{alert_id}/resolve", tags=["alerts"], summary="Close an alert")
    def resolve(alert_id: str, principal: Annotated[Principal, anyone]) -> AlertRecord:
        return _transition(alert_id, principal, rules.resolve)

    def _transition(alert_id: str, principal: Principal, change) -> AlertRecord:  # type: ignore[no-untyped-def]
        record = alert_for(alert_id, principal)
        try:
            updated = change(record, principal.name, datetime.now(UTC))
        except rules.AlertError as exc:
            raise HTTPException(409, str(exc)) from exc
        gateway.alerts.save(updated)
        return _visible(updated, principal)

    @app.get("/api/v1/sync", tags=["sync"], summary="Link to central and backlog")
    def sync(_: Annotated[Principal, operations]) -> SyncStatus:
        return sync_now()

    @app.get("/api/v1/dead-letters", tags=["sync"], summary="Events central refused as invalid")
    def dead_letters(_: Annotated[Principal, Depends(auth.require(Role.TECHNICIAN, Role.ADMIN))],
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[DeadLetter]:
        return [DeadLetter(id=i, device=d, type=t, reason=r, at=datetime.fromtimestamp(at, UTC))
                for i, d, t, r, at in gateway.store.dead_letters(limit)]

    @app.get("/api/v1/quarantine", tags=["ops"], summary="Recently rejected messages (metadata only)")
    def quarantine(_: Annotated[Principal, Depends(auth.require(Role.TECHNICIAN, Role.ADMIN))],
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[QuarantinedMessage]:
        return [QuarantinedMessage(id=i, topic=t, reason=r, detail=d, size=s,
                                   received=datetime.fromtimestamp(at, UTC))
                for i, t, r, d, s, at in gateway.store.quarantined(limit)]

    @app.get("/api/v1/overview", tags=["building"], summary="Everything the dashboard shows")
    def overview(principal: Annotated[Principal, anyone]) -> Overview:
        alerts = [_visible(r, principal)
                  for r in gateway.alerts.list(alert_teams(principal.role), "unresolved", 50)]
        devs = devices_now() if principal.role in OPERATIONS else []
        return Overview(site=gateway.settings.site, now=datetime.now(UTC), spaces=spaces_now(), devices=devs,
                        alerts=alerts, sync=sync_now(), broker=gateway.consumer.client.connected)

    return app
