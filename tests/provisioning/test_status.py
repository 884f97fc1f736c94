"""The status join (pure) and the gateway client (against httpx's mock transport and a dead port)."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from harness.netutil import free_port
from provisioning.errors import GatewayQueryError
from provisioning.registry import Device
from provisioning.status import (
    Connection,
    GatewayDevice,
    fetch_gateway_devices,
    join_status,
    parse_gateway_devices,
)


def device(name: str, status: str = "active") -> Device:
    return Device(name, "kiosk", "study", None, status, None, "t", "t", None, None, None, None, None, False)


SEEN = [{"device": "kiosk-on", "kind": "kiosk", "online": True, "fw": "0.1.0", "last_seen": "2026-11-22T13:05:07Z",
         "boot": "b1", "outbox": 0},
        {"device": "kiosk-off", "kind": "kiosk", "online": False, "fw": "0.1.0",
         "last_seen": "2026-11-22T12:00:00Z", "boot": "b2", "outbox": 3},
        {"device": "kiosk-revoked", "kind": "kiosk", "online": True, "fw": None, "last_seen": None, "boot": None,
         "outbox": None},
        {"device": "kiosk-stranger", "kind": "kiosk", "online": True, "fw": "9", "last_seen": None, "boot": "x",
         "outbox": 0, "something_new": 1}]


def test_the_join_labels_every_device():
    registry = [device("kiosk-on"), device("kiosk-off"), device("kiosk-new"), device("kiosk-revoked", "revoked")]
    rows = {r.device: r for r in join_status(registry, parse_gateway_devices(SEEN))}
    assert rows["kiosk-on"].connection is Connection.ONLINE and rows["kiosk-on"].fw == "0.1.0"
    assert rows["kiosk-on"].last_seen == dt.datetime(2026, 11, 22, 13, 5, 7, tzinfo=dt.UTC)
    assert rows["kiosk-off"].connection is Connection.OFFLINE and rows["kiosk-off"].outbox == 3
    assert rows["kiosk-new"].connection is Connection.NEVER_SEEN
    assert rows["kiosk-revoked"].suspicious and rows["kiosk-revoked"].registry == "revoked"
    assert rows["kiosk-stranger"].registry == "unregistered" and rows["kiosk-stranger"].suspicious
    assert not rows["kiosk-on"].suspicious
    assert list(rows) == sorted(rows)


def test_without_the_gateway_every_connection_is_unknown():
    rows = join_status([device("kiosk-a"), device("kiosk-b")], None)
    assert [r.connection for r in rows] == [Connection.UNKNOWN, Connection.UNKNOWN]


def test_a_listed_device_that_never_connected_is_never_seen():
    rows = join_status([device("kiosk-a")], [GatewayDevice(device="kiosk-a", online=False)])
    assert rows[0].connection is Connection.NEVER_SEEN


def test_a_payload_of_the_wrong_shape_is_a_gateway_error():
    with pytest.raises(GatewayQueryError, match="expected shape"):
        parse_gateway_devices({"devices": []})
    with pytest.raises(GatewayQueryError):
        parse_gateway_devices([{"device": "kiosk-a"}])  # "online" is required


def transport(status: int, body: object = None, seen: list | None = None) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, json=body)
    return httpx.MockTransport(handle)


def test_the_client_sends_the_bearer_token_to_the_devices_route():
    requests: list[httpx.Request] = []
    got = fetch_gateway_devices("http://gw:8080/", "tok", transport=transport(200, SEEN, requests))
    assert [g.device for g in got] == [s["device"] for s in SEEN]
    assert str(requests[0].url) == "http://gw:8080/api/v1/devices"
    assert requests[0].headers["authorization"] == "Bearer tok"


@pytest.mark.parametrize(("status", "message"), [(401, "refused the token"), (403, "technician or admin"),
                                                 (500, "HTTP 500")])
def test_refusals_and_failures_are_gateway_errors(status, message):
    with pytest.raises(GatewayQueryError, match=message):
        fetch_gateway_devices("http://gw:8080", "tok", transport=transport(status, {}))


def test_an_unreachable_gateway_is_a_gateway_error():
    with pytest.raises(GatewayQueryError, match="unreachable"):
        fetch_gateway_devices(f"http://127.0.0.1:{free_port()}", "tok", timeout=2)


def test_the_client_reads_a_real_gateways_device_list(gateway, kiosk_factory, site):
    # The fixtures of tests/conftest.py: a LocalSite broker, central and gateway in their own processes.
    from tests.helpers import wait_until

    kiosk_factory("kiosk-test-a")

    def online():
        seen = {g.device: g for g in fetch_gateway_devices(site.gateway_url, site.tokens["technician"])}
        return seen.get("kiosk-test-a") if seen.get("kiosk-test-a") and seen["kiosk-test-a"].online else None
    entry = wait_until(online, 20, what="the kiosk online at the gateway")
    assert entry.fw and entry.boot
    with pytest.raises(GatewayQueryError, match="refused the token"):
        fetch_gateway_devices(site.gateway_url, "not-a-token")
