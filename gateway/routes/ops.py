"""Operations: liveness, Prometheus metrics, counts, and the quarantine's metadata.

``/healthz``, ``/metrics`` and ``/api/v1/stats`` are open: they hold no personal data.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel

from gateway.read_model import ReadModel
from gateway.routes.common import TECHNICIANS, Context
from onestop.alert_history import response_times
from web.alert_metrics import response_time_families
from web.auth import EXPIRY_WARNING, Principal


class QuarantinedMessage(BaseModel):
    """A rejected message's metadata (the payload itself stays on the gateway)."""

    id: int
    topic: str
    reason: str
    detail: str
    size: int
    received: datetime


class Health(BaseModel):
    """Liveness: the site this gateway serves and whether it is connected to its broker."""

    status: str
    site: str
    broker: bool


class ReadModelCollector(Collector):
    """Reads the store's persistent counters at scrape time, so there is one source of truth."""

    def __init__(self, view: ReadModel) -> None:
        self._view = view

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        view = self._view
        stats = view.stats()
        counters = view.counters()
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
        notifications = CounterMetricFamily("onestop_gateway_notifications", "Notification tries and their ends "
                                            "(gateway/notifier.py)", labels=["outcome"])
        for outcome in ("sent", "failed-tries", "gave-up", "skipped"):
            notifications.add_metric([outcome], counters.get(f"notify:{outcome}", 0))
        yield notifications
        expired = CounterMetricFamily("onestop_gateway_expired", "Rows removed by their class's time limit "
                                      "(gateway/retention.py)", labels=["class"])
        for name, count in sorted(stats["expired"].items()):  # type: ignore[union-attr]
            expired.add_metric([name], count)
        yield expired
        yield _gauge("sync_backlog", "Events not yet confirmed by central", stats["backlog"])
        yield _gauge("broker_connected", "1 when connected to the broker", int(view.broker_connected()))
        yield _counter("tick_failures", "Once-a-second ticks (silence, automatic check-outs, storage bound) that "
                       "failed", view.tick_failures())
        yield _counter("receiver_restarts", "Times the MQTT receiver started a new connection because a batch "
                       "could not be handled (nothing of it acknowledged)", view.receiver_restarts())
        occupancy = GaugeMetricFamily("onestop_gateway_occupancy", "People inside by card taps", labels=["space"])
        for space in view.spaces():
            occupancy.add_metric([space.id], space.count)
        yield occupancy
        open_alerts = GaugeMetricFamily("onestop_gateway_open_alerts", "Unresolved alerts", labels=["severity"])
        for severity, count in sorted(view.open_alerts_by_severity().items()):
            open_alerts.add_metric([severity], count)
        yield open_alerts
        yield from response_time_families("onestop_gateway", map(response_times, view.alert_lifecycles(None)))


def _counter(name: str, text: str, value: object) -> CounterMetricFamily:
    family = CounterMetricFamily(f"onestop_gateway_{name}", text)
    family.add_metric([], float(value))  # type: ignore[arg-type]
    return family


def _gauge(name: str, text: str, value: object) -> GaugeMetricFamily:
    family = GaugeMetricFamily(f"onestop_gateway_{name}", text)
    family.add_metric([], float(value))  # type: ignore[arg-type]
    return family


def router(ctx: Context, collectors: tuple[Collector, ...] = ()) -> APIRouter:
    """``/healthz``, ``/metrics``, ``/api/v1/stats`` and ``/api/v1/quarantine``; ``collectors`` add to the
    metrics (the consumer's batch histograms)."""
    api = APIRouter(tags=["ops"])
    technicians = ctx.only(*TECHNICIANS)
    registry = CollectorRegistry()
    registry.register(ReadModelCollector(ctx.view))
    for collector in collectors:
        registry.register(collector)
    Gauge("onestop_gateway_tokens_expiring_soon",
          f"Bearer tokens that expire within {EXPIRY_WARNING.days} days (rotate them)", registry=registry
          ).set_function(ctx.auth.expiring_soon)

    @api.get("/healthz", summary="Liveness and broker connection")
    def healthz() -> Health:
        return Health(status="ok", site=ctx.view.site, broker=ctx.view.broker_connected())

    @api.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @api.get("/api/v1/stats", summary="Event, quarantine and duplicate counts")
    def stats() -> dict[str, object]:
        counters = ctx.view.counters()
        return {**ctx.view.stats(), "central": ctx.view.central_state(),
                "sequence_gaps": counters.get("seq-gaps", 0),
                "clock_implausible": counters.get("clock-implausible", 0)}

    @api.get("/api/v1/quarantine", summary="Recently rejected messages (metadata only)")
    def quarantine(_: Annotated[Principal, technicians],
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[QuarantinedMessage]:
        return [QuarantinedMessage(id=i, topic=t, reason=r, detail=d, size=s, received=datetime.fromtimestamp(at, UTC))
                for i, t, r, d, s, at in ctx.view.quarantined(limit)]

    return api
