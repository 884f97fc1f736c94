"""The gateway against a real broker and real SQLite: occupancy, alerts, device health, quarantine, roles."""

from __future__ import annotations

import json
import os
import signal
import time

import httpx
import pytest

from onestop import topics
from onestop.events import new_event
from tests.conftest import KIOSKS
from tests.helpers import Collector, query, raw_client, wait_until

SESSION = "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11"


def auth(site, role):
    return {"Authorization": f"Bearer {site.tokens[role]}"}


@pytest.fixture
def watcher(broker):
    client = raw_client(broker.broker_port, broker.observer.username, broker.observer.password, "watcher")
    collector = Collector(client, topics.site_tree(broker.site))
    yield collector
    client.loop_stop()
    client.disconnect()


def device_client(site, device):
    cred = site.device_users[device]
    return raw_client(site.broker_port, cred.username, cred.password, f"raw-{device}")


def publish(client, site, env):
    info = client.publish(topics.event(site.site, env.device, env.type), env.to_json(), qos=1)
    info.wait_for_publish(10)


def test_taps_update_occupancy_and_the_retained_topic(site, lone_gateway, kiosk_factory, watcher):
    kiosk = kiosk_factory(KIOSKS[0].device)
    for card in ("AA000001", "AA000002", "AA000003"):
        kiosk.handle_card(card)
    kiosk.handle_card("AA000001")  # leaves

    def count():
        spaces = httpx.get(f"{site.gateway_url}/api/v1/spaces", headers=auth(site, "staff")).json()
        return next(s["count"] for s in spaces if s["id"] == KIOSKS[0].space) == 2

    wait_until(count, what="occupancy 2 at the gateway")
    wait_until(lambda: json.loads(watcher.on(f"space/{KIOSKS[0].space}/occupancy")[-1])["count"] == 2,
               what="retained occupancy published")
    latest = json.loads(watcher.on(f"space/{KIOSKS[0].space}/occupancy")[-1])
    assert latest["capacity"] == KIOSKS[0].capacity and latest["space"] == KIOSKS[0].space


def test_an_urgent_screening_alerts_the_clinic_and_is_acknowledged_and_resolved(site, station, lone_gateway,
                                                                                 watcher):
    device = station
    client = device_client(site, device)
    env = new_event(device, 1, "screening", {"subject": "922E5832", "session": SESSION, "complete": True,
                                             "measurements": [{"code": "8480-6", "value": 190, "unit": "mm[Hg]"},
                                                              {"code": "8462-4", "value": 125, "unit": "mm[Hg]"}]})
    publish(client, site, env)
    wait_until(lambda: watcher.on("alert/clinic"), what="alert on alert/clinic")
    alert = json.loads(watcher.on("alert/clinic")[0])
    assert alert["severity"] == "urgent" and alert["event_id"] == env.id
    assert "190" not in alert["summary"]

    url = f"{site.gateway_url}/api/v1/alerts"
    as_clinic = httpx.get(url, headers=auth(site, "clinic")).json()
    assert [a["id"] for a in as_clinic] == [alert["id"]] and as_clinic[0]["subject"] == "922E5832"
    assert httpx.get(url, headers=auth(site, "facilities")).json() == []  # not their team
    as_admin = httpx.get(url, headers=auth(site, "admin")).json()
    assert as_admin[0]["subject"] is None  # admins run the system; they do not read health data
    assert httpx.post(f"{url}/{alert['id']}/acknowledge", headers=auth(site, "facilities")).status_code == 404
    acked = httpx.post(f"{url}/{alert['id']}/acknowledge", headers=auth(site, "clinic")).json()
    assert acked["status"] == "acknowledged" and acked["acknowledged_by"] == "local-clinic"
    assert httpx.post(f"{url}/{alert['id']}/acknowledge", headers=auth(site, "clinic")).status_code == 409
    done = httpx.post(f"{url}/{alert['id']}/resolve", headers=auth(site, "clinic")).json()
    assert done["status"] == "resolved" and done["resolved_at"]
    client.loop_stop()


def test_bad_payloads_are_quarantined_with_reasons_and_ingest_carries_on(site, lone_gateway):
    device = KIOSKS[0].device
    client = device_client(site, device)
    good = new_event(device, 1, "checkin", {"space": KIOSKS[0].space, "card": "AB12CD34"})
    body = json.loads(good.to_json())
    corpus = {
        "invalid-json": (good.type, b"{this is not json"),
        "schema": (good.type, json.dumps({**body, "seq": "x"}).encode()),
        # over the contract's 16 KiB, under the broker's packet bound (beyond it the broker drops the device)
        "too-large": (good.type, json.dumps({**body, "pad": "x" * 20_000}).encode()),
        "device-mismatch": (good.type, json.dumps({**body, "device": "kiosk-someone-else"}).encode()),
        "version": (good.type, json.dumps({**body, "v": 9}).encode()),
        "type-mismatch": ("checkout", good.to_json()),
    }
    for event_type, payload in corpus.values():
        client.publish(topics.event(site.site, device, event_type), payload, qos=1).wait_for_publish(10)
    publish(client, site, good)
    db = site.path("gateway/gateway.db")
    wait_until(lambda: query(db, "SELECT count(*) FROM events WHERE id = ?", good.id)[0][0] == 1,
               what="the good event after the bad ones")
    stats = httpx.get(f"{site.gateway_url}/api/v1/stats").json()
    assert stats["quarantined_by_reason"] == {reason: 1 for reason in corpus}
    listed = httpx.get(f"{site.gateway_url}/api/v1/quarantine", headers=auth(site, "technician")).json()
    assert sorted(q["reason"] for q in listed) == sorted(corpus)
    assert all("payload" not in q for q in listed)
    metrics = httpx.get(f"{site.gateway_url}/metrics").text
    assert 'onestop_gateway_quarantined_total{reason="too-large"} 1.0' in metrics
    log = site.path("logs/gateway.log").read_text()
    assert "AB12CD34" not in log and "quarantined message" in log
    client.loop_stop()


def test_every_event_the_broker_accepted_is_stored_once_across_a_gateway_crash(site, lone_gateway):
    devices = [k.device for k in KIOSKS]
    clients = {d: device_client(site, d) for d in devices}
    made, infos = [], []
    per_device = 1500
    for seq in range(1, per_device + 1):
        for device in devices:
            env = new_event(device, seq, "heartbeat", {"uptime_s": seq, "outbox": 0})
            made.append(env.id)
            infos.append(clients[device].publish(topics.event(site.site, device, "heartbeat"), env.to_json(), qos=1))
        if seq == per_device // 3:
            os.kill(lone_gateway._proc.pid, signal.SIGKILL)  # mid-burst, without warning
    for info in infos:
        info.wait_for_publish(30)  # the broker accepted every one (PUBACK)
    lone_gateway._proc.wait()
    lone_gateway.start()
    db = site.path("gateway/gateway.db")
    wait_until(lambda: query(db, "SELECT count(*) FROM events")[0][0] >= len(made), timeout=60,
               what="every accepted event stored")
    time.sleep(1)  # anything redelivered late would show up as an extra row or a duplicate count
    ids = [row[0] for row in query(db, "SELECT id FROM events")]
    assert sorted(ids) == sorted(made)
    for client in clients.values():
        client.loop_stop()


def test_device_health_follows_birth_goodbye_and_will(site, lone_gateway, kiosk_factory):
    kiosk = kiosk_factory(KIOSKS[1].device)
    url = f"{site.gateway_url}/api/v1/devices"

    def status():
        return {d["device"]: d for d in httpx.get(url, headers=auth(site, "technician")).json()}

    wait_until(lambda: status().get(KIOSKS[1].device, {}).get("online"), what="kiosk online")
    record = status()[KIOSKS[1].device]
    assert record["kind"] == "kiosk" and record["fw"] and record["boot"] == kiosk.link.boot
    kiosk.stop()  # a clean stop says goodbye on the state topic
    wait_until(lambda: status()[KIOSKS[1].device]["online"] is False, what="kiosk offline after its goodbye")

    # A crash: the broker publishes the Last Will when the connection drops without a DISCONNECT.
    device = KIOSKS[0].device
    cred = site.device_users[device]
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    crasher = paho.Client(CallbackAPIVersion.VERSION2, client_id=device, protocol=paho.MQTTv5)
    crasher.username_pw_set(cred.username, cred.password)
    crasher.will_set(topics.state(site.site, device), json.dumps({"online": False, "boot": "b7"}), 1, True)
    crasher.connect("127.0.0.1", site.broker_port)
    crasher.loop_start()
    wait_until(crasher.is_connected, what="crasher connected")
    crasher.publish(topics.state(site.site, device), json.dumps({"online": True, "boot": "b7", "kind": "kiosk"}),
                    1, True).wait_for_publish(5)
    wait_until(lambda: status().get(device, {}).get("online"), what="second device online")
    crasher.loop_stop()
    crasher.socket().close()  # no DISCONNECT: the broker sees a dead connection
    wait_until(lambda: status()[device]["online"] is False, what="device offline after its Will")


ROUTES = [("GET", "/api/v1/spaces"), ("GET", "/api/v1/devices"), ("GET", "/api/v1/alerts"),
          ("POST", "/api/v1/alerts/x/acknowledge"), ("POST", "/api/v1/alerts/x/resolve"),
          ("POST", "/api/v1/alerts/x/assign"), ("GET", "/api/v1/alerts/stats"),
          ("GET", "/api/v1/sync"), ("GET", "/api/v1/quarantine"), ("GET", "/api/v1/overview"),
          ("GET", "/api/v1/dead-letters"), ("GET", "/api/v1/work-orders"), ("GET", "/api/v1/work-orders/x"),
          ("POST", "/api/v1/work-orders/x")]
ALLOWED = {
    "/api/v1/devices": {"staff", "facilities", "technician", "admin"},
    "/api/v1/sync": {"staff", "facilities", "technician", "admin"},
    "/api/v1/quarantine": {"technician", "admin"},
    "/api/v1/dead-letters": {"technician", "admin"},
}


def test_role_matrix_for_every_route(site, lone_gateway):
    documented = httpx.get(f"{site.gateway_url}/openapi.json").json()["paths"]
    open_routes = {"/healthz", "/metrics", "/api/v1/stats", "/auth/me"}  # /auth/me: the caller's own session
    assert {p.replace("{alert_id}", "x").replace("{order_id}", "x") for p in documented} == \
        {r for _, r in ROUTES} | open_routes
    for method, route in ROUTES:
        url = site.gateway_url + route
        assert httpx.request(method, url).status_code == 401, route
        assert httpx.request(method, url, headers={"Authorization": "Bearer wrong"}).status_code == 401, route
        for role in site.tokens:
            body = {"json": {"assignee": "Someone"}} if method == "POST" else {}
            code = httpx.request(method, url, headers=auth(site, role), **body).status_code
            allowed = ALLOWED.get(route, set(site.tokens) - {"gateway"})
            if role in allowed:
                # 404: alert or work order "x" does not exist; 422: a change needs a body
                assert code in ((200, 404, 422) if method == "POST" and "work-orders" in route else (200, 404)), \
                    (route, role, code)
            else:
                assert code == 403, (route, role, code)


def test_a_device_offline_alert_is_resolved_by_the_system_when_the_device_comes_back(site, broker, watcher):
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from harness.localsite import gateway_process

    gateway = gateway_process(site)
    gateway.env["ONESTOP_GATEWAY__HEALTH__OFFLINE_ALERT_MIN"] = "0"  # alert at the first tick offline
    gateway.start()
    device = KIOSKS[0].device
    cred = site.device_users[device]
    state = topics.state(site.site, device)

    def connect(boot: str):
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=device, protocol=paho.MQTTv5)
        client.username_pw_set(cred.username, cred.password)
        client.will_set(state, json.dumps({"online": False, "boot": boot}), 1, True)
        client.connect("127.0.0.1", site.broker_port)
        client.loop_start()
        wait_until(client.is_connected, what="device connected")
        client.publish(state, json.dumps({"online": True, "boot": boot, "kind": "kiosk"}), 1, True).wait_for_publish(5)
        return client

    def offline_alerts():
        alerts = httpx.get(f"{site.gateway_url}/api/v1/alerts", headers=auth(site, "technician")).json()
        return [a for a in alerts if a["rule"] == "device-offline" and a["device"] == device]

    try:
        first = connect("b1")
        wait_until(lambda: any(d["device"] == device and d["online"] for d in httpx.get(
            f"{site.gateway_url}/api/v1/devices", headers=auth(site, "technician")).json()), what="device online")
        first.loop_stop()
        first.socket().close()  # a crash: the broker publishes the Will
        wait_until(lambda: [a for a in offline_alerts() if a["status"] == "open"], what="offline alert raised")
        back = connect("b2")  # the device restarts: a fresh birth
        wait_until(lambda: offline_alerts()[0]["status"] == "resolved", what="offline alert resolved")
        (alert,) = offline_alerts()
        assert alert["resolved_by"] == "system" and alert["resolved_at"]

        def shown() -> list[str]:
            return [m["status"] for m in map(json.loads, watcher.on("alert/technicians")) if m["id"] == alert["id"]]

        wait_until(lambda: len(shown()) >= 2, what="the resolved alert on the technicians' topic")
        assert shown() == ["open", "resolved"]
        back.loop_stop()
        back.disconnect()
    finally:
        gateway.stop()


def test_failed_ticks_are_counted_and_ticking_resumes(site, broker, monkeypatch):
    from gateway.service import Gateway
    from gateway.settings import load

    monkeypatch.setenv("ONESTOP_GATEWAY__STORAGE__CHECK_INTERVAL_S", "1")  # the storage bound: every tick
    gateway = Gateway(load(site.path("gateway.toml")))
    gateway.start()

    def failures() -> float:
        text = httpx.get(f"{site.gateway_url}/metrics").text
        line = next(x for x in text.splitlines() if x.startswith("onestop_gateway_tick_failures_total "))
        return float(line.split()[1])

    def refuse_writes(on: bool) -> None:
        # What a card whose filesystem was remounted read-only after an error does: SQLITE_READONLY.
        gateway.store.write_fn(lambda conn: conn.execute(f"PRAGMA query_only = {int(on)}"), transaction=False)

    try:
        assert failures() == 0
        refuse_writes(True)
        wait_until(lambda: failures() >= 2, timeout=10, what="failed ticks counted")
        refuse_writes(False)
        time.sleep(1.5)
        settled = failures()
        time.sleep(2.5)
        assert failures() == settled  # ticking again without failing
    finally:
        gateway.stop()


def test_a_full_disk_is_reported_with_its_file_and_writing_resumes_when_space_returns(site, broker, caplog):
    from gateway.service import Gateway
    from gateway.settings import load

    gateway = Gateway(load(site.path("gateway.toml")))
    gateway.start()
    wait_until(lambda: gateway.consumer.client.connected, what="gateway subscribed")  # else events pass it by
    store = gateway.store
    kiosk = KIOSKS[0].device
    cred = site.device_users[kiosk]
    client = raw_client(site.broker_port, cred.username, cred.password, kiosk)
    events = [new_event(kiosk, seq, "heartbeat", {"uptime_s": seq, "outbox": 0, "pad": "x" * 500})
              for seq in range(1, 301)]
    try:
        def no_growth(conn):  # the database may not grow by one page: SQLite answers SQLITE_FULL, as on a full disk
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages}")
        store.write_fn(no_growth, transaction=False)
        for env in events:
            publish(client, site, env)
        wait_until(lambda: any("is full" in r.getMessage() for r in caplog.records), what="full disk reported")
        messages = [r.getMessage() for r in caplog.records]
        full = next(m for m in messages if "is full" in m)
        assert str(site.path("gateway/gateway.db")) in full and "bytes free" in full
        assert not [m for m in messages if "cannot rollback" in m]
        # The first batch, handed over while the ingest thread was free, may be a few events that fit in the
        # file's free pages; the rest is neither stored nor acknowledged: the broker keeps it.
        assert store.stats()["events"] < len(events)

        # space returns
        store.write_fn(lambda conn: conn.execute("PRAGMA max_page_count = 1073741823"), transaction=False)
        wait_until(lambda: store.stats()["events"] == len(events), what="every event stored once space returned")
        assert {r[0] for r in query(site.path("gateway/gateway.db"), "SELECT id FROM events")} == {e.id for e in events}
        assert any("storing again" in r.getMessage() for r in caplog.records)
    finally:
        client.loop_stop()
        client.disconnect()
        gateway.stop()
