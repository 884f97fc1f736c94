"""Small builders of contract-valid events and records for the central tests."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from onestop.events import Envelope, new_event
from onestop.records import AlertRecord, DeviceHealth

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def event(device: str, seq: int, kind: str, data: dict[str, Any], ts: datetime = T0) -> Envelope:
    return new_event(device, seq, kind, data, ts=ts)


def checks(device: str, space: str, n: int, start: datetime = T0) -> list[Envelope]:
    """``n`` check-ins of distinct cards, one a minute."""
    return [event(device, i + 1, "checkin", {"space": space, "card": f"{0xA000 + i:04X}", "via": "tap"},
                  start + timedelta(minutes=i)) for i in range(n)]


def batch(site: str, envelopes: list[Envelope], received: datetime | None = None) -> dict[str, Any]:
    return {"site": site, "events": [{"received": (received or env.ts).timestamp(),
                                      "envelope": json.loads(env.to_json())} for env in envelopes]}


def gz(body: dict[str, Any]) -> bytes:
    return gzip.compress(json.dumps(body).encode())


GZIP = {"Content-Encoding": "gzip", "Content-Type": "application/json"}


def alert(site: str = "north-b3", updated: datetime = T0, **fields: Any) -> AlertRecord:
    values: dict[str, Any] = {"id": str(uuid.uuid4()), "site": site, "rule": "over-capacity", "severity": "notice",
                              "team": "facilities", "status": "open", "summary": "Study room over capacity",
                              "raised_at": T0, "updated_at": updated, "space": "study-24h-2f"}
    return AlertRecord(**{**values, **fields})


def device(name: str, online: bool = True, updated: datetime = T0, **fields: Any) -> DeviceHealth:
    return DeviceHealth(device=name, kind="kiosk", online=online, updated_at=updated, last_seen=updated, **fields)


def records_body(key: str, site: str, records: list[Any]) -> dict[str, Any]:
    return {"site": site, key: [r.model_dump(mode="json") for r in records]}
