"""Device health from every gateway: the campus fleet.

Gateways push what they know about their devices with ``POST /api/v1/fleet/sync``; each device is
upserted by id (device ids are unique campus-wide) and the newer ``updated_at`` wins. Times after the
record's arrival (``updated_at``, ``last_seen``) are clamped to it first: a record dated 2030 would otherwise
win over every real update until 2030 (see ``central.alerts.clamp_future``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from central import counters
from central.alerts import UpsertResult, clamped_rows, newer_wins_upsert
from central.db import Database
from central.schema import devices
from onestop.records import DeviceHealth

log = logging.getLogger(__name__)
DEVICE_TIMES = ("updated_at", "last_seen")


class FleetStore:
    """The campus-wide device table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def upsert(self, site: str, records: Sequence[DeviceHealth], now: datetime | None = None) -> UpsertResult:
        """Apply one gateway's view of its devices; a record older than the stored copy is ignored."""
        now = now or datetime.now(UTC)
        latest: dict[str, DeviceHealth] = {}
        for record in records:
            if record.device not in latest or latest[record.device].updated_at < record.updated_at:
                latest[record.device] = record
        rows, clamped = clamped_rows(devices, [{**record.model_dump(), "site": site, "synced_at": now}
                                               for record in latest.values()], now, DEVICE_TIMES)
        with self.db.write() as conn:
            applied = newer_wins_upsert(self.db, conn, devices, "device", rows)
            counters.bump(self.db, conn, counters.FUTURE_DATED, clamped)
        if clamped:
            log.warning("site %s: %d device record(s) dated after their arrival; clamped to it", site, clamped)
        return UpsertResult(applied, len(records) - applied)

    def list(self, site: str | None = None, online: bool | None = None) -> list[dict[str, Any]]:
        """Devices, by site then id."""
        stmt = sa.select(devices)
        if site is not None:
            stmt = stmt.where(devices.c.site == site)
        if online is not None:
            stmt = stmt.where(devices.c.online == online)
        with self.db.read() as conn:
            return [dict(r) for r in conn.execute(stmt.order_by(devices.c.site, devices.c.device)).mappings()]

    def summary(self) -> dict[str, dict[str, int]]:
        """Per site: devices online and offline."""
        stmt = sa.select(devices.c.site, devices.c.online, sa.func.count()).group_by(devices.c.site,
                                                                                   devices.c.online)
        out: dict[str, dict[str, int]] = {}
        with self.db.read() as conn:
            for site, online, count in conn.execute(stmt):
                out.setdefault(site, {"online": 0, "offline": 0})["online" if online else "offline"] += int(count)
        return dict(sorted(out.items()))

    def counts(self) -> dict[str, int]:
        """Totals for ``/api/v1/stats``."""
        stmt = sa.select(sa.func.count(), sa.func.count().filter(devices.c.online.is_(False)))
        with self.db.read() as conn:
            total, offline = conn.execute(stmt).one()
        return {"devices": int(total), "devices_offline": int(offline)}
