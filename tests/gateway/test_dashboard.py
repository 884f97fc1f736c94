"""The staff dashboard in a real headless Chromium: live occupancy, devices, alerts, WAN state."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from onestop import clinical, topics
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
    details = alert.locator("dl").inner_text()
    assert "922E5832" in details and device in details
    assert re.search(r"Raised\s+\w{3}, \d{1,2} \w{3} \d{4}, \d{2}:\d{2}:\d{2}", details), details
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


def screen(site, station, session: str, measurements=(), questionnaires=(), seq: int = 1, card: str = "922E5832"):
    cred = site.device_users[station]
    client = raw_client(site.broker_port, cred.username, cred.password, f"dash-hs-{seq}")
    env = new_event(station, seq, "screening", {"subject": card, "session": session, "complete": True,
                                                "measurements": list(measurements),
                                                "questionnaires": list(questionnaires)})
    client.publish(topics.event(site.site, station, "screening"), env.to_json(), qos=1).wait_for_publish(5)
    client.disconnect()


def open_view(browser, url: str, token: str, lang: str, width: int):
    context = browser.new_context(viewport={"width": width, "height": 900}, device_scale_factor=1)
    context.add_init_script(f"localStorage.setItem('onestop-lang', '{lang}')")
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    page.goto(f"{url}/#token={token}")
    page.wait_for_selector("body[data-ready=yes]", timeout=10_000)
    return page


def test_health_views_show_who_where_when_and_what_and_every_role_sees_urgent_counts(site, station, lone_gateway,
                                                                                        browser, tmp_path):
    spo2 = clinical.SPO2
    screen(site, station, SESSION, measurements=[{"code": spo2, "value": 85, "unit": "%"}])
    screen(site, station, "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c12", seq=2, card="62E3086CED",
           questionnaires=[{"instrument": "PHQ-9", "answers": [1, 1, 1, 1, 1, 1, 1, 1, 3], "score": 11}])

    # Staff may open neither alert, but see that two urgent ones wait, and for whom.
    staff = open_view(browser, site.gateway_url, site.tokens["staff"], "en", 1366)
    staff.locator("#urgent [data-team=counselling]").wait_for(timeout=10_000)
    urgent = staff.inner_text("#urgent")
    assert "clinic 1" in urgent and "counselling 1" in urgent
    assert staff.locator(".alert.urgent").count() == 0 and "922E5832" not in staff.content()
    screenshot(staff, tmp_path / "gateway-staff-en-1366.png")
    staff.context.close()

    year = str(datetime.now(UTC).year)
    for role, lang, width, card, measure, title in (
            ("clinic", "en", 1366, "922E5832", "Oxygen saturation", "Clinic: screenings to follow up"),
            ("clinic", "zh", 390, "922E5832", "血氧饱和度", "医务室：需跟进的健康筛查"),
            ("counselling", "zh", 1366, "62E3086CED", "PHQ-9 问卷", "心理咨询：需联系的学生"),
            ("counselling", "en", 390, "62E3086CED", "PHQ-9 questionnaire", "Counselling: students to contact")):
        page = open_view(browser, site.gateway_url, site.tokens[role], lang, width)
        card_view = page.locator(".alert.urgent")
        card_view.wait_for(timeout=10_000)
        text = card_view.inner_text()
        assert card in text and station in text and measure in text  # who, which station, what was measured
        assert "Skills lab" in text or "Skills Lab" in text  # where: the space's name
        assert year in card_view.locator("time").inner_text()  # an absolute time, not "2 min ago"
        assert page.inner_text("#alerts-title").lower() == title.lower()
        assert card_view.get_by_role("button").count() == 3  # acknowledge, assign, resolve
        assert card_view.get_by_role("button", name="确认接手" if lang == "zh" else "Acknowledge").count() == 1
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (role, lang, width)
        assert page.console_errors == []
        screenshot(page, tmp_path / f"gateway-{role}-{lang}-{width}.png")
        page.context.close()


def test_gateway_api_docs_render_with_no_network_beyond_the_gateway(site, lone_gateway, page):
    elsewhere: list[str] = []

    def only_the_gateway(route):
        if route.request.url.startswith(site.gateway_url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.context.route("**/*", only_the_gateway)
    page.goto(f"{site.gateway_url}/docs")
    page.locator(".swagger-ui .opblock-summary-path", has_text="/api/v1/overview").first.wait_for(timeout=20_000)
    assert elsewhere == []
