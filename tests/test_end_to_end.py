"""The walking skeleton: taps at headless kiosks travel through a real broker to the gateway and central."""

from __future__ import annotations

import time

import httpx

from tests.conftest import KIOSKS
from tests.helpers import query, wait_until

TAP_TYPES = ("checkin", "checkout")


def stored_ids(db, table_filter="type IN ('checkin', 'checkout')"):
    return [row[0] for row in query(db, f"SELECT id FROM events WHERE {table_filter}")]


def test_taps_arrive_exactly_once_at_gateway_and_central(site, gateway, kiosk_factory):
    kiosks = [kiosk_factory(k.device) for k in KIOSKS]
    made = []
    for i in range(90):
        tap = kiosks[i % len(kiosks)].handle_card(f"{0xA0000000 + i // 2:08X}")  # each card in, then out
        assert tap.event is not None
        made.append(tap.event.id)
    gateway_db = site.path("gateway/gateway.db")
    central_db = site.path("central/central.db")
    wait_until(lambda: len(stored_ids(central_db)) >= len(made), timeout=30, what="events at central")

    at_gateway, at_central = stored_ids(gateway_db), stored_ids(central_db)
    assert sorted(at_gateway) == sorted(made)
    assert sorted(at_central) == sorted(made)
    stats = httpx.get(f"{site.central_url}/api/v1/stats").json()
    assert stats["duplicates"] == 0 and stats["events"] >= len(made)
    per_device = query(central_db, "SELECT device, count(*), min(seq), max(seq) FROM events "
                                   "WHERE type IN ('checkin','checkout') GROUP BY device ORDER BY device")
    assert per_device == [(k.device, 30, 1, 30) for k in sorted(KIOSKS, key=lambda k: k.device)]


def test_taps_while_the_broker_is_down_are_delivered_once_it_returns(site, gateway, kiosk_factory):
    kiosk = kiosk_factory(KIOSKS[0].device)
    wait_until(lambda: kiosk.link.connected, what="kiosk connected")
    site.broker.stop()
    wait_until(lambda: not kiosk.link.connected, what="kiosk notices the broker is gone")
    offline = [kiosk.handle_card(f"B000{i:04X}") for i in range(10)]
    assert all(t.decision.feedback == "welcome" for t in offline)  # instant feedback without the network
    assert kiosk.outbox.depth() >= 10
    site.broker.start()
    gateway_db = site.path("gateway/gateway.db")
    ids = {t.event.id for t in offline}
    wait_until(lambda: ids <= set(stored_ids(gateway_db)), timeout=60, what="offline taps at the gateway")
    wait_until(lambda: kiosk.outbox.depth() == 0, what="outbox drained")
    assert sorted(stored_ids(gateway_db)) == sorted(ids)


def test_gateway_and_central_refuse_api_calls_without_the_right_token(site, gateway):
    body = b'{"site": "test-site", "events": []}'
    url = f"{site.central_url}/api/v1/ingest"
    assert httpx.post(url, content=body).status_code == 401
    assert httpx.post(url, content=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    staff = {"Authorization": f"Bearer {site.tokens['staff']}"}
    assert httpx.post(url, content=body, headers=staff).status_code == 403
    ok = httpx.post(url, content=body, headers={"Authorization": f"Bearer {site.tokens['gateway']}"})
    assert ok.status_code == 200 and ok.json() == {"new": 0, "duplicates": 0, "conflicts": 0, "erased": 0}


def test_events_the_broker_acknowledged_survive_a_broker_crash(site, broker, kiosk_factory):
    from harness.localsite import gateway_process

    gateway = gateway_process(site)
    gateway.start()
    gateway.stop()  # its persistent session stays: the broker now queues events for it
    stopped = time.time()
    saved = site.broker.layout.data / "mosquitto.db"
    # The broker writes its state every 5 s: wait for a save that holds the gateway's session.
    wait_until(lambda: saved.exists() and saved.stat().st_mtime > stopped, timeout=15, what="broker autosave")
    kiosk = kiosk_factory(KIOSKS[0].device)
    wait_until(lambda: kiosk.link.connected, what="kiosk connected")
    taps = [kiosk.handle_card(f"D000{i:04X}") for i in range(40)]
    wait_until(lambda: kiosk.outbox.depth() == 0, what="every tap acknowledged by the broker")
    site.broker.kill()  # before its next autosave: what it acknowledged was only in memory
    site.broker.start()
    gateway.start()
    try:
        ids = {t.event.id for t in taps}
        db = site.path("gateway/gateway.db")
        wait_until(lambda: ids <= set(stored_ids(db)), timeout=60, what="every acknowledged tap at the gateway")
        assert sorted(stored_ids(db)) == sorted(ids)
    finally:
        gateway.stop()
