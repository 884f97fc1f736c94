"""Gateway → central sync through outages: real broker, real gateway and central processes, real SQLite."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from bench.common import publish_burst
from gateway.ingest import Accepted
from gateway.store import Store
from harness.localsite import central_process, gateway_process
from onestop.events import new_event
from tests.conftest import KIOSKS
from tests.helpers import Collector, query, raw_client, wait_until


def central_ids(site) -> list[str]:
    return [row[0] for row in query(site.path("central/central.db"), "SELECT id FROM events WHERE type = 'heartbeat'")]


def gateway_ids(site) -> list[str]:
    return [row[0] for row in query(site.path("gateway/gateway.db"), "SELECT id FROM events WHERE type = 'heartbeat'")]


def burst(site, per_device: int, tmp_path) -> None:
    creds = {k.device: site.device_users[k.device] for k in KIOSKS}
    publish_burst(site.broker_port, site.site, creds, per_device, tmp_path)


def test_a_burst_while_central_is_down_arrives_once_when_it_returns(site, broker, lone_gateway, tmp_path):
    burst(site, 50_000 // len(KIOSKS) + 1, tmp_path)
    total = 3 * (50_000 // len(KIOSKS) + 1)
    wait_until(lambda: len(gateway_ids(site)) == total, timeout=120, what="burst stored at the gateway")
    sync = httpx.get(f"{site.gateway_url}/api/v1/sync", headers={"Authorization": f"Bearer {site.tokens['staff']}"})
    assert sync.json()["central"] == "unreachable" and sync.json()["backlog"] >= total

    central = central_process(site)
    central.start()
    try:
        wait_until(lambda: httpx.get(f"{site.gateway_url}/api/v1/stats").json()["backlog"] == 0, timeout=180,
                   interval=0.5, what="backlog drained to central")
        ids = central_ids(site)
        assert len(ids) == total and set(ids) == set(gateway_ids(site))
        assert httpx.get(f"{site.central_url}/api/v1/stats").json()["duplicates"] == 0
    finally:
        central.stop()


def test_central_killed_mid_batch_loses_and_doubles_nothing(site, broker, lone_gateway, tmp_path):
    burst(site, 8000, tmp_path)
    wait_until(lambda: len(gateway_ids(site)) == 24_000, timeout=120, what="burst stored at the gateway")
    central = central_process(site)
    central.start()
    wait_until(lambda: httpx.get(f"{site.central_url}/api/v1/stats").json()["events"] > 0, timeout=60,
               interval=0.05, what="first batches at central")
    central.kill()  # mid-drain, without warning
    time.sleep(1.0)
    central.start()
    try:
        wait_until(lambda: httpx.get(f"{site.gateway_url}/api/v1/stats").json()["backlog"] == 0, timeout=180,
                   interval=0.5, what="backlog drained after the crash")
        ids = central_ids(site)
        assert len(ids) == len(set(ids)) == 24_000
    finally:
        central.stop()


@pytest.mark.parametrize("batch_max", [None, 90], ids=["one-batch", "pipelined-batches"])
def test_a_poison_event_is_set_aside_and_the_rest_flows(site, broker, central, batch_max):
    store = Store(site.path("gateway/gateway.db"))
    good = [new_event(KIOSKS[0].device, seq, "heartbeat", {"uptime_s": seq, "outbox": 0}) for seq in range(1, 400)]
    poison = new_event(KIOSKS[0].device, 400, "heartbeat", {"uptime_s": 1, "outbox": 0})
    rows = [Accepted(env, env.to_json(), time.time()) for env in good]
    # Stored fine here but refused by central: a payload whose envelope central cannot read.
    corrupted = json.loads(poison.to_json())
    corrupted["seq"] = "not a number"
    rows.insert(200, Accepted(poison, json.dumps(corrupted).encode(), time.time()))
    store.write_batch(rows, [])
    store.close()
    gateway = gateway_process(site)
    if batch_max:  # the poison is in the third of five batches, sent while the next one is being prepared
        gateway.env["ONESTOP_GATEWAY__CENTRAL__BATCH_MAX"] = str(batch_max)
    gateway.start()
    try:
        wait_until(lambda: httpx.get(f"{site.gateway_url}/api/v1/stats").json()["backlog"] == 0, timeout=60,
                   what="everything but the poison synced")
        assert sorted(central_ids(site)) == sorted(e.id for e in good)
        assert httpx.get(f"{site.central_url}/api/v1/stats").json()["duplicates"] == 0  # none sent twice
        dead = httpx.get(f"{site.gateway_url}/api/v1/dead-letters",
                         headers={"Authorization": f"Bearer {site.tokens['technician']}"}).json()
        assert [d["id"] for d in dead] == [poison.id]
        assert "not a number" not in dead[0]["reason"]  # locations only, never values
        assert httpx.get(f"{site.gateway_url}/api/v1/stats").json()["dead_letters"] == 1
    finally:
        gateway.stop()


def test_the_gateway_applies_configuration_from_central_and_keeps_it_for_offline_starts(site, broker, central):
    gateway = gateway_process(site)
    gateway.env["ONESTOP_GATEWAY__CENTRAL__CONFIG_INTERVAL_S"] = "0.5"
    gateway.start()
    watcher = raw_client(site.broker_port, site.observer.username, site.observer.password, "cfg-watch")
    collector = Collector(watcher, f"onestop/v1/{site.site}/#")
    config = {"spaces": [{"id": "study-24h-2f", "name": "24h study room", "capacity": 3},
                         {"id": "quiet-room", "name": "Quiet room", "capacity": 8}],
              "devices": [{"device": KIOSKS[0].device, "kind": "kiosk", "space": "quiet-room",
                           "display_name": "Quiet room door"}]}
    admin = {"Authorization": f"Bearer {site.tokens['admin']}"}
    try:
        # Central had no configuration for the site: the gateway introduces its own (names and capacities).
        introduced = wait_until(lambda: (r := httpx.get(f"{site.central_url}/api/v1/gateways/{site.site}/config",
                                                        headers=admin)).status_code == 200 and r.json(),
                                timeout=30, what="the gateway's own configuration stored at central")
        assert {s["id"] for s in introduced["spaces"]} == {s["id"] for s in site.site_config()["spaces"]}
        put = httpx.put(f"{site.central_url}/api/v1/gateways/{site.site}/config", json=config, headers=admin)
        assert put.status_code in (200, 201), put.text

        def cfg_seen():
            messages = collector.on(f"dev/{KIOSKS[0].device}/cfg")
            return messages and json.loads(messages[-1]).get("space") == "quiet-room"

        wait_until(cfg_seen, timeout=30, what="the kiosk's cfg republished from central's configuration")
        cfg = json.loads(collector.on(f"dev/{KIOSKS[0].device}/cfg")[-1])
        assert cfg["display_name"] == "Quiet room door" and cfg["capacity"] == 8
        spaces = httpx.get(f"{site.gateway_url}/api/v1/spaces", headers=admin).json()
        assert {s["id"]: s["capacity"] for s in spaces} == {"study-24h-2f": 3, "quiet-room": 8}
        assert site.path("gateway/site-config.json").exists()
    finally:
        gateway.stop()
        watcher.loop_stop()
    central.stop()  # WAN down: the gateway starts from its last good copy
    offline = gateway_process(site)
    offline.start()
    try:
        spaces = httpx.get(f"{site.gateway_url}/api/v1/spaces", headers=admin).json()
        assert {s["id"] for s in spaces} == {"study-24h-2f", "quiet-room"}
    finally:
        offline.stop()


def test_a_refused_alert_is_set_aside_and_events_and_other_alerts_still_sync(site, broker, central):
    from datetime import UTC, datetime

    from gateway import alerts as rules
    from gateway.alert_store import insert_alerts

    now = datetime.now(UTC)
    good = [rules.device_offline_alert(site.site, kiosk.device, 12, now) for kiosk in KIOSKS]
    # Raised before this gateway's site was renamed: central refuses an alert of another site in the batch.
    stale = rules.device_fault_alert("renamed-site", KIOSKS[0].device, "reader", now)
    events = [new_event(KIOSKS[0].device, seq, "heartbeat", {"uptime_s": seq, "outbox": 0}) for seq in range(1, 50)]
    store = Store(site.path("gateway/gateway.db"))
    store.write_batch([Accepted(env, env.to_json(), time.time()) for env in events], [])
    store.write_fn(lambda conn: insert_alerts(conn, [good[0], stale, *good[1:]]))
    store.close()
    gateway = gateway_process(site)
    gateway.start()
    try:
        wait_until(lambda: httpx.get(f"{site.gateway_url}/api/v1/stats").json()["backlog"] == 0, timeout=30,
                   what="events synced despite the refused alert")
        assert sorted(central_ids(site)) == sorted(e.id for e in events)
        central_alerts = {row[0] for row in query(site.path("central/central.db"), "SELECT id FROM alerts")}
        assert central_alerts == {a.id for a in good}
        stats = httpx.get(f"{site.gateway_url}/api/v1/stats").json()
        assert stats["alerts_set_aside"] == 1
        sync = httpx.get(f"{site.gateway_url}/api/v1/sync",
                         headers={"Authorization": f"Bearer {site.tokens['staff']}"}).json()
        assert sync["central"] == "reachable" and sync["alerts_unsynced"] == 0
        assert "onestop_gateway_alerts_set_aside_total 1.0" in httpx.get(f"{site.gateway_url}/metrics").text
    finally:
        gateway.stop()


def test_device_records_central_refuses_are_counted_and_the_others_still_arrive(tmp_path):
    import gzip
    from datetime import UTC, datetime

    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from gateway.alert_store import GatewayAlerts
    from gateway.settings import CentralLinkSettings
    from gateway.sync import Syncer
    from onestop.records import DeviceHealth
    from tests.helpers import served

    # A central of another version, whose fleet route cannot take one of this gateway's device records.
    received: list[str] = []

    async def fleet(request):
        devices = json.loads(gzip.decompress(await request.body()))["devices"]
        if any(d["device"] == "kiosk-test-c" for d in devices):
            return Response('{"detail": [{"loc": ["body", "devices", 0, "kind"], "type": "value_error"}]}', 422)
        received.extend(d["device"] for d in devices)
        return Response(json.dumps({"applied": len(devices), "stale": 0}), 200)

    async def no_config(_request):
        return Response(status_code=404)

    central = Starlette(routes=[Route("/api/v1/fleet/sync", fleet, methods=["POST"]),
                                Route("/api/v1/gateways/{site}/config", no_config)])

    now = datetime.now(UTC)
    devices = [DeviceHealth(device=kiosk.device, kind="kiosk", online=True, updated_at=now) for kiosk in KIOSKS]
    store = Store(tmp_path / "gateway.db")
    with served(central) as client:
        link = CentralLinkSettings(url=str(client.base_url), token="gateway-token")
        syncer = Syncer("test-site", link, store, GatewayAlerts(store), tmp_path / "site-config.json",
                        fleet=lambda: devices)
        try:
            assert syncer.sync_once() == 0  # the round completes: nothing raised, nothing blocked
        finally:
            syncer.stop()
    assert sorted(received) == sorted(k.device for k in KIOSKS if k.device != "kiosk-test-c")
    assert store.stats()["fleet_refused"] == 1
    store.close()
