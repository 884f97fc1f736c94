"""The gateway's presence topic: keyed hashes only the space's kiosks can match, bounded to one packet."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from gateway.building import CONFIG_MAX_BYTES, Building
from gateway.settings import GatewaySettings
from gateway.store import Store
from onestop import presence as tags
from onestop.errors import ConfigError

START = datetime(2026, 12, 1, 8, tzinfo=UTC)
DEVICES = [{"device": "kiosk-b3-in", "kind": "kiosk", "space": "study", "direction": "in"},
           {"device": "kiosk-b3-out", "kind": "kiosk", "space": "study", "direction": "out"},
           {"device": "kiosk-b3-lab", "kind": "kiosk", "space": "lab"},
           {"device": "hs-b3-corner", "kind": "health-station", "space": "study"}]


@pytest.fixture
def building(tmp_path):
    settings = GatewaySettings(site="north-b3", data_dir=tmp_path, devices=DEVICES,
                               spaces=[{"id": "study", "capacity": 10000}, {"id": "lab", "capacity": 10}])
    store = Store(tmp_path / "gateway.db")
    yield Building(settings, store, lambda _m: None)
    store.close()


def cfg(building: Building, device: str) -> dict:
    return json.loads(building.config_message(device).payload)


def test_presence_names_no_card_and_only_the_spaces_kiosks_can_match_it(building):
    cards = ["62E3086CED", "922E5832"]
    for i, card in enumerate(cards):
        building.occupancy.apply("checkin", "study", card, START + timedelta(minutes=i))
    message = building.presence_message("study")
    assert message.topic == "onestop/v1/north-b3/space/study/presence" and message.retain
    assert not any(card.encode() in message.payload or card.lower().encode() in message.payload for card in cards)
    body = json.loads(message.payload)
    assert body["count"] == 2 and not body["truncated"] and set(body["upto"]) == {"kiosk-b3-in", "kiosk-b3-out"}

    key = bytes.fromhex(cfg(building, "kiosk-b3-out")["presence_key"])
    assert tags.key_id(key) == body["key_id"]
    assert tags.decode(body["inside"]) == {tags.tag(key, c) for c in cards}
    other = bytes.fromhex(cfg(building, "kiosk-b3-lab")["presence_key"])  # another space's kiosk
    assert other != key and not tags.decode(body["inside"]) & {tags.tag(other, c) for c in cards}
    assert "presence_key" not in cfg(building, "hs-b3-corner")


def test_the_devices_direction_is_sent_in_its_configuration(building):
    assert cfg(building, "kiosk-b3-in")["direction"] == "in"
    assert cfg(building, "kiosk-b3-out")["direction"] == "out"
    assert "direction" not in cfg(building, "kiosk-b3-lab")  # the kiosk's own setting (toggle) stays


def test_a_crowded_space_keeps_the_newest_check_ins_within_one_packet(building):
    crowd = [f"{i:08X}" for i in range(tags.MAX_TAGS + 1000)]
    for i, card in enumerate(crowd):
        building.occupancy.apply("checkin", "study", card, START + timedelta(seconds=i))
    message = building.presence_message("study")
    assert len(message.payload) <= CONFIG_MAX_BYTES
    body = json.loads(message.payload)
    assert body["count"] == len(crowd) and body["truncated"]
    key = bytes.fromhex(cfg(building, "kiosk-b3-in")["presence_key"])
    kept = tags.decode(body["inside"])
    assert len(kept) == tags.MAX_TAGS and tags.tag(key, crowd[-1]) in kept and tags.tag(key, crowd[0]) not in kept


def test_the_site_key_survives_a_restart_and_a_bad_key_file_is_a_clear_error(tmp_path):
    path = tmp_path / "presence.key"
    first = tags.load_site_key(path)
    assert tags.load_site_key(path) == first and path.stat().st_mode & 0o777 == 0o600
    path.write_text("not hex\n")
    with pytest.raises(ConfigError, match="remove it to make a new one"):
        tags.load_site_key(path)
