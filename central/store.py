"""The campus store on SQLAlchemy Core: one code path for SQLite (default) and PostgreSQL.

``CentralStore(url)`` migrates the schema, then offers events (ingest is idempotent on event id:
``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` tells exactly which events were new, on both
databases) and, as attributes, the record stores: ``alerts``, ``fleet``, ``configs``, ``audit``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from central import counters
from central.alerts import AlertStore
from central.audit import AuditLog
from central.db import Database
from central.fleet import FleetStore
from central.ingest import EVENT_COLUMNS, IngestItem, event_rows, received_utc
from central.migrations import migrate
from central.schema import events, gateways
from central.siteconfigs import ConfigStore

CHECK_TYPES = ("checkin", "checkout")
# Keys of ``/api/v1/stats`` read from named counters.
STATS_COUNTERS = {"quarantined": counters.QUARANTINED, "future_dated": counters.FUTURE_DATED,
                  "unknown_space": counters.UNKNOWN_SPACE, "conflicts": counters.CONFLICTS}


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one batch did."""

    new: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as analytics and health queries see it."""

    id: str
    site: str
    device: str
    type: str
    at: datetime
    space: str | None
    subject: str | None
    data: dict[str, Any]


class CentralStore:
    """Events from every gateway, what central knows about each gateway, and the record stores."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.engine = self.db.engine
        migrate(self.db)
        self.alerts = AlertStore(self.db)
        self.fleet = FleetStore(self.db)
        self.configs = ConfigStore(self.db)
        self.audit = AuditLog(self.db)

    # -- ingest -------------------------------------------------------------------------------------------

    def ingest(self, site: str, items: Sequence[IngestItem], now: datetime | None = None) -> IngestResult:
        """Insert a batch; events already known (by id) are counted as duplicates."""
        now = now or datetime.now(UTC)
        rows = event_rows(site, items, now, self.db.stored_time)
        lag = max_lag = None
        if items:
            received = [received_utc(item) for item in items]
            lag, max_lag = (now - max(received)).total_seconds(), (now - min(received)).total_seconds()
        with self.db.write() as conn:
            new = self.db.insert_new(conn, events, EVENT_COLUMNS, rows) if rows else 0
            dup = len(rows) - new
            upsert = self.db.insert(gateways).values(site=site, last_seen=now, events=new, duplicates=dup,
                                                     lag_s=lag, max_lag_s=max_lag, quarantined=0)
            conn.execute(upsert.on_conflict_do_update(index_elements=["site"], set_={
                "last_seen": now, "events": gateways.c.events + new, "duplicates": gateways.c.duplicates + dup,
                "lag_s": sa.func.coalesce(upsert.excluded.lag_s, gateways.c.lag_s),
                "max_lag_s": sa.func.coalesce(upsert.excluded.max_lag_s, gateways.c.max_lag_s)}))
        return IngestResult(new, dup)

    def count_quarantined(self, site: str | None, now: datetime | None = None) -> None:
        """Count a rejected batch, per site when the site is known."""
        now = now or datetime.now(UTC)
        with self.db.write() as conn:
            counters.bump(self.db, conn, counters.QUARANTINED)
            if site is not None:
                upsert = self.db.insert(gateways).values(site=site, last_seen=now, events=0, duplicates=0,
                                                         quarantined=1)
                conn.execute(upsert.on_conflict_do_update(index_elements=["site"], set_={
                    "last_seen": now, "quarantined": gateways.c.quarantined + 1}))

    # -- counts and gateways ------------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counts for ``/api/v1/stats``."""
        with self.db.read() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
            dup, sites = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(gateways.c.duplicates), 0),
                                                sa.func.count())).one()
            counted = counters.read(conn, STATS_COUNTERS.values())
        return {"events": int(stored), "duplicates": int(dup), "gateways": int(sites),
                **{key: counted[name] for key, name in STATS_COUNTERS.items()},
                **self.alerts.counts(), **self.fleet.counts()}

    def gateways(self) -> list[dict[str, Any]]:
        """Every gateway central has heard from, with last contact and sync lag."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(gateways).order_by(gateways.c.site)).mappings().all()
        return [dict(row) for row in rows]

    def event_ids(self) -> set[str]:
        """Every stored event id (for reconciliation in tests and audits)."""
        with self.db.read() as conn:
            return set(conn.execute(sa.select(events.c.id)).scalars())

    # -- queries for analytics and health ----------------------------------------------------------------

    def space_events(self, site: str, space: str, start: datetime, end: datetime,
                     types: Iterable[str] = (*CHECK_TYPES, "reading")) -> list[StoredEvent]:
        """Events of one space in ``[start, end)`` by time (check-ins/outs and readings by default)."""
        query = (sa.select(events).where(events.c.site == site, events.c.space == space,
                                         events.c.at >= start, events.c.at < end, events.c.type.in_(list(types)))
                 .order_by(events.c.at, events.c.id))
        return self._events(query)

    def check_events_since(self, start: datetime, end: datetime) -> list[StoredEvent]:
        """Check-ins and check-outs of every space in ``[start, end)``, by time."""
        query = (sa.select(events).where(events.c.type.in_(CHECK_TYPES), events.c.at >= start,
                                         events.c.at < end).order_by(events.c.at, events.c.id))
        return self._events(query)

    def readings_since(self, start: datetime, end: datetime) -> list[StoredEvent]:
        """Sensor readings in ``[start, end)``, by time."""
        query = (sa.select(events).where(events.c.type == "reading", events.c.at >= start, events.c.at < end)
                 .order_by(events.c.at, events.c.id))
        return self._events(query)

    def space_known(self, site: str, space: str) -> bool:
        """Whether any event mentions ``space`` at ``site``."""
        with self.db.read() as conn:
            return conn.execute(sa.select(events.c.id).where(events.c.site == site, events.c.space == space)
                                .limit(1)).first() is not None

    def first_event_at(self, site: str, space: str) -> datetime | None:
        """When the first event of ``space`` at ``site`` happened, or ``None``."""
        with self.db.read() as conn:
            return conn.execute(sa.select(sa.func.min(events.c.at))
                                .where(events.c.site == site, events.c.space == space)).scalar()

    def screenings(self, subject: str | None = None, site: str | None = None, since: datetime | None = None,
                   until: datetime | None = None, limit: int = 100) -> list[StoredEvent]:
        """Screening events, newest first, filtered."""
        query = sa.select(events).where(events.c.type == "screening")
        if subject is not None:
            query = query.where(events.c.subject == subject)
        if site is not None:
            query = query.where(events.c.site == site)
        if since is not None:
            query = query.where(events.c.at >= since)
        if until is not None:
            query = query.where(events.c.at < until)
        return self._events(query.order_by(events.c.at.desc(), events.c.id).limit(limit))

    def _events(self, query: sa.Select[Any]) -> list[StoredEvent]:
        with self.db.read() as conn:
            rows = conn.execute(query).mappings().all()
        return [StoredEvent(r["id"], r["site"], r["device"], r["type"], r["at"], r["space"], r["subject"],
                            r["data"]) for r in rows]

    def close(self) -> None:
        """Release connections."""
        self.db.close()


def epoch_to_datetime(value: float) -> datetime:
    """A gateway receive time (Unix seconds) as an aware datetime."""
    return datetime.fromtimestamp(value, UTC)
