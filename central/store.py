"""The campus store on SQLAlchemy Core: one code path for SQLite (default) and PostgreSQL.

``CentralStore(url)`` migrates the schema, then offers events (ingest is idempotent on event id:
``INSERT ... ON CONFLICT DO NOTHING`` and the driver's row count tell how many events were new, on both
databases) and, as attributes, the record stores: ``alerts``, ``fleet``, ``configs``, ``audit``,
``rights``.

An event whose id central already holds is a duplicate when its content is the same, and a **conflict**
when it is not: the stored copy is kept, the id is recorded in ``event_conflicts`` and counted, and a
warning names the ids (never the contents). Contents are fetched and compared only for batches in which
the insert skipped rows, so the usual all-new batch pays nothing for this.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from central import counters, retention
from central.alerts import AlertStore
from central.audit import AuditLog
from central.db import Database
from central.fleet import FleetStore
from central.ingest import EVENT_COLUMNS, IngestItem, drop_erased, event_rows, named_card, received_utc, sort_batch
from central.migrations import migrate
from central.rights import Rights
from central.schema import event_conflicts, events, gateways
from central.siteconfigs import ConfigStore
from central.work_orders import WorkOrderStore

log = logging.getLogger(__name__)
CHECK_TYPES = ("checkin", "checkout")
LOOKUP_CHUNK = 5000  # ids per IN (...) when fetching stored contents: under every driver's parameter limit
# Keys of ``/api/v1/stats`` read from named counters.
STATS_COUNTERS = {"quarantined": counters.QUARANTINED, "future_dated": counters.FUTURE_DATED,
                  "unknown_space": counters.UNKNOWN_SPACE, "conflicts": counters.CONFLICTS,
                  "erased_dropped": counters.ERASED,
                  **{f"expired_{name}": retention.counter(name) for name in retention.CLASSES}}


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one batch did."""

    new: int
    duplicates: int
    conflicts: int = 0
    erased: int = 0


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
        self.rights = Rights(self.db)
        self.work_orders = WorkOrderStore(self.db)

    # -- ingest -------------------------------------------------------------------------------------------

    def ingest(self, site: str, items: Sequence[IngestItem], now: datetime | None = None,
               pseudonyms: Callable[[str], Sequence[str]] | None = None) -> IngestResult:
        """Insert a batch; events already known (by id) are duplicates, or conflicts when their content differs.

        Events naming a space the site's configuration lacks are stored like any other, and counted. Events
        naming a student erased at central are dropped and counted (``pseudonyms``: a card's pseudonyms under
        every key, to match the tombstones; the check costs one small query while no student was ever erased)."""
        now = now or datetime.now(UTC)
        erased = 0
        if pseudonyms is not None:
            items, erased = drop_erased(items, named_card, pseudonyms, self.rights.tombstones())
            if erased:
                log.warning("site %s: dropped %d event(s) naming students erased at central", site, erased)
        rows = event_rows(site, items, now, self.db.stored_time)
        spaces = self.configs.spaces(site)
        lag = max_lag = None
        if items:
            received = [received_utc(item) for item in items]
            lag, max_lag = (now - max(received)).total_seconds(), (now - min(received)).total_seconds()
        with self.db.write() as conn:
            new = self.db.insert_new(conn, events, EVENT_COLUMNS, rows) if rows else 0
            all_new = new == len(rows)
            sort = sort_batch(rows, all_new, {} if all_new else self._stored_before(conn, rows, now), spaces)
            dup = len(rows) - new - len(sort.conflicts)
            counters.bump(self.db, conn, counters.UNKNOWN_SPACE, sort.unknown_space)
            counters.bump(self.db, conn, counters.CONFLICTS, len(sort.conflicts))
            counters.bump(self.db, conn, counters.ERASED, erased)
            self._record_conflicts(conn, site, sort.conflicts, now)
            upsert = self.db.insert(gateways).values(site=site, last_seen=now, events=new, duplicates=dup,
                                                     lag_s=lag, max_lag_s=max_lag, quarantined=0)
            conn.execute(upsert.on_conflict_do_update(index_elements=["site"], set_={
                "last_seen": now, "events": gateways.c.events + new, "duplicates": gateways.c.duplicates + dup,
                "lag_s": sa.func.coalesce(upsert.excluded.lag_s, gateways.c.lag_s),
                "max_lag_s": sa.func.coalesce(upsert.excluded.max_lag_s, gateways.c.max_lag_s)}))
        if sort.conflicts:
            log.warning("site %s: %d event(s) arrived with the id of a stored event but other content; the stored "
                        "copy is kept (ids: %s)", site, len(sort.conflicts),
                        ", ".join(event_id for event_id, _ in sort.conflicts[:20]))
        return IngestResult(new, dup, len(sort.conflicts), erased)

    def _stored_before(self, conn: sa.Connection, rows: Sequence[tuple[Any, ...]],
                       now: datetime) -> dict[str, tuple[Any, ...]]:
        """``event_content`` of the batch's ids stored before this batch (rows it inserted carry ``now``).

        Read through the driver, like ``Database.insert_new`` writes: values come back in the form the batch's
        rows hold them (times as ``stored_time`` gives them, ``data`` as its JSON text), so comparing needs
        no conversion; half the cost of a SQLAlchemy select with type processing."""
        ids = list({row[0] for row in rows})
        marker = "?" if self.db.is_sqlite else "%s"
        found: dict[str, tuple[Any, ...]] = {}
        for start in range(0, len(ids), LOOKUP_CHUNK):
            chunk = ids[start:start + LOOKUP_CHUNK]
            sql = (f"SELECT id, site, device, seq, type, ts, CAST(data AS TEXT) FROM events "
                   f"WHERE id IN ({', '.join([marker] * len(chunk))}) AND ingested <> {marker}")
            for event_id, *content in conn.exec_driver_sql(sql, (*chunk, self.db.stored_time(now))):
                found[event_id] = tuple(content)
        return found

    def _record_conflicts(self, conn: sa.Connection, site: str, conflicts: Sequence[tuple[str, str]],
                          now: datetime) -> None:
        if not conflicts:
            return
        stmt = self.db.insert(event_conflicts)
        stmt = stmt.on_conflict_do_update(index_elements=["event_id"], set_={
            "last_at": stmt.excluded.last_at, "times": event_conflicts.c.times + 1})
        conn.execute(stmt, [{"event_id": event_id, "site": site, "device": device, "first_at": now, "last_at": now,
                             "times": 1} for event_id, device in dict(conflicts).items()])  # each id once

    def conflicts(self, limit: int = 200) -> list[dict[str, Any]]:
        """Event ids that arrived with content other than the stored copy's, most recent first."""
        query = sa.select(event_conflicts).order_by(event_conflicts.c.last_at.desc(),
                                                    event_conflicts.c.event_id).limit(limit)
        with self.db.read() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

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

    def first_event_at(self, site: str, space: str) -> datetime | None:
        """When the first event of ``space`` at ``site`` happened, or ``None``."""
        with self.db.read() as conn:
            return conn.execute(sa.select(sa.func.min(events.c.at))
                                .where(events.c.site == site, events.c.space == space)).scalar()

    def screenings(self, subject: str | None = None, site: str | None = None, since: datetime | None = None,
                   until: datetime | None = None, limit: int = 100, offset: int = 0) -> list[StoredEvent]:
        """Screening events, newest first, filtered (``offset`` skips that many matches)."""
        query = sa.select(events).where(events.c.type == "screening")
        if subject is not None:
            query = query.where(events.c.subject == subject)
        if site is not None:
            query = query.where(events.c.site == site)
        if since is not None:
            query = query.where(events.c.at >= since)
        if until is not None:
            query = query.where(events.c.at < until)
        return self._events(query.order_by(events.c.at.desc(), events.c.id).limit(limit).offset(offset))

    def screening(self, event_id: str) -> StoredEvent | None:
        """One screening event by id, or None."""
        found = self._events(sa.select(events).where(events.c.type == "screening", events.c.id == event_id))
        return found[0] if found else None

    def _events(self, query: sa.Select[Any]) -> list[StoredEvent]:
        with self.db.read() as conn:
            rows = conn.execute(query).mappings().all()
        return [StoredEvent(r["id"], r["site"], r["device"], r["type"], r["at"], r["space"], r["subject"],
                            r["data"]) for r in rows]

    def close(self) -> None:
        """Release connections."""
        self.db.close()

