"""The alert lifecycle both ways, with real parts: Mosquitto, the gateway and central in their own processes,
and a fault proxy as the WAN between them.

Acknowledge at central reaches the gateway within seconds; with the WAN down, a resolve at the gateway and an
acknowledge at central each stand on their side, and once it is back the later one wins on both, with both
kept in the history; an assignment shows on both sides; response times appear in the gateway's API and
metrics.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from harness.localsite import gateway_process
from harness.netutil import free_port
from harness.proxy import FaultProxy
from onestop import topics
from onestop.events import new_event
from tests.helpers import raw_client, wait_until


@pytest.fixture
def wan(site, station):
    """The gateway reaches central through a fault proxy (set up before the broker and central start)."""
    site.central_link_port = free_port()
    site.write()
    with FaultProxy(site.central_port, port=site.central_link_port, lifetime_s=120) as proxy:
        yield proxy


@pytest.fixture
def linked_gateway(wan, broker, central):
    proc = gateway_process(broker)
    proc.start()
    yield proc
    proc.stop()


def test_actions_at_central_and_at_the_offline_gateway_converge_and_the_later_wins(site, station, wan,
                                                                                    linked_gateway):
    clinic = {"Authorization": f"Bearer {site.tokens['clinic']}"}
    gateway = httpx.Client(base_url=site.gateway_url, headers=clinic, timeout=10)
    central = httpx.Client(base_url=site.central_url, headers=clinic, timeout=10)
    cred = site.device_users[station]
    device = raw_client(site.broker_port, cred.username, cred.password, "lifecycle-hs")
    cards = ["A1000001", "A1000002", "A1000003"]
    for seq, card in enumerate(cards, 1):  # SpO2 88 %: an urgent clinic alert per student
        env = new_event(station, seq, "screening", {"subject": card, "session": str(uuid.uuid4()), "complete": True,
                                                    "measurements": [{"code": "59408-5", "value": 88, "unit": "%"}]})
        device.publish(topics.event(site.site, station, "screening"), env.to_json(), qos=1).wait_for_publish(5)

    def by_card(client):
        return {a["subject"]: a for a in client.get("/api/v1/alerts").json()}

    wait_until(lambda: set(cards) <= set(by_card(central)), timeout=30, what="the alerts synced to central")
    ids = {card: alert["id"] for card, alert in by_card(central).items()}
    first, second, third = (ids[c] for c in cards)

    # Acknowledge at central: the gateway shows it within seconds, with who and the note.
    started = time.monotonic()
    assert central.post(f"/api/v1/alerts/{first}/acknowledge", json={"note": "called the student"}).status_code == 200
    shown = wait_until(lambda: (a := by_card(gateway)[cards[0]])["status"] == "acknowledged" and a, timeout=10,
                       what="central's acknowledge at the gateway")
    took = time.monotonic() - started
    assert [(h["action"], h["by"], h["note"]) for h in shown["history"]] == [
        ("acknowledge", "local-clinic", "called the student")]
    assert took < 5, took

    # Assigned at the gateway: central shows it.
    assert gateway.post(f"/api/v1/alerts/{first}/assign", json={"assignee": "Dr Chen"}).status_code == 200
    wait_until(lambda: by_card(central)[cards[0]]["assigned_to"] == "Dr Chen", timeout=10,
               what="the assignment at central")

    # WAN down. Second alert: resolved at the gateway, then acknowledged at central (later): acknowledged wins.
    # Third alert: acknowledged at central, then resolved at the gateway (later): resolved wins.
    wan.cut()
    assert central.post(f"/api/v1/alerts/{third}/acknowledge").status_code == 200
    assert gateway.post(f"/api/v1/alerts/{second}/resolve", json={"note": "seen in clinic"}).status_code == 200
    assert gateway.post(f"/api/v1/alerts/{third}/resolve").status_code == 200
    assert central.post(f"/api/v1/alerts/{second}/acknowledge").status_code == 200
    assert by_card(gateway)[cards[1]]["status"] == "resolved"  # each side keeps its own until they meet
    assert by_card(central)[cards[1]]["status"] == "acknowledged"
    wan.set_mode("pass")

    def converged():
        here, there = by_card(gateway), by_card(central)
        return all(here[c]["history"] == there[c]["history"] and len(here[c]["history"]) == 2 for c in cards[1:])

    wait_until(converged, timeout=30, what="both sides to agree once the WAN is back")
    for client in (gateway, central):
        alerts = by_card(client)
        assert alerts[cards[1]]["status"] == "acknowledged"
        assert [h["action"] for h in alerts[cards[1]]["history"]] == ["resolve", "acknowledge"]
        assert alerts[cards[1]]["history"][0]["note"] == "seen in clinic"
        assert (alerts[cards[2]]["status"], alerts[cards[2]]["resolved_by"]) == ("resolved", "local-clinic")
        assert alerts[cards[0]]["assigned_to"] == "Dr Chen"

    # Response times: three alerts answered by a person, one of them resolved.
    (clinic_urgent,) = gateway.get("/api/v1/alerts/stats").json()
    assert (clinic_urgent["team"], clinic_urgent["severity"], clinic_urgent["alerts"],
            clinic_urgent["acknowledged"], clinic_urgent["resolved"]) == ("clinic", "urgent", 3, 3, 1)
    for bad in ({"since": "0001-01-01T00:00:00+01:00"},
                {"since": "2026-01-01T00:00:00Z", "until": "2025-01-01T00:00:00Z"}):
        assert gateway.get("/api/v1/alerts/stats", params=bad).status_code == 400
    metrics = httpx.get(f"{site.gateway_url}/metrics").text
    assert 'onestop_gateway_alert_acknowledge_seconds_count{severity="urgent",team="clinic"} 3.0' in metrics
    assert 'onestop_gateway_alert_resolve_seconds_count{severity="urgent",team="clinic"} 1.0' in metrics
