"""The campus dashboard in headless Chromium, against a real HTTP server holding simulated history."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from central.api import create_app
from central.ingest import IngestItem
from central.simulation import Scenario, envelopes, simulate
from harness.netutil import free_port
from onestop.site import OpeningHours, SiteConfig, SpaceConfig
from onestop.work_orders import WorkOrderRecord
from tests.browser import new_page, screenshot
from tests.central.factories import alert, device, event
from tests.helpers import served
from web.http import HttpServer, HttpSettings

NOW = datetime(2026, 2, 25, 14, 30, tzinfo=UTC)
SPACES = {"north-b3": (SpaceConfig(id="study-24h-2f", name="24h study room", name_zh="24小时自习室", capacity=40),
                       SpaceConfig(id="skills-lab-1", name="Skills lab", capacity=12,
                                   hours=OpeningHours(open="09:00", close="18:00"))),
          "south-a1": (SpaceConfig(id="library-1", name="Library", capacity=80),)}


def _order(id_: str, department: str, category: str, opened: datetime, **fields) -> WorkOrderRecord:
    return WorkOrderRecord(id=id_, site="north-b3", source="request", category=category, department=department,
                           summary=f"{category} in study-24h-2f", space="study-24h-2f", opened_at=opened,
                           updated_at=fields.pop("updated_at", opened), ack_due=opened + timedelta(hours=1),
                           finish_due=opened + timedelta(hours=24), **fields)


OPENED = NOW - timedelta(hours=3)
WORK_ORDERS = [  # a climate request acknowledged in 20 min and done in 2 h; a reader fault still open
    _order("0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c21", "facilities", "climate", OPENED, state="done",
           acknowledged_at=OPENED + timedelta(minutes=20), finished_at=OPENED + timedelta(hours=2),
           updated_at=OPENED + timedelta(hours=2)),
    _order("0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c22", "technicians", "device-fault", OPENED)]


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
    store.ingest("north-b3", [IngestItem(received=NOW - timedelta(days=2), envelope=event(  # two anonymous ratings
        "kiosk-n-1", 900_000 + r, "feedback", {"space": "study-24h-2f", "question": "space-rating", "rating": r},
        ts=NOW - timedelta(days=2))) for r in (4, 5)], now=NOW)
    store.alerts.upsert([alert(team="clinic", rule="bp-crisis", severity="urgent", summary="Blood pressure crisis"),
                         alert(summary="Library over capacity", site="south-a1"),
                         alert(team="technicians", rule="device-offline", summary="Kiosk offline")])
    store.fleet.upsert("north-b3", [device("kiosk-n-1"), device("kiosk-n-2", online=False)])
    store.fleet.upsert("south-a1", [device("kiosk-s-1")])
    store.work_orders.upsert(WORK_ORDERS)
    port = free_port()
    server = HttpServer(create_app(settings, store), HttpSettings(port=port))
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def open_dashboard(browser, url: str, token: str, width: int = 1280):
    page = new_page(browser, width=width)
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
    # Work orders: unfinished ones first; all of them with the state filter; each department's times.
    assert page.locator("#work-order-list tbody tr").count() == 1
    listed = page.inner_text("#work-order-list")
    assert "device-fault" in listed and "technicians" in listed
    page.locator("#wo-state").select_option("")
    page.locator("#work-order-list tbody tr", has_text="climate").wait_for()
    page.locator("#wo-department").select_option("facilities")
    page.locator("#work-order-list tbody tr", has_text="device-fault").wait_for(state="detached")
    facilities = page.inner_text("#work-order-times-table tr[data-department=facilities]")
    assert "20 min" in facilities and "2.0 h" in facilities and "100 %" in facilities
    with page.expect_download() as exported:
        page.locator("#export-work-orders").click()
    rows = exported.value.path().read_text(encoding="utf-8").splitlines()
    assert len(rows) == 2 and "climate" in rows[1]  # the server's CSV with the page's filters
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


SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the page is the same on both


def fits_width(page) -> bool:
    """Nothing sticks out sideways (a phone would have to scroll the whole page)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@SQLITE_ONLY
def test_dashboard_in_english_and_chinese_at_desktop_and_phone_width(browser, campus, tokens, tmp_path: Path):
    page = open_dashboard(browser, campus, tokens["admin"], width=1366)
    for lang, width in (("en", 1366), ("zh", 1366), ("zh", 390), ("en", 390)):
        if page.evaluate("document.documentElement.lang").startswith("zh") != (lang == "zh"):
            page.get_by_role("button", name="中文" if lang == "zh" else "English").click()
        page.set_viewport_size({"width": width, "height": 900})
        page.reload()  # the language is remembered; the chart is drawn for the new width
        page.wait_for_selector("body[data-ready=yes]", timeout=20_000)
        names = page.inner_text("#occupancy")
        assert "Library" in names and "Skills lab" in names and "/ 80" in names  # names and capacities
        assert ("24小时自习室" if lang == "zh" else "24h study room") in names
        heading = page.inner_text("#utilisation-title").lower()
        assert heading == ("使用率，过去 28 天" if lang == "zh" else "utilisation, last 28 days")
        assert ("几乎空置" if lang == "zh" else "Nearly empty") in page.inner_text("#utilisation-table")
        assert page.locator("#utilisation-table tbody tr").count() == 3
        # Beside the use, the students' ratings of the last 28 days: mean (count).
        assert "4.5 (2)" in page.inner_text('#utilisation-table tr[data-space="study-24h-2f"]')
        # A chart that is not flat: the history line spans a real height, and the forecast too.
        for line in ("history", "forecast"):
            box = page.locator(f"#chart svg path.{line}").bounding_box()
            assert box and box["height"] > 20, (lang, width, line, box, page.inner_text("#chart-title"))
        assert page.locator("#chart svg text.day").count() >= 4  # readable day labels on the time axis
        actions = page.locator("#alert-list tbody tr td.actions")
        assert actions.count() == 3  # every open alert with its actions, in the page's language
        assert actions.get_by_role("button", name="处理完毕…" if lang == "zh" else "Resolve…").count() == 3
        assert "north-b3" in page.inner_text("#fleet-table")
        assert page.inner_text("#work-orders-title").lower() == ("工单" if lang == "zh" else "work orders")
        assert page.locator("#work-order-times-table tbody tr").count() == 2
        assert fits_width(page), f"{lang} at {width} px is wider than the screen"
        screenshot(page, tmp_path / f"central-dashboard-{lang}-{width}.png")
    assert page.console_errors == []
    page.context.close()


@SQLITE_ONLY
def test_a_planner_exports_the_utilisation_and_the_chart_as_csv(browser, campus, tokens):
    page = open_dashboard(browser, campus, tokens["facilities"])
    with page.expect_download() as table:
        page.click("#export-utilisation")
    rows = list(csv.DictReader(io.StringIO(table.value.path().read_text(encoding="utf-8-sig"))))
    assert {r["name"] for r in rows} == {"24h study room", "Skills lab", "Library"}
    library = next(r for r in rows if r["space"] == "library-1")
    assert library["capacity"] == "80" and int(library["open_hours"]) > 0
    assert 0 <= float(library["nearly_empty_share"]) <= 1 and library["over_90_share"] != ""
    with page.expect_download() as chart:
        page.click("#export-chart")
    series = list(csv.DictReader(io.StringIO(chart.value.path().read_text(encoding="utf-8-sig"))))
    history = [r for r in series if r["kind"] == "history"]
    forecast = [r for r in series if r["kind"] == "forecast"]
    assert history[-1]["hour_start"] == "2026-02-25T14:00:00Z"  # the hour in progress (NOW is 14:30) is there
    assert len(history) == 7 * 24 and len(forecast) == 7 * 24
    assert max(int(r["peak"]) for r in history) > 0 and max(float(r["expected"]) for r in forecast) > 0
    page.context.close()


@SQLITE_ONLY
def test_api_docs_render_with_no_network_beyond_the_server(browser, settings, store):
    with served(create_app(settings, store)) as client:
        page = new_page(browser)
        elsewhere: list[str] = []

        def only_this_server(route):
            if route.request.url.startswith(str(client.base_url)):
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort()

        page.context.route("**/*", only_this_server)
        page.goto(f"{client.base_url}/docs")
        page.locator(".swagger-ui .opblock-summary-path", has_text="/api/v1/ingest").first.wait_for(timeout=20_000)
        assert page.locator(".swagger-ui .opblock").count() > 20
        assert elsewhere == [] and page.console_errors == []
        page.context.close()
