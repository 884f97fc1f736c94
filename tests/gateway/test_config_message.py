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
