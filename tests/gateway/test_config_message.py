"""The retained device configuration stays below the broker's packet bound (the broker would disconnect the
gateway for a larger one, and the gateway would send it again on every reconnect)."""

import json
import tomllib
from datetime import UTC, datetime, timedelta

import tomli_w

from gateway.building import CONFIG_MAX_BYTES, Building
from gateway.settings import GatewaySettings
from gateway.store import Store
from harness.localsite import gateway_process
from tests.conftest import KIOSKS
from tests.helpers import wait_until


def test_a_configuration_with_too_many_reservations_keeps_the_soonest_that_fit(tmp_path):
    start = datetime.now(UTC) + timedelta(hours=1)
    reservations = [{"id": f"r{i:05d}", "space": "study", "card": f"{i:08X}",
                     "start": start + timedelta(minutes=i), "end": start + timedelta(minutes=i + 30)}
                    for i in reversed(range(3000))]
    settings = GatewaySettings(site="north-b3", data_dir=tmp_path, spaces=[{"id": "study", "capacity": 10}],
                               devices=[{"device": "kiosk-b3-lobby", "kind": "kiosk", "space": "study"}],
                               reservations=reservations)
    store = Store(tmp_path / "gateway.db")
    try:
        message = Building(settings, store, lambda _m: None).config_message("kiosk-b3-lobby")
    finally:
        store.close()
    assert len(message.payload) <= CONFIG_MAX_BYTES

    kept = [r["id"] for r in json.loads(message.payload)["reservations"]]
    assert kept and kept == [f"r{i:05d}" for i in range(len(kept))]  # the soonest, in order


def test_a_kiosk_is_told_its_space_s_chinese_name_and_opening_hours(tmp_path):
    settings = GatewaySettings(site="north-b3", data_dir=tmp_path,
                               spaces=[{"id": "lab", "name": "Skills lab", "name_zh": "技能实验室", "capacity": 24,
                                        "hours": {"open": "07:00", "close": "23:00", "days": ["mon", "tue"]}}],
                               devices=[{"device": "kiosk-b3-lab", "kind": "kiosk", "space": "lab"},
                                        {"device": "kiosk-b3-talk", "kind": "kiosk", "space": "lab",
                                         "activity": "talk", "activity_name": "Careers talk",
                                         "activity_name_zh": "职业讲座"}])
    store = Store(tmp_path / "gateway.db")
    try:
        building = Building(settings, store, lambda _m: None)
        lab, talk = (json.loads(building.config_message(d).payload) for d in ("kiosk-b3-lab", "kiosk-b3-talk"))
    finally:
        store.close()
    assert (lab["display_name"], lab["display_name_zh"]) == ("Skills lab", "技能实验室")
    assert lab["hours"] == {"open": "07:00:00", "close": "23:00:00", "days": ["mon", "tue"]}
    assert (talk["activity_name"], talk["activity_name_zh"]) == ("Careers talk", "职业讲座")


def test_six_thousand_bookings_with_past_ones_reach_the_kiosk_as_its_current_and_upcoming_ones(
        site, broker, kiosk_factory):
    now = datetime.now(UTC).replace(microsecond=0)
    device = KIOSKS[0].device

    def booking(i: int, start: datetime) -> dict:
        return {"id": f"b{i:05d}", "space": "skills-lab-1", "card": f"{i:08X}", "start": start,
                "end": start + timedelta(minutes=45)}

    past = [booking(i, now - timedelta(days=30) + timedelta(minutes=10 * i)) for i in range(3000)]
    current = booking(3000, now - timedelta(minutes=20))
    upcoming = [booking(i, now + timedelta(minutes=i - 3000)) for i in range(3001, 6000)]
    config = tomllib.loads(site.path("gateway.toml").read_text())
    config["reservations"] = [*past, current, *upcoming]  # past ones first, as a booking system exports them
    for entry in config["devices"]:
        if entry["device"] == device:  # the kiosk moves to another space, under a name, by its cfg
            entry.update(space="skills-lab-1", display_name="Skills lab, west door")
    site.path("gateway.toml").write_text(tomli_w.dumps(config))
    gateway = gateway_process(site)
    gateway.start()
    try:
        kiosk = kiosk_factory(device)
        wait_until(lambda: kiosk.config.space == "skills-lab-1", timeout=20, what="the kiosk's cfg applied")
        applied = kiosk.config
        assert applied.name("en") == "Skills lab, west door"
        ids = [r.id for r in applied.reservations]
        assert ids[:2] == ["b03000", "b03001"]  # the current booking first, then the soonest upcoming
        assert all(r.end > now for r in applied.reservations)  # no past booking crowds them out
        assert applied.reservation_for(current["card"], now).id == "b03000"
    finally:
        gateway.stop()
