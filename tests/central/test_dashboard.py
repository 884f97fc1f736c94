"""The campus dashboard in headless Chromium, against a real HTTP server holding simulated history."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from central.api import create_app
from central.ingest import IngestItem
from central.simulation import Scenario, envelopes, simulate
from harness.netutil import free_port
from onestop.site import OpeningHours, SiteConfig, SpaceConfig
from tests.browser import new_page, screenshot
from tests.central.factories import alert, device
from web.http import HttpServer, HttpSettings

NOW = datetime(2026, 2, 25, 14, 30, tzinfo=UTC)
SPACES = {"north-b3": (SpaceConfig(id="study-24h-2f", name="24h study room", capacity=40),
                       SpaceConfig(id="skills-lab-1", name="Skills lab", capacity=12,
                                   hours=OpeningHours(open="09:00", close="18:00"))),
          "south-a1": (SpaceConfig(id="library-1", name="Library", capacity=80),)}


@pytest.fixture
def campus(settings, store):
    """Three weeks of two buildings, some alerts and devices, served on a free port."""
    for site, spaces in SPACES.items():
        scenario = Scenario(site, spaces, date(2026, 2, 4), 22, students=260, zone=ZoneInfo("Europe/London"),
                            seed=len(site))
        items = [IngestItem(received=r, envelope=e) for r, e in envelopes(simulate(scenario)) if r < NOW]
        for chunk in range(0, len(items), 5000):
            store.ingest(site, items[chunk:chunk + 5000], now=NOW)
        store.configs.put(site, SiteConfig(spaces=list(spaces)), "test")
    store.alerts.upsert([alert(team="clinic", rule="bp-crisis", severity="urgent", summary="Blood pressure crisis"),
                         alert(summary="Library over capacity", site="south-a1"),
                         alert(team="technicians", rule="device-offline", summary="Kiosk offline")])
    store.fleet.upsert("north-b3", [device("kiosk-n-1"), device("kiosk-n-2", online=False)])
    store.fleet.upsert("south-a1", [device("kiosk-s-1")])
    port = free_port()
    server = HttpServer(create_app(settings, store), HttpSettings(port=port))
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def open_dashboard(browser, url: str, token: str):
    page = new_page(browser)
    page.goto(f"{url}/dashboard#token={token}&at={NOW.isoformat().replace('+00:00', 'Z')}")
    page.wait_for_selector("body[data-ready=yes]", timeout=20_000)
    return page


def test_dashboard_shows_occupancy_chart_alerts_and_fleet(browser, campus, tokens, tmp_path: Path):
    page = open_dashboard(browser, campus, tokens["admin"])
    cards = page.locator("#occupancy .space")
    assert cards.count() == 3
    assert page.locator("#chart svg path.history").count() == 1
    assert page.locator("#chart svg path.forecast").count() == 1
    assert page.locator("#chart svg line.capacity").count() == 1
    assert "clinic" in page.inner_text("#alert-summary") and "Blood pressure crisis" in page.inner_text("#alerts")
    fleet = page.inner_text("#fleet-table")
    assert "north-b3" in fleet and "south-a1" in fleet
    assert "token=" not in page.url  # the token leaves the address bar at once
    screenshot(page, tmp_path / "central-dashboard.png")
    page.locator("#occupancy .space[data-space=library-1]").click()
    page.locator("#chart-title", has_text="Library").wait_for()
    page.locator("#chart svg path.history").wait_for()
    screenshot(page, tmp_path / "central-dashboard-library.png")
    # Resolve asks first, under the alert; confirming resolves it (central queues it for the gateway).
    crisis = page.locator("#alert-list tr", has_text="Blood pressure crisis")
    crisis.get_by_role("button", name="Resolve").click()
    step = page.get_by_role("group", name="Resolve this alert?")
    step.get_by_label("Note (optional)").fill("BP rechecked")
    assert "Blood pressure crisis" in page.inner_text("#alert-list")
    step.get_by_role("button", name="Confirm resolve").click()
    crisis.wait_for(state="detached", timeout=10_000)
    assert page.console_errors == []
    page.context.close()


def test_dashboard_tells_a_role_what_it_may_not_see(browser, campus, tokens, tmp_path: Path):
    page = open_dashboard(browser, campus, tokens["technician"])
    assert "may not see occupancy" in page.inner_text("#occupancy")
    assert "north-b3" in page.inner_text("#fleet")
    screenshot(page, tmp_path / "central-dashboard-technician.png")
    page.context.close()


def test_dashboard_asks_for_a_token_when_it_has_none_or_a_bad_one(browser, campus, tmp_path: Path):
    page = new_page(browser)
    page.goto(f"{campus}/dashboard#token=nonsense")
    page.wait_for_selector("#login:not([hidden])")
    assert "not accepted" in page.inner_text("#error")
    page.context.close()
