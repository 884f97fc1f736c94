"""Device authority (CONTRACT.md): which device may send which event, decided without a broker."""

import json

import pytest

from gateway.authority import MAY_SEND, device_table, refusal
from gateway.ingest import Accepted, Rejected, classify
from onestop.events import new_event
from onestop.site import DeviceEntry

SITE = "north-b3"
SESSION = "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11"
DATA = {
    "checkin": {"space": "study-24h-2f", "card": "922E5832"},
    "checkout": {"space": "study-24h-2f", "card": "922E5832"},
    "attendance": {"activity": "anatomy-101", "card": "922E5832"},
    "screening": {"subject": "922E5832", "session": SESSION, "complete": True,
                  "measurements": [{"code": "8480-6", "value": 200, "unit": "mm[Hg]"},
                                   {"code": "8462-4", "value": 130, "unit": "mm[Hg]"}],
                  "questionnaires": [{"instrument": "PHQ-9", "answers": [0, 0, 0, 0, 0, 0, 0, 0, 3],
                                      "score": 3}]},
    "reading": {"sensor": "door", "code": "people_count", "value": 3, "unit": "1", "space": "study-24h-2f"},
    "heartbeat": {"uptime_s": 5, "outbox": 0},
    "fault": {"component": "reader", "error": "unplugged"},
    "request": {"category": "climate", "space": "study-24h-2f", "card": None, "note": None},
    "feedback": {"space": "study-24h-2f", "question": "space-rating", "rating": 4},
}
KIOSK = DeviceEntry(device="kiosk-b3-lobby", kind="kiosk", space="study-24h-2f")
STATION = DeviceEntry(device="hs-b3-corner", kind="health-station", space="study-24h-2f")
SENSOR = DeviceEntry(device="sensor-b3-door", kind="sensor", space="study-24h-2f")
ATTENDANCE = DeviceEntry(device="kiosk-b3-lecture", kind="kiosk", activity="anatomy-101")
BARE_KIOSK = DeviceEntry(device="kiosk-b3-spare", kind="kiosk")
BARE_SENSOR = DeviceEntry(device="sensor-b3-spare", kind="sensor")
TABLE = device_table([KIOSK, STATION, SENSOR, ATTENDANCE, BARE_KIOSK, BARE_SENSOR])


def event(entry: DeviceEntry, event_type: str, **changes):
    return new_event(entry.device, 1, event_type, {**DATA[event_type], **changes})


# What each configured device may send, with the data above (the space and activity of the first three).
ALLOWED = {
    KIOSK.device: {"checkin", "checkout", "request", "feedback", "heartbeat", "fault"},  # no attendance: no activity
    STATION.device: {"checkin", "checkout", "request", "feedback", "screening", "heartbeat", "fault"},
    SENSOR.device: {"reading", "heartbeat", "fault"},
    ATTENDANCE.device: {"attendance", "heartbeat", "fault"},   # no space: no check-ins
    BARE_KIOSK.device: {"heartbeat", "fault"},                 # says nothing: least privilege
    BARE_SENSOR.device: {"heartbeat", "fault"},                # may report readings for no space only
}


@pytest.mark.parametrize("entry", TABLE.values(), ids=lambda e: e.device)
@pytest.mark.parametrize("event_type", DATA)
def test_each_kind_sends_only_its_types_and_only_for_its_own_space_or_activity(entry, event_type):
    verdict = refusal(entry, event(entry, event_type))
    assert (verdict is None) == (event_type in ALLOWED[entry.device]), verdict


def test_the_authority_table_is_the_contracts():
    assert MAY_SEND["kiosk"] == {"checkin", "checkout", "attendance", "request", "feedback", "heartbeat", "fault"}
    assert MAY_SEND["health-station"] == MAY_SEND["kiosk"] | {"screening"}
    assert MAY_SEND["sensor"] == {"reading", "heartbeat", "fault"}


def test_a_check_in_into_another_space_and_attendance_at_another_activity_are_refused():
    assert refusal(KIOSK, event(KIOSK, "checkin", space="equipment-room")) is not None
    assert refusal(STATION, event(STATION, "checkout", space="equipment-room")) is not None
    assert refusal(ATTENDANCE, event(ATTENDANCE, "attendance", activity="physiology-2")) is not None
    assert refusal(SENSOR, event(SENSOR, "reading", space="equipment-room")) is not None
    assert refusal(BARE_SENSOR, event(BARE_SENSOR, "reading", space=None)) is None
    assert refusal(KIOSK, event(KIOSK, "request", space="equipment-room")) is not None  # work orders too
    assert refusal(KIOSK, event(KIOSK, "feedback", space="equipment-room")) is not None  # and feedback


def test_a_kiosks_screening_is_quarantined_as_not_permitted_without_naming_values():
    env = event(KIOSK, "screening")
    verdict = classify(f"onestop/v1/{SITE}/dev/{KIOSK.device}/evt/screening", env.to_json(), 1.0, SITE, TABLE)
    assert isinstance(verdict, Rejected) and verdict.reason == "not-permitted"
    assert "922E5832" not in verdict.detail and "200" not in verdict.detail


def test_a_permitted_event_is_accepted_through_classify():
    env = event(STATION, "screening")
    verdict = classify(f"onestop/v1/{SITE}/dev/{STATION.device}/evt/screening", env.to_json(), 1.0, SITE, TABLE)
    assert isinstance(verdict, Accepted)


def test_a_retained_event_is_quarantined_as_retained_even_when_valid():
    env = event(KIOSK, "checkin")
    topic = f"onestop/v1/{SITE}/dev/{KIOSK.device}/evt/checkin"
    verdict = classify(topic, env.to_json(), 1.0, SITE, TABLE, retained=True)
    assert isinstance(verdict, Rejected) and verdict.reason == "retained"
    assert isinstance(classify(topic, env.to_json(), 1.0, SITE, TABLE, retained=False), Accepted)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize(("event_type", "path"), [
    ("heartbeat", ("uptime_s",)), ("heartbeat", ("extra",)), ("reading", ("value",)),
    ("screening", ("measurements", 0, "value")),
])
def test_nan_and_infinity_are_refused_wherever_a_number_goes(literal, event_type, path):
    entry = SENSOR if event_type == "reading" else STATION
    body = json.loads(event(entry, event_type).to_json())
    target = body["data"]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = "@@"
    payload = json.dumps(body).replace('"@@"', literal).encode()
    verdict = classify(f"onestop/v1/{SITE}/dev/{entry.device}/evt/{event_type}", payload, 1.0, SITE, TABLE)
    assert isinstance(verdict, Rejected) and verdict.reason == "schema", verdict
