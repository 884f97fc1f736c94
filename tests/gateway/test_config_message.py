"""The retained device configuration stays below the broker's packet bound (the broker would disconnect the
gateway for a larger one, and the gateway would send it again on every reconnect)."""

import json
from datetime import UTC, datetime, timedelta

from gateway.building import CONFIG_MAX_BYTES, Building
from gateway.settings import GatewaySettings
from gateway.store import Store


def test_a_configuration_with_too_many_reservations_keeps_the_soonest_that_fit(tmp_path):
    start = datetime(2026, 12, 1, 8, tzinfo=UTC)
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
