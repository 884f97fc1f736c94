"""The staff dashboard in a real headless Chromium: live occupancy, devices, alerts, WAN state."""

from __future__ import annotations

import json
import re

import pytest

from onestop import topics
from onestop.events import new_event
from tests.browser import new_page, screenshot
from tests.conftest import KIOSKS
from tests.helpers import raw_client

SESSION = "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11"


@pytest.fixture
def page(browser):
    page = new_page(browser)
    yield page
    unexpected = [e for e in page.console_errors if "status of 401" not in e]  # a refused token is expected
    assert not unexpected, unexpected
    page.context.close()


def test_dashboard_shows_occupancy_alerts_and_devices_and_updates_live(site, lone_gateway, page, tmp_path):
    device = KIOSKS[0].device
    cred = site.device_users[device]
    client = raw_client(site.broker_port, cred.username, cred.password, "dash-device")
    client.publish(topics.state(site.site, device), json.dumps({"online": True, "boot": "b1", "kind": "kiosk",
                                                               "fw": "9.9"}), qos=1, retain=True).wait_for_publish(5)
    seq = 0

    def send(event_type, data):
        nonlocal seq
        seq += 1
        env = new_event(device, seq, event_type, data)
        client.publish(topics.event(site.site, device, event_type), env.to_json(), qos=1).wait_for_publish(5)

    send("checkin", {"space": KIOSKS[0].space, "card": "CC000001"})
    page.goto(f"{site.gateway_url}/#token={site.tokens['staff']}")
    space = page.locator(f'[data-space="{KIOSKS[0].space}"] .count')
    space.filter(has_text="1").wait_for(timeout=10_000)
    assert "token" not in page.url  # the token leaves the address bar at once
    page.locator(f'[data-device="{device}"]').filter(has_text="online").wait_for(timeout=10_000)
    assert "9.9" in page.locator(f'[data-device="{device}"]').inner_text()
    assert "unreachable" in page.locator("#wan").inner_text() or "unknown" in page.locator("#wan").inner_text()

    # Live: new taps and an over-capacity notice appear without reloading.
    send("checkin", {"space": KIOSKS[0].space, "card": "CC000002"})
    space.filter(has_text="2").wait_for(timeout=10_000)
    screenshot(page, tmp_path / "gateway-dashboard.png")


def test_dashboard_lets_the_clinic_acknowledge_and_resolve_after_confirming_and_hides_devices(site, station,
                                                                                               lone_gateway, page):
    device = station
    cred = site.device_users[device]
    client = raw_client(site.broker_port, cred.username, cred.password, "dash-hs")
    env = new_event(device, 1, "screening", {"subject": "922E5832", "session": SESSION, "complete": True,
                                             "measurements": [{"code": "59408-5", "value": 88, "unit": "%"}]})
    client.publish(topics.event(site.site, device, "screening"), env.to_json(), qos=1).wait_for_publish(5)
    page.goto(f"{site.gateway_url}/#token={site.tokens['clinic']}")
    alert = page.locator(".alert.urgent")
    alert.wait_for(timeout=10_000)
    assert "88" not in alert.inner_text()
    # Who and where, with an absolute time: the clinic's view (issue #16).
    where = alert.locator(".where").inner_text()
    assert "922E5832" in where and f"station {device}" in where
    assert re.search(r"raised \d{4}-\d{2}-\d{2} \d{2}:\d{2} \(", alert.inner_text())
    assert page.locator("#devices-section").is_hidden()
    alert.get_by_role("button", name="Acknowledge").click()
    page.locator(".alert.urgent").filter(has_text="acknowledged").wait_for(timeout=10_000)
    assert "acknowledged by local-clinic" in alert.inner_text()
    alert.get_by_role("button", name="Resolve").click()
    # A confirmation step in the alert itself, focused on its note; nothing is resolved yet, and the 2 s
    # refresh does not wipe it.
    step = alert.get_by_role("group", name="Resolve this alert?")
    step.wait_for(timeout=5_000)
    note = step.get_by_label("Note (optional)")
    assert note.evaluate("el => el === document.activeElement")
    before = page.inner_text("#updated")
    page.wait_for_function("(text) => document.getElementById('updated').textContent !== text", arg=before,
                           timeout=5_000)  # a refresh has run
    assert step.is_visible() and note.evaluate("el => el === document.activeElement")
    listed = """async (token) => (await (await fetch('/api/v1/alerts',
        { headers: { Authorization: 'Bearer ' + token } })).json())"""
    assert [a["status"] for a in page.evaluate(listed, site.tokens["clinic"])] == ["acknowledged"]
    note.fill("Seen in clinic, sent home")
    step.get_by_role("button", name="Confirm resolve").click()
    page.get_by_text("No open alerts.").wait_for(timeout=10_000)
    (resolved,) = page.evaluate(listed, site.tokens["clinic"])
    assert (resolved["status"], resolved["history"][-1]["note"]) == ("resolved", "Seen in clinic, sent home")


def test_dashboard_asks_for_a_token_and_rejects_a_wrong_one(site, lone_gateway, page):
    page.goto(site.gateway_url)
    page.locator("#login").wait_for(state="visible", timeout=10_000)
    page.fill("#token", "not-a-token")
    page.click("#signin")
    page.get_by_text("That token was not accepted.").wait_for(timeout=10_000)
