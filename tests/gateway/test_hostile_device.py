"""What one stolen or hostile device can do to a building, tried through a real Mosquitto, gateway and central
with the device's own credentials (issue #13): forged records, retained events, huge numbers, NaN, id reuse."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from harness.localsite import ServiceProcess, gateway_process
from onestop import topics
from onestop.events import MAX_COUNT, MAX_SEQ, new_event
from tests.conftest import KIOSKS
from tests.helpers import Collector, query, raw_client, wait_until

SESSION = "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11"
KIOSK, OTHER = KIOSKS[0], KIOSKS[2]  # in study-24h-2f and skills-lab-1
ALARMING = {"subject": "922E5832", "session": SESSION, "complete": True,
            "measurements": [{"code": "8480-6", "value": 200, "unit": "mm[Hg]"},
                             {"code": "8462-4", "value": 130, "unit": "mm[Hg]"}],
            "questionnaires": [{"instrument": "PHQ-9", "answers": [0, 0, 0, 0, 0, 0, 0, 0, 3], "score": 3}]}


def auth(site, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {site.tokens[role]}"}


def stats(site) -> dict:
    return httpx.get(f"{site.gateway_url}/api/v1/stats", timeout=10).json()


def central_stats(site) -> dict:
    return httpx.get(f"{site.central_url}/api/v1/stats", timeout=10).json()


def device_client(site, device: str):
    cred = site.device_users[device]
    return raw_client(site.broker_port, cred.username, cred.password, device)


def send(client, site, device: str, event_type: str, payload: bytes, retain: bool = False) -> None:
    client.publish(topics.event(site.site, device, event_type), payload, qos=1, retain=retain).wait_for_publish(10)


@pytest.fixture
def watcher(broker) -> Iterator[Collector]:
    client = raw_client(broker.broker_port, broker.observer.username, broker.observer.password, "watcher")
    collector = Collector(client, topics.site_tree(broker.site))
    yield collector
    client.loop_stop()
    client.disconnect()


@pytest.fixture
def fast_fleet_gateway(broker, central) -> Iterator[ServiceProcess]:
    """The gateway with central, sending device health every second."""
    proc = gateway_process(broker)
    proc.env["ONESTOP_GATEWAY__CENTRAL__FLEET_INTERVAL_S"] = "1"
    proc.start()
    yield proc
    proc.stop()


def test_a_kiosks_screening_and_check_in_elsewhere_are_quarantined_never_alerted_nor_synced(
        site, watcher, gateway):
    kiosk = device_client(site, KIOSK.device)
    forged = [new_event(KIOSK.device, 1, "screening", ALARMING),
              new_event(KIOSK.device, 2, "checkin", {"space": OTHER.space, "card": "922E5832"})]
    for env in forged:
        send(kiosk, site, KIOSK.device, env.type, env.to_json())
    marker = new_event(KIOSK.device, 3, "checkin", {"space": KIOSK.space, "card": "AB12CD34"})  # its own room
    send(kiosk, site, KIOSK.device, "checkin", marker.to_json())

    wait_until(lambda: central_stats(site)["events"] >= 1, timeout=60, what="the permitted check-in at central")
    time.sleep(0.5)  # alerts would have gone out before the later event was even stored
    assert stats(site)["quarantined_by_reason"] == {"not-permitted": 2}
    assert stats(site)["events"] == 1 and central_stats(site)["events"] == 1
    assert not [t for t, _, _ in watcher.messages if "/alert/" in t], "a forged screening raised an alert"
    metrics = httpx.get(f"{site.gateway_url}/metrics", timeout=10).text
    assert 'onestop_gateway_quarantined_total{reason="not-permitted"} 2.0' in metrics
    spaces = httpx.get(f"{site.gateway_url}/api/v1/spaces", headers=auth(site, "staff"), timeout=10).json()
    assert {s["id"]: s["count"] for s in spaces} == {KIOSK.space: 1, OTHER.space: 0}
    ids = {r[0] for r in query(site.path("gateway/gateway.db"), "SELECT id FROM events")}
    assert ids == {marker.id}
    kiosk.loop_stop()


def test_a_retained_event_is_counted_once_and_cleared_from_the_broker(site, lone_gateway):
    kiosk = device_client(site, KIOSK.device)
    env = new_event(KIOSK.device, 1, "heartbeat", {"uptime_s": 1, "outbox": 0})
    send(kiosk, site, KIOSK.device, "heartbeat", env.to_json(), retain=True)
    wait_until(lambda: stats(site)["events"] == 1, what="the live copy stored")
    lone_gateway.stop()
    lone_gateway.start()  # resubscribing brings the broker's retained copy back, flagged as retained
    wait_until(lambda: stats(site)["quarantined_by_reason"].get("retained") == 1, what="the retained copy counted")

    fresh = raw_client(site.broker_port, site.observer.username, site.observer.password, "fresh")
    seen = Collector(fresh, topics.site_tree(site.site))
    time.sleep(1.0)
    assert not [t for t, _, _ in seen.messages if "/evt/" in t], "the broker still holds the retained event"
    fresh.loop_stop()

    lone_gateway.stop()
    lone_gateway.start()
    time.sleep(1.0)
    after = stats(site)
    assert after["quarantined_by_reason"] == {"retained": 1} and after["events"] == 1
    assert after["duplicates"] == 0
    kiosk.loop_stop()


def test_extreme_numbers_and_nan_neither_crash_ingest_nor_stop_fleet_sync(site, fast_fleet_gateway):
    clients = {k.device: device_client(site, k.device) for k in (KIOSK, OTHER)}
    good = []
    for device, client in clients.items():
        for seq in (1, MAX_SEQ):  # the largest sequence number, from two devices: a gap of ~2**53 each
            env = new_event(device, seq, "heartbeat", {"uptime_s": 1, "outbox": 0})
            send(client, site, device, "heartbeat", env.to_json())
            good.append(env)
    bad = []
    template = new_event(KIOSK.device, 5, "heartbeat", {"uptime_s": 1, "outbox": 7}).to_json().decode()
    bad.append(template.replace('"seq":5', f'"seq":{2**63 - 1}'))
    bad.append(template.replace('"outbox":7', f'"outbox":{MAX_COUNT + 1}'))
    bad.append(template.replace('"uptime_s":1.0', '"uptime_s":NaN'))
    bad.append(template.replace('"uptime_s":1.0', '"uptime_s":Infinity'))
    bad.append(template.replace('"outbox":7', '"outbox":7,"temp":-Infinity'))
    assert all(payload != template for payload in bad)
    for payload in bad:
        send(clients[KIOSK.device], site, KIOSK.device, "heartbeat", payload.encode())
    last = new_event(KIOSK.device, 6, "heartbeat", {"uptime_s": 2, "outbox": MAX_COUNT})
    send(clients[KIOSK.device], site, KIOSK.device, "heartbeat", last.to_json())
    good.append(last)

    wait_until(lambda: stats(site)["events"] == len(good), what="every valid event stored")
    assert stats(site)["quarantined_by_reason"] == {"schema": len(bad)}
    wait_until(lambda: central_stats(site)["events"] == len(good), timeout=60, what="every valid event at central")

    def fleet_outbox() -> int | None:
        fleet = httpx.get(f"{site.central_url}/api/v1/fleet", headers=auth(site, "admin"), timeout=10).json()
        return next((d["outbox"] for d in fleet if d["device"] == KIOSK.device), None)

    wait_until(lambda: fleet_outbox() == MAX_COUNT, timeout=30, what="the largest outbox in central's fleet")

    # Central holds the same bounds: what the gateway refused, central refuses too.
    for payload in bad[:2]:
        body = {"site": site.site, "events": [{"received": time.time(), "envelope": json.loads(payload)}]}
        answer = httpx.post(f"{site.central_url}/api/v1/ingest", json=body, headers=auth(site, "gateway"), timeout=10)
        assert answer.status_code == 422, answer.text
    for client in clients.values():
        client.loop_stop()


def test_the_same_id_with_other_content_is_a_conflict_not_a_duplicate(site, lone_gateway):
    kiosk = device_client(site, KIOSK.device)
    first = new_event(KIOSK.device, 1, "heartbeat", {"uptime_s": 1, "outbox": 0})
    send(kiosk, site, KIOSK.device, "heartbeat", first.to_json())
    wait_until(lambda: stats(site)["events"] == 1, what="the first version stored")
    other = first.model_copy(update={"data": first.data.model_copy(update={"outbox": 99})})
    send(kiosk, site, KIOSK.device, "heartbeat", other.to_json())
    send(kiosk, site, KIOSK.device, "heartbeat", first.to_json())  # a plain redelivery
    wait_until(lambda: stats(site)["duplicates"] == 1, what="the redelivery counted")
    after = stats(site)
    assert after["conflicts"] == 1 and after["events"] == 1
    [(event_id, payload)] = query(site.path("gateway/gateway.db"), "SELECT id, payload FROM events")
    assert json.loads(site.sealer().open(payload, event_id.encode()))["data"]["outbox"] == 0
    listed = httpx.get(f"{site.gateway_url}/api/v1/quarantine", headers=auth(site, "technician"), timeout=10).json()
    assert [q["reason"] for q in listed] == ["conflict"]
    kiosk.loop_stop()
