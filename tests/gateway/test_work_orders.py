"""Work orders against real parts (docs/work-orders.md): Mosquitto, the gateway and central in their own
processes, headless kiosks, a WAN link that can be cut, a card reader on a pseudo-terminal."""

from __future__ import annotations

import httpx
import pytest

from firmware_bridge.simulators import SimulatedDevice
from harness.localsite import central_process, gateway_process
from harness.netutil import free_port
from harness.proxy import FaultProxy
from kiosk.runtime import KioskRuntime
from kiosk.settings import ReaderSettings
from kiosk.settings import load as load_kiosk
from tests.browser import new_page, screenshot
from tests.helpers import stop_all_within, wait_until
from tests.receivers import webhook

CARD, OTHER = "62E3086CED", "0A1B2C3D4E"
PUBLIC = "https://gateway.b3.example.edu"
# Facilities must acknowledge within 1.2 s here, so "overdue" shows within the test.
SHORT = {"departments": [{"id": "facilities", "ack_min": 0.02, "finish_h": 1},
                         {"id": "technicians"}, {"id": "counselling"}, {"id": "clinic"},
                         {"id": "student-affairs"}]}


def auth(site, role):
    return {"Authorization": f"Bearer {site.tokens[role]}"}


def orders(url: str, site, role: str, **params) -> list[dict]:
    response = httpx.get(f"{url}/api/v1/work-orders", headers=auth(site, role), params=params, timeout=5)
    response.raise_for_status()
    return response.json()


def _notices(hook) -> list[str]:
    return [b.get("title", "") + "\n" + b.get("message", "") for b in hook.bodies]


def test_a_request_made_offline_reaches_facilities_at_once_and_central_once_the_wan_returns(site):
    site.central_link_port = free_port()
    started: list = []
    with (webhook() as facilities, webhook() as escalation, webhook() as affairs,
          FaultProxy(site.central_port, port=site.central_link_port, lifetime_s=120) as wan):
        # Each department's team is told of its new orders over the LAN (the WAN is down), and facilities'
        # escalation tier of an order nobody acknowledged in time, once (docs/work-orders.md).
        site.gateway_extra = {"work_orders": SHORT, "notifications": {"public_url": PUBLIC},
                              "notify": [{"team": "facilities", "url": facilities.url},
                                         {"team": "facilities", "url": escalation.url, "tier": 1},
                                         {"team": "student-affairs", "url": affairs.url}]}
        site.write()
        wan.cut()  # the WAN is down from the start
        try:
            site.broker.start()
            started.append(site.broker)
            for proc in (central_process(site), gateway_process(site)):
                proc.start()
                started.append(proc)
            kiosk = KioskRuntime(load_kiosk(site.path("kiosk-kiosk-test-a.toml")))
            kiosk.start()
            kiosk.choose_request("climate")
            tap = kiosk.send_request(CARD)
            kiosk.choose_request("noise")
            kiosk.send_request(None)
            assert tap.decision.feedback == "request-sent" and tap.event is not None

            gw = site.gateway_url
            mine = wait_until(lambda: orders(gw, site, "facilities"), timeout=10, what="facilities sees it")
            assert [(o["id"], o["category"], o["department"], o["state"], o["reply_wanted"], o["space"])
                    for o in mine] == [(tap.event.id, "climate", "facilities", "open", True, "study-24h-2f")]
            assert "card" not in mine[0] and CARD not in str(mine[0])
            assert {o["category"] for o in orders(gw, site, "staff")} == {"climate", "noise"}
            assert orders(gw, site, "counselling") == [] and orders(gw, site, "technician") == []
            # Told at once, with category, place and a link, never the card.
            told = wait_until(lambda: _notices(facilities), timeout=10, what="facilities notified")
            assert "New work order" in told[0] and "Too hot / cold / stuffy" in told[0]
            assert "study-24h-2f" in told[0] and f"{PUBLIC}/work-orders#order={tap.event.id}" in told[0]
            assert CARD not in str(facilities.raw) and CARD.lower() not in str(facilities.raw).lower()
            wait_until(lambda: _notices(affairs), timeout=10, what="student affairs notified of the noise")
            assert "Noise" in _notices(affairs)[0] and "climate" not in str(affairs.raw)
            # Overdue against the (short) target, flagged until someone acknowledges it, escalated once.
            wait_until(lambda: orders(gw, site, "facilities", overdue=True), timeout=5, what="overdue")
            escalated = wait_until(lambda: _notices(escalation), timeout=10, what="the escalation")
            assert "not acknowledged" in escalated[0] and "Too hot / cold / stuffy" in escalated[0]
            assert len(_notices(facilities)) == 1 and _notices(affairs)[1:] == []  # tier 0 told once
            taken = httpx.post(f"{gw}/api/v1/work-orders/{tap.event.id}", headers=auth(site, "facilities"),
                               json={"state": "acknowledged", "note": "on our way"}, timeout=5)
            assert taken.status_code == 200, taken.text
            assert (taken.json()["state"], taken.json()["overdue"]) == ("acknowledged", False)
            assert [(h["state"], h["by"]) for h in taken.json()["history"]] == [
                ("open", "kiosk-test-a"), (None, "system"), ("acknowledged", taken.json()["history"][2]["by"])]
            assert "escalated" in taken.json()["history"][1]["note"]
            again = httpx.post(f"{gw}/api/v1/work-orders/{tap.event.id}", headers=auth(site, "facilities"),
                               json={"state": "rejected"}, timeout=5)
            assert again.status_code == 409  # a rejection needs a reason
            # The student sees their own request's state at the kiosk, and only theirs.
            wait_until(lambda: [(s.category, s.state) for s in kiosk.show_requests(CARD)] ==
                       [("climate", "acknowledged")], timeout=10, what="status at the kiosk")
            assert kiosk.show_requests(OTHER) == []

            assert len(escalation.bodies) == 1  # once per order and target, however many ticks passed
            assert orders(site.central_url, site, "admin") == []  # the WAN is still down
            wan.set_mode("pass")
            at_central = wait_until(lambda: orders(site.central_url, site, "admin"), timeout=20,
                                    what="work orders at central")
            assert sorted((o["category"], o["state"]) for o in at_central) == [("climate", "acknowledged"),
                                                                               ("noise", "open")]
            done = httpx.post(f"{gw}/api/v1/work-orders/{tap.event.id}", headers=auth(site, "facilities"),
                              json={"state": "done"}, timeout=5)
            assert done.status_code == 200
            wait_until(lambda: any(o["state"] == "done" for o in orders(site.central_url, site, "facilities")),
                       timeout=10, what="done at central")
            assert len(orders(site.central_url, site, "admin")) == 2  # exactly once: upserted by id
            csv = httpx.get(f"{site.central_url}/api/v1/work-orders.csv", headers=auth(site, "staff"),
                            params={"site": site.site}, timeout=5)
            assert csv.status_code == 200 and csv.text.count("\n") == 3 and "climate" in csv.text
            times = httpx.get(f"{site.central_url}/api/v1/work-orders/times", headers=auth(site, "facilities"),
                              timeout=5).json()
            assert [(t["department"], t["orders"], t["finish_on_time"]) for t in times] == [("facilities", 1, 1.0)]
        finally:
            if "kiosk" in locals():
                stop_all_within([kiosk], 10)
            for part in reversed(started):
                part.stop()


@pytest.fixture
def page(browser):
    page = new_page(browser)
    yield page
    assert not page.console_errors, page.console_errors
    page.context.close()


def test_an_unplugged_reader_opens_one_technicians_order_that_closes_when_plugged_back(site, lone_gateway, page,
                                                                                      tmp_path):
    reader = SimulatedDevice("em4100", seed=3)
    settings = load_kiosk(site.path("kiosk-kiosk-test-b.toml"))
    kiosk = KioskRuntime(settings.model_copy(update={"reader": ReaderSettings(driver="em4100", port=reader.path)}))
    kiosk.start()
    try:
        assert kiosk.devices.readers[0].wait_connected(5)
        gw = site.gateway_url

        def reader_orders() -> list[dict]:
            return [o for o in orders(gw, site, "technician") if o["device"] == "kiosk-test-b"]

        reader.unplug()
        opened = wait_until(reader_orders, timeout=10, what="a technicians' work order")
        assert [(o["department"], o["source"], o["problem"], o["state"]) for o in opened] == [
            ("technicians", "device", "fault:card-reader", "open")]
        kiosk.fault("card-reader", "still unplugged")  # reported again while open: no second order
        # The technician takes it on from the building's work orders page.
        page.goto(f"{gw}/work-orders#token={site.tokens['technician']}")
        row = page.locator(f'[data-department="technicians"] [data-order="{opened[0]["id"]}"]')
        row.filter(has_text="kiosk-test-b: card-reader not working").wait_for(timeout=10_000)
        row.get_by_role("button", name="Acknowledge").click()
        row.locator(".state").filter(has_text="acknowledged").wait_for(timeout=10_000)
        screenshot(page, tmp_path / "gateway-work-orders.png")
        reader.replug()
        closed = wait_until(lambda: [o for o in reader_orders() if o["state"] == "done"], timeout=20,
                            what="the order closed on recovery")
        assert len(reader_orders()) == 1 and closed[0]["history"][-1]["by"] == "system"
        assert [h["state"] for h in closed[0]["history"]] == ["open", "acknowledged", "done"]
        row.locator(".state").filter(has_text="done").wait_for(timeout=10_000)  # the page follows by itself
        assert orders(gw, site, "facilities") == []  # not facilities' business
    finally:
        stop_all_within([kiosk], 10)
        reader.close()


def test_a_device_past_its_calibration_date_gets_one_order_closed_when_a_later_date_is_configured(tmp_path):
    from datetime import UTC, date, datetime, timedelta

    from gateway.store import Store
    from gateway.work_orders_desk import WorkOrderDesk
    from onestop.site import DeviceEntry
    from onestop.work_orders import WorkOrderSettings

    store = Store(tmp_path / "gateway.db")
    try:
        desk = WorkOrderDesk("north-b3", WorkOrderSettings(), store, b"k" * 32, lambda _d: "health-corner")
        station = DeviceEntry(device="hs-b3-corner", kind="health-station", space="health-corner",
                              calibration_due={"bp": date(2026, 12, 1), "scale": date(2027, 6, 1)})
        now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

        def open_orders() -> list[tuple[str | None, str]]:
            return [(o.problem, o.state) for o in desk.orders.find(lambda _d: True)]

        for minute in range(3):  # checked again every minute: still one order
            desk.calibration([station], date(2026, 12, 7), now + timedelta(minutes=minute))
        assert open_orders() == [("calibration:bp", "open")]
        assert desk.orders.find(lambda d: d == "technicians")[0].summary.startswith("hs-b3-corner: bp due")
        calibrated = station.model_copy(update={"calibration_due": {"bp": date(2027, 12, 1)}})
        desk.calibration([calibrated], date(2026, 12, 7), now + timedelta(minutes=5))
        assert open_orders() == [("calibration:bp", "done")]
    finally:
        store.close()


def test_a_flooding_kiosk_opens_at_most_30_requests_and_the_rest_are_counted(tmp_path):
    import time
    from datetime import UTC, datetime

    from gateway.ingest import Accepted
    from gateway.store import Store
    from gateway.work_orders_desk import MAX_OPEN_REQUESTS_PER_DEVICE, WorkOrderDesk
    from onestop.events import new_event
    from onestop.work_orders import WorkOrderSettings

    store = Store(tmp_path / "gateway.db")
    try:
        desk = WorkOrderDesk("north-b3", WorkOrderSettings(), store, b"k" * 32, lambda _d: None)
        events = [new_event("kiosk-b3-lobby", n, "request", {"category": "noise", "space": "study-24h-2f"})
                  for n in range(1, MAX_OPEN_REQUESTS_PER_DEVICE + 3)]
        batch = [Accepted(e, e.to_json(), time.time()) for e in events]
        store.write_fn(lambda conn: desk.derive(conn, batch, lambda r: datetime.fromtimestamp(r, UTC)))
        assert len(desk.orders.find(lambda _d: True)) == MAX_OPEN_REQUESTS_PER_DEVICE
        assert store.counters()["work-orders-refused:too-many-open"] == 2
    finally:
        store.close()


def test_the_site_configuration_from_central_brings_its_categories_to_the_kiosks(tmp_path):
    import json

    from gateway.building import Building
    from gateway.settings import GatewaySettings
    from gateway.store import Store
    from onestop.site import SiteConfig

    space = {"id": "study-24h-2f", "capacity": 60}
    kiosk = {"device": "kiosk-b3-lobby", "kind": "kiosk", "space": "study-24h-2f"}
    settings = GatewaySettings(site="north-b3", data_dir=tmp_path, spaces=[space], devices=[kiosk])
    store = Store(tmp_path / "gateway.db")
    try:
        building = Building(settings, store, lambda _message: None)

        def categories() -> list[str]:
            cfg = json.loads(building.config_message("kiosk-b3-lobby").payload)
            return [c["id"] for c in cfg["request_categories"]]

        assert categories() == ["seat-desk", "equipment", "climate", "cleanliness", "noise", "counselling", "other"]
        estates = {"departments": [{"id": "estates"}, {"id": "it", "team": "technicians"}],
                   "categories": [{"id": "heating", "label": "Heating", "department": "estates"},
                                  {"id": "wifi", "label": "Wi-Fi", "label_zh": "无线网络", "department": "it"}],
                   "device_department": "it"}
        building.apply_config(SiteConfig.model_validate({"spaces": [space], "devices": [kiosk],
                                                         "work_orders": estates}))
        assert categories() == ["heating", "wifi"]
        assert building.work_orders.settings.route("wifi").id == "it"
    finally:
        store.close()
