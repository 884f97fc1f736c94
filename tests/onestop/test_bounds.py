"""Every number in the contract is bounded, and the gateway and central hold events and device health to the
same bounds (a gateway that accepted what central refuses would stall its sync)."""

import json

import pytest
from pydantic import ValidationError

from central.ingest import FleetSyncIn, IngestBatch
from onestop.errors import EnvelopeError
from onestop.events import MAX_COUNT, MAX_SEQ, new_event, parse_event
from onestop.records import DeviceHealth, FleetSync

HEARTBEAT = json.loads(new_event("kiosk-b3-lobby", 1, "heartbeat", {"uptime_s": 1, "outbox": 0}).to_json())


def with_(path: tuple[str, ...], value: object) -> dict:
    body = json.loads(json.dumps(HEARTBEAT))
    target = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return body


def gateway_accepts(body: dict) -> bool:
    try:
        parse_event(json.dumps(body).encode())
    except EnvelopeError:
        return False
    return True


def central_accepts(body: dict) -> bool:
    try:
        IngestBatch.model_validate({"site": "north-b3", "events": [{"received": 1.0, "envelope": body}]})
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("path", "value", "accepted"), [
    (("seq",), MAX_SEQ, True), (("seq",), MAX_SEQ + 1, False), (("seq",), 2**63 - 1, False), (("seq",), -1, False),
    (("data", "outbox"), MAX_COUNT, True), (("data", "outbox"), MAX_COUNT + 1, False),
    (("data", "uptime_s"), 1e300, False), (("data", "note"), "x" * 501, False), (("data", "note"), [1], False),
])
def test_gateway_and_central_accept_and_refuse_the_same_envelopes(path, value, accepted):
    body = with_(path, value)
    assert gateway_accepts(body) is accepted
    assert central_accepts(body) is accepted


def test_every_outbox_a_heartbeat_may_carry_reaches_centrals_fleet():
    record = DeviceHealth(device="kiosk-b3-lobby", online=True, outbox=MAX_COUNT, updated_at="2026-12-01T08:00:00Z")
    FleetSyncIn.model_validate_json(FleetSync(site="north-b3", devices=[record]).model_dump_json())
    with pytest.raises(ValidationError):
        DeviceHealth(device="kiosk-b3-lobby", online=True, outbox=MAX_COUNT + 1, updated_at="2026-12-01T08:00:00Z")
