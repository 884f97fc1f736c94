"""Central shows each role the alerts of its teams only, by the gateway's rule, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from central.api import create_app
from harness.netutil import free_port
from tests.central.factories import alert, records_body
from web.http import HttpServer, HttpSettings

CARD = "922E5832"


@pytest.fixture
def central(settings, store, tokens) -> Iterator[str]:
    """A central server on a free port holding one open alert per team, synced by north-b3's gateway."""
    port = free_port()
    server = HttpServer(create_app(settings, store), HttpSettings(port=port))
    server.start()
    url = f"http://127.0.0.1:{port}"
    alerts = [alert(team="clinic", rule="bp-crisis", severity="urgent", summary="Blood pressure crisis",
                    device="hs-north-1", subject=CARD),
              alert(team="counselling", rule="phq9-item9", severity="urgent", summary="PHQ-9 item 9",
                    device="hs-north-1", subject=CARD),
              alert(team="facilities"), alert(team="technicians", rule="device-offline", device="kiosk-n-1")]
    sync = httpx.post(f"{url}/api/v1/alerts/sync", json=records_body("alerts", "north-b3", alerts),
                      headers=tokens.header("gateway:north-b3"))
    assert sync.status_code == 200
    yield url
    server.stop()


def seen(url: str, tokens, role: str, **params: str) -> tuple[list[str], list[str]]:
    """The teams of the alerts ``role`` lists, and the teams its summary counts."""
    listed = httpx.get(f"{url}/api/v1/alerts", params=params, headers=tokens.header(role))
    summary = httpx.get(f"{url}/api/v1/alerts/summary", headers=tokens.header(role))
    assert listed.status_code == summary.status_code == 200
    return sorted(a["team"] for a in listed.json()), sorted(summary.json())


def test_staff_see_no_clinic_or_counselling_alert(central, tokens):
    assert seen(central, tokens, "staff") == (["facilities", "technicians"], ["facilities", "technicians"])
    assert seen(central, tokens, "staff", team="clinic") == ([], ["facilities", "technicians"])
    assert seen(central, tokens, "staff", team="counselling")[0] == []


def test_the_clinic_and_counselling_see_their_own_teams_alerts_with_the_card(central, tokens):
    assert seen(central, tokens, "clinic") == (["clinic"], ["clinic"])
    assert seen(central, tokens, "counselling") == (["counselling"], ["counselling"])
    assert seen(central, tokens, "clinic", team="counselling")[0] == []
    listed = httpx.get(f"{central}/api/v1/alerts", headers=tokens.header("clinic")).json()
    assert [a["subject"] for a in listed] == [CARD]


def test_other_roles_follow_the_gateways_rule(central, tokens):
    assert seen(central, tokens, "facilities") == (["facilities"], ["facilities"])
    assert seen(central, tokens, "technician") == (["technicians"], ["technicians"])
    everything = ["clinic", "counselling", "facilities", "technicians"]
    assert seen(central, tokens, "admin") == (everything, everything)
    listed = httpx.get(f"{central}/api/v1/alerts", headers=tokens.header("admin")).json()
    assert all(a["subject"] is None for a in listed)  # admins run the system; they do not read health data
