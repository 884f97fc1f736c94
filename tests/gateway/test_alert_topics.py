"""What a staff display receives on ``alert/{team}``, through a real Mosquitto from a running gateway."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from harness.localsite import LocalSite, gateway_process
from onestop import topics
from onestop.events import new_event
from tests.helpers import Collector, raw_client, wait_until

CARD = "04D73A5C9F12"
STATION = "hs-test-alerts"


@pytest.fixture
def running(site: LocalSite) -> Iterator[LocalSite]:
    """Broker and gateway (no central) for a site with one health station."""
    site.add_device(STATION, kind="health-station", space="skills-lab-1")
    site.broker.start()
    gateway = gateway_process(site)
    gateway.start()
    yield site
    gateway.stop()
    site.broker.stop()


def test_an_urgent_screening_reaches_the_teams_topics_without_the_students_card(running):
    site = running
    display = raw_client(site.broker_port, site.observer.username, site.observer.password, "display")
    alerts = Collector(display, f"{topics.PREFIX}/{site.site}/alert/#")
    station = site.device_users[STATION]
    device = raw_client(site.broker_port, station.username, station.password, STATION)
    env = new_event(STATION, 1, "screening", {
        "subject": CARD, "session": "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11", "complete": True,
        "measurements": [{"code": "8480-6", "value": 191, "unit": "mm[Hg]"},
                         {"code": "8462-4", "value": 126, "unit": "mm[Hg]"}],
        "questionnaires": [{"instrument": "PHQ-9", "answers": [0, 0, 0, 0, 0, 0, 0, 0, 3], "score": 3}]})
    device.publish(topics.event(site.site, STATION, "screening"), env.to_json(), qos=1).wait_for_publish(10)
    try:
        wait_until(lambda: alerts.on("alert/clinic") and alerts.on("alert/counselling"),
                   what="urgent alerts for the clinic and for counselling")
        for payload in alerts.on("alert/clinic") + alerts.on("alert/counselling"):
            alert = json.loads(payload)
            assert alert["severity"] == "urgent" and alert["event_id"] == env.id
            assert "subject" not in alert
            assert CARD.encode() not in payload and CARD.lower().encode() not in payload
    finally:
        for client in (display, device):
            client.loop_stop()
            client.disconnect()
