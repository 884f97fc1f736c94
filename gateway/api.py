"""The gateway's local HTTP API (FastAPI): health, Prometheus metrics, stats."""


from collections.abc import Iterator
from typing import TYPE_CHECKING

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

import onestop

if TYPE_CHECKING:
    from gateway.service import Gateway


class _StoreCollector(Collector):
    """Reads the store's persistent counters at scrape time, so there is one source of truth."""

    def __init__(self, gateway: "Gateway") -> None:
        self._gateway = gateway

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats = self._gateway.store.stats()
        stored = CounterMetricFamily("onestop_gateway_events_stored", "Events stored (deduplicated)")
        stored.add_metric([], stats["events"])
        yield stored
        dup = CounterMetricFamily("onestop_gateway_duplicates", "Redelivered events dropped by id")
        dup.add_metric([], stats["duplicates"])
        yield dup
        quarantined = CounterMetricFamily("onestop_gateway_quarantined", "Rejected messages", labels=["reason"])
        for reason, count in sorted(stats["quarantined_by_reason"].items()):  # type: ignore[union-attr]
            quarantined.add_metric([reason], count)
        yield quarantined
        synced = CounterMetricFamily("onestop_gateway_synced", "Events confirmed by the central service")
        synced.add_metric([], stats["synced"])
        yield synced
        backlog = GaugeMetricFamily("onestop_gateway_sync_backlog", "Events not yet confirmed by central")
        backlog.add_metric([], stats["backlog"])
        yield backlog
        up = GaugeMetricFamily("onestop_gateway_broker_connected", "1 when connected to the broker")
        up.add_metric([], 1 if self._gateway.consumer.client.connected else 0)
        yield up


def create_app(gateway: "Gateway") -> FastAPI:
    """The FastAPI application for one gateway."""
    app = FastAPI(title="onestop gateway", version=onestop.__version__,
                  description="Local API of a building gateway.")
    registry = CollectorRegistry()
    registry.register(_StoreCollector(gateway))

    @app.get("/healthz", tags=["ops"], summary="Liveness and broker connection")
    def healthz() -> dict[str, object]:
        return {"status": "ok", "site": gateway.settings.site, "broker": gateway.consumer.client.connected}

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/stats", tags=["ops"], summary="Event, quarantine and duplicate counts")
    def stats() -> dict[str, object]:
        return {**gateway.store.stats(), "central": gateway.central_state}

    return app
