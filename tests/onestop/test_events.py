import json
import uuid

import pytest

from onestop.errors import EnvelopeError
from onestop.events import DATA_MODELS, MAX_PAYLOAD_BYTES, Envelope, new_event, parse_event
from onestop.ids import uuid7
from onestop.topics import parse

CONTRACT_EXAMPLE = {
    "v": 1, "id": "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11", "device": "kiosk-b3-lobby", "seq": 1842,
    "ts": "2026-11-22T13:05:07.214Z", "type": "checkin",
    "data": {"space": "study-24h-2f", "card": "922E5832", "via": "tap"},
}
TOPIC = parse("onestop/v1/north-b3/dev/kiosk-b3-lobby/evt/checkin")


def encode(obj) -> bytes:
    return json.dumps(obj).encode()


def test_contract_example_is_a_valid_envelope():
    env = parse_event(encode(CONTRACT_EXAMPLE), TOPIC)
    assert env.seq == 1842 and env.data.card == "922E5832" and env.data.reservation is None


def test_envelope_round_trips_through_its_wire_form():
    env = parse_event(encode(CONTRACT_EXAMPLE), TOPIC)
    again = parse_event(env.to_json(), TOPIC)
    assert again == env
    assert json.loads(env.to_json())["ts"] == "2026-11-22T13:05:07.214Z"


@pytest.mark.parametrize("ts", ["2026-11-22T21:05:07.214+08:00", "2026-11-22T13:05:07.214999Z",
                                "2026-11-22T13:05:07.214+00:00"])
def test_other_spellings_of_a_time_become_the_contract_wire_form(ts):
    env = parse_event(encode({**CONTRACT_EXAMPLE, "ts": ts}), TOPIC)
    assert env == parse_event(encode(CONTRACT_EXAMPLE), TOPIC)
    assert json.loads(env.to_json())["ts"] == "2026-11-22T13:05:07.214Z"


VALID_DATA = {
    "checkin": {"space": "s1", "card": "62E3086CED", "via": "tap", "reservation": None},
    "checkout": {"space": "s1", "card": "0000472288", "via": "auto", "reservation": "r-1"},
    "attendance": {"activity": "cpr-class", "card": "922E5832"},
    "screening": {"subject": "922E5832", "session": str(uuid.uuid4()), "complete": True,
                  "measurements": [{"code": "8480-6", "value": 121, "unit": "mm[Hg]", "device_model": "UA-651"}],
                  "questionnaires": [{"instrument": "PHQ-9", "answers": [0, 1, 0, 0, 2, 0, 0, 0, 0], "score": 3},
                                     {"instrument": "GAD-7", "answers": [1] * 7, "score": 7}]},
    "reading": {"sensor": "door-1", "code": "people_count", "value": 12, "unit": "{people}", "space": "s1"},
    "heartbeat": {"uptime_s": 12.5, "outbox": 0, "cpu_temp": 48.2},
    "fault": {"component": "card-reader", "error": "port vanished"},
}


@pytest.mark.parametrize("event_type", sorted(VALID_DATA))
def test_every_event_type_validates_its_data(event_type):
    env = new_event("kiosk-1", 1, event_type, VALID_DATA[event_type])
    assert env.type == event_type
    assert parse_event(env.to_json()) == env


@pytest.mark.parametrize("event_type", sorted(VALID_DATA))
def test_an_envelope_validates_as_the_model_of_its_type_by_every_route(event_type):
    env = new_event("kiosk-1", 1, event_type, VALID_DATA[event_type])
    assert isinstance(env, Envelope) and isinstance(env.data, DATA_MODELS[event_type])
    assert type(env).model_fields["data"].annotation is DATA_MODELS[event_type]
    assert Envelope.model_validate(json.loads(env.to_json())) == env
    assert Envelope.model_validate_json(env.to_json()) == env
    assert type(Envelope.model_validate(env.model_dump())) is type(env)


def test_data_of_another_type_is_refused_naming_the_contract_location():
    with pytest.raises(EnvelopeError) as info:
        parse_event(encode({**CONTRACT_EXAMPLE, "type": "heartbeat"}))
    assert info.value.reason == "schema"
    assert "data.uptime_s" in info.value.detail and "heartbeat." not in info.value.detail


BAD = [
    ("invalid-json", b"{not json"),
    ("invalid-json", b"\xff\xfe garbage"),
    ("schema", b"[1, 2, 3]"),
    ("schema", b'"an envelope"'),
    ("schema", b"null"),
    ("schema", encode({k: v for k, v in CONTRACT_EXAMPLE.items() if k != "type"})),
    ("version", encode({**CONTRACT_EXAMPLE, "v": 2})),
    ("schema", encode({**CONTRACT_EXAMPLE, "seq": "many"})),
    ("schema", encode({**CONTRACT_EXAMPLE, "seq": -1})),
    ("schema", encode({**CONTRACT_EXAMPLE, "id": "not-a-uuid"})),
    ("schema", encode({**CONTRACT_EXAMPLE, "ts": "yesterday"})),
    ("schema", encode({**CONTRACT_EXAMPLE, "ts": "2026-11-22T13:05:07"})),  # no offset
    ("schema", encode({**CONTRACT_EXAMPLE, "ts": "0001-01-01T00:00:00+05:00"})),  # no UTC equivalent
    ("schema", encode({**CONTRACT_EXAMPLE, "type": "teleport"})),
    ("schema", encode({**CONTRACT_EXAMPLE, "data": {"space": "s1"}})),  # card missing
    ("schema", encode({**CONTRACT_EXAMPLE, "data": {**CONTRACT_EXAMPLE["data"], "card": "92-2e-58"}})),
    ("schema", encode({**CONTRACT_EXAMPLE, "data": {**CONTRACT_EXAMPLE["data"], "via": "teleport"}})),
    ("schema", encode({**CONTRACT_EXAMPLE, "extra": 1})),
    ("too-large", b" " * (MAX_PAYLOAD_BYTES + 1)),
    ("type-mismatch", encode({**CONTRACT_EXAMPLE, "type": "checkout"})),
    ("device-mismatch", encode({**CONTRACT_EXAMPLE, "device": "kiosk-other"})),
]


@pytest.mark.parametrize(("reason", "payload"), BAD, ids=[f"{i}-{r}" for i, (r, _) in enumerate(BAD)])
def test_bad_payloads_are_rejected_with_a_reason(reason, payload):
    with pytest.raises(EnvelopeError) as info:
        parse_event(payload, TOPIC)
    assert info.value.reason == reason


def test_rejection_details_never_echo_the_card_number():
    bad = {**CONTRACT_EXAMPLE, "data": {**CONTRACT_EXAMPLE["data"], "card": "1234abcd"}}
    with pytest.raises(EnvelopeError) as info:
        parse_event(encode(bad), TOPIC)
    assert "1234abcd" not in str(info.value)


@pytest.mark.parametrize(("answers", "score"), [([0] * 8, 0), ([1] * 9, 8), ([4] + [0] * 8, 4)])
def test_inconsistent_questionnaires_are_rejected(answers, score):
    data = {**VALID_DATA["screening"], "questionnaires": [{"instrument": "PHQ-9", "answers": answers, "score": score}]}
    with pytest.raises(EnvelopeError):
        new_event("hs-1-lobby", 1, "screening", data)


def test_uuid7_ids_are_version_7_and_strictly_increasing():
    ids = [uuid7() for _ in range(5000)]
    assert all(i.version == 7 for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_envelope_model_rejects_naive_timestamps_directly():
    with pytest.raises(ValueError):
        Envelope.model_validate({**CONTRACT_EXAMPLE, "ts": "2026-11-22T13:05:07"})


SCREENING = {"subject": "922E5832", "session": "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11", "complete": True}


def test_a_screening_from_a_station_that_predates_consent_is_still_valid():
    # Old stations in the field send no consent; refusing them would lose screenings (docs/decisions.md).
    event = new_event("hs-lobby", 1, "screening", SCREENING)
    assert parse_event(event.to_json()).data.consent is None


def test_a_screening_carries_its_consent_version_and_time_on_the_wire():
    consent = {"version": "health-consent-1", "at": "2026-12-07T09:30:00.123+08:00"}
    event = parse_event(new_event("hs-lobby", 1, "screening", {**SCREENING, "consent": consent}).to_json())
    assert json.loads(event.to_json())["data"]["consent"] == {"version": "health-consent-1",
                                                              "at": "2026-12-07T01:30:00.123Z"}


@pytest.mark.parametrize("consent", [
    {"version": "v" * 33, "at": "2026-12-07T09:30:00Z"},  # longer than 32
    {"version": "Health Consent", "at": "2026-12-07T09:30:00Z"},  # not a slug
    {"version": "health-consent-1", "at": "2026-12-07T09:30:00"},  # no offset
    {"version": "health-consent-1"},  # no time
])
def test_a_malformed_consent_is_rejected(consent):
    with pytest.raises(EnvelopeError):
        parse_event(new_event("hs-lobby", 1, "screening", {**SCREENING, "consent": consent}).to_json())
