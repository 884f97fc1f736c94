"""``provision status``: the registry joined with what the gateway has seen.

The join is a pure function (``join_status``); the only I/O is ``fetch_gateway_devices``, which reads the
gateway's ``GET /api/v1/devices`` (bearer role ``technician`` or ``admin``): a JSON list of
``{"device", "kind", "online", "fw", "last_seen" (RFC 3339 or null), "boot", "outbox"}``. Unknown extra
fields are ignored so the gateway may grow the shape without breaking older technicians' tools.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from provisioning.errors import GatewayQueryError
from provisioning.registry import Device


class GatewayDevice(BaseModel):
    """One entry of the gateway's device list."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    device: str
    kind: str | None = None
    online: bool
    fw: str | None = None
    last_seen: dt.datetime | None = None
    boot: str | None = None
    outbox: int | None = None


_LIST = TypeAdapter(list[GatewayDevice])


class Connection(StrEnum):
    """What the gateway says about a device's link."""

    ONLINE = "online"
    OFFLINE = "offline"
    NEVER_SEEN = "never seen"
    UNKNOWN = "unknown"  # the gateway could not be asked


@dataclass(frozen=True, slots=True)
class StatusRow:
    """One line of the status table."""

    device: str
    kind: str
    space: str
    registry: str  # active, revoked, or "unregistered" for a device the gateway knows and we do not
    connection: Connection
    fw: str | None = None
    last_seen: dt.datetime | None = None
    outbox: int | None = None

    @property
    def suspicious(self) -> bool:
        """A revoked device still online, or a device online that this registry never provisioned."""
        return self.connection is Connection.ONLINE and self.registry != "active"


def join_status(devices: Sequence[Device], seen: Sequence[GatewayDevice] | None) -> list[StatusRow]:
    """Every registry device with its connection (``UNKNOWN`` when ``seen`` is None), then the devices the
    gateway knows that the registry does not, sorted by id."""
    by_id = {g.device: g for g in seen or []}
    rows: list[StatusRow] = []
    for device in devices:
        entry = by_id.pop(device.id, None)
        if seen is None:
            connection = Connection.UNKNOWN
        elif entry is None or (not entry.online and entry.last_seen is None):
            connection = Connection.NEVER_SEEN
        else:
            connection = Connection.ONLINE if entry.online else Connection.OFFLINE
        rows.append(StatusRow(device.id, device.kind, device.space, device.status, connection,
                              entry.fw if entry else None, entry.last_seen if entry else None,
                              entry.outbox if entry else None))
    for entry in by_id.values():
        rows.append(StatusRow(entry.device, entry.kind or "?", "?", "unregistered",
                              Connection.ONLINE if entry.online else Connection.OFFLINE, entry.fw, entry.last_seen,
                              entry.outbox))
    return sorted(rows, key=lambda r: r.device)


def parse_gateway_devices(payload: object) -> list[GatewayDevice]:
    """The gateway's JSON list, checked; ``GatewayQueryError`` if it is not the agreed shape."""
    try:
        return _LIST.validate_python(payload)
    except ValidationError as exc:
        raise GatewayQueryError(f"the gateway's device list is not in the expected shape: "
                                f"{exc.error_count()} problem(s), first: {exc.errors()[0]['msg']}") from exc


def fetch_gateway_devices(url: str, token: str, *, timeout: float = 5.0, ca_file: Path | None = None,
                          transport: httpx.BaseTransport | None = None) -> list[GatewayDevice]:
    """``GET {url}/api/v1/devices`` with the bearer ``token``; every failure is a ``GatewayQueryError``.
    An ``https://`` gateway is verified against ``ca_file`` (the site CA) when given."""
    endpoint = url.rstrip("/") + "/api/v1/devices"
    verify = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
    try:
        with httpx.Client(timeout=timeout, transport=transport, verify=verify) as client:
            response = client.get(endpoint, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise GatewayQueryError(f"gateway {url} unreachable: {type(exc).__name__}: {exc}") from exc
    if response.status_code in (401, 403):
        raise GatewayQueryError(f"gateway {url} refused the token (HTTP {response.status_code}); it needs role "
                                "technician or admin")
    if response.status_code != 200:
        raise GatewayQueryError(f"gateway {url} answered HTTP {response.status_code} for /api/v1/devices")
    try:
        payload = response.json()
    except ValueError as exc:
        raise GatewayQueryError(f"gateway {url} did not answer JSON") from exc
    return parse_gateway_devices(payload)
