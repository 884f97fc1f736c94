import json

import pytest

from gateway.authority import device_table
from gateway.ingest import Accepted, Rejected, StateSeen, classify
from onestop.events import new_event
from onestop.site import DeviceEntry

SITE = "north-b3"
DEVICES = device_table([DeviceEntry(device="kiosk-b3-lobby", kind="kiosk", space="s1"),
                        DeviceEntry(device="hs-lobby", kind="health-station", space="s1")])


def event_msg(device="kiosk-b3-lobby", event_type="checkin", **overrides):
    env = new_event(device, 7, event_type, {"space": "s1", "card": "922E5832"})
    body = json.loads(env.to_json())
    body.update(overrides)
    return f"onestop/v1/{SITE}/dev/{device}/evt/{event_type}", json.dumps(body).encode()


def test_a_valid_event_is_accepted_with_its_raw_payload_and_receive_time():
    topic, payload = event_msg()
    verdict = classify(topic, payload, 123.5, SITE, DEVICES)
    assert isinstance(verdict, Accepted)
    assert verdict.payload == payload and verdict.received == 123.5 and verdict.priority == 1


@pytest.mark.parametrize(("topic", "reason"), [
    ("onestop/v1/other-site/dev/kiosk-b3-lobby/evt/checkin", "topic"),   # another site's tree
    ("onestop/v1/north-b3/dev/kiosk-b3-lobby/cfg", "topic"),             # not a device's own topic
    ("onestop/v1/north-b3/dev/kiosk-b3-lobby/state", "schema"),          # an event is not a state
    ("garbage", "topic"),
    ("onestop/v1/north-b3/dev/kiosk-spoofed/evt/checkin", "device-mismatch"),
    ("onestop/v1/north-b3/dev/kiosk-b3-lobby/evt/checkout", "type-mismatch"),
])
def test_spoofed_or_foreign_topics_are_rejected(topic, reason):
    _, payload = event_msg()
    verdict = classify(topic, payload, 1.0, SITE, DEVICES | device_table([DeviceEntry(device="kiosk-spoofed",
                                                                                        kind="kiosk")]))
    assert isinstance(verdict, Rejected) and verdict.reason == reason


def test_devices_the_site_configuration_does_not_list_may_send_nothing():
    topic, payload = event_msg()
    for table in ({}, device_table([DeviceEntry(device="kiosk-other", kind="kiosk", space="s1")])):
        verdict = classify(topic, payload, 1.0, SITE, table)
        assert isinstance(verdict, Rejected) and verdict.reason == "unknown-device"


def test_screenings_sync_before_presence_and_presence_before_heartbeats():
    priorities = {}
    for kind, data in (("screening", {"subject": "AB12", "session": "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11",
                                      "complete": False}),
                       ("checkin", {"space": "s1", "card": "AB12"}),
                       ("heartbeat", {"uptime_s": 1, "outbox": 0})):
        env = new_event("hs-lobby", 1, kind, data)
        verdict = classify(f"onestop/v1/{SITE}/dev/hs-lobby/evt/{kind}", env.to_json(), 1.0, SITE, DEVICES)
        priorities[kind] = verdict.priority
    assert priorities["screening"] < priorities["checkin"] < priorities["heartbeat"]


def test_births_and_wills_are_recognised_on_state_topics():
    verdict = classify(f"onestop/v1/{SITE}/dev/kiosk-1/state", b'{"online": false, "boot": "b1"}', 2.0, SITE,
                       DEVICES)
    assert isinstance(verdict, StateSeen) and verdict.device == "kiosk-1" and verdict.state.online is False
