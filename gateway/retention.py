"""What the gateway deletes, and when: time limits per data class, and the storage bound.

**Time limits** (``expire``, every ``storage.retention_interval_s``): the gateway is a relay, not an archive.
Applied only to what needs the gateway no more, so nothing is lost:

======================  ============================================  ==========================
class (counter)         rows                                          kept (``storage.*``)
======================  ============================================  ==========================
``screenings``          screenings central has confirmed              ``screenings_days`` (3)
``events``              every other event central has confirmed       ``events_days`` (14)
``quarantine``          rejected messages (never sent to central)     ``quarantine_days`` (7)
``resolved-alerts``     resolved alerts whose version central has     ``resolved_alerts_days`` (30), from the raise
``notifications``       finished notification deliveries              ``notification_tries_days`` (30)
``notification-tries``  every notification try                        ``notification_tries_days`` (30)
======================  ============================================  ==========================

An event waiting for central, or one central refused (a dead letter, waiting for a person), is never
removed by age; an unresolved alert, or a resolution central has not yet confirmed, neither. Each deletion
is counted under ``expired:<class>`` (``/api/v1/stats``: ``expired``, ``/metrics``:
``onestop_gateway_expired``). Ages count from the gateway's receive time (events, quarantine) and the
alert's raise; only columns kept in clear are read, so this works whatever the payloads are sealed with.

**The storage bound** (``enforce``): what goes when the database outgrows the configured bytes.

Policy, in order, until the database is back under the bound:
1. events central has already confirmed, oldest first (nothing is lost: central has them);
2. events central has not confirmed, lowest priority first (heartbeats and readings, then presence),
   oldest first within a priority;
3. urgent health events (screenings) last of all.
Dead letters are kept: they wait for a person. Every deletion is counted under ``dropped:<class>``.

"Used bytes" are the database's pages in use (page count minus free pages), so space freed by deletions
counts at once, without a VACUUM that would rewrite the whole file on an SD card.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from datetime import UTC, datetime
from typing import get_args

from gateway.notify_queue import PENDING
from gateway.settings import StorageSettings
from gateway.store import SYNCED, Store
from onestop.events import EventType

log = logging.getLogger(__name__)

CHUNK = 2000
# (counter name, WHERE clause) in the order the policy deletes.
CLASSES = [
    ("synced", f"synced = {SYNCED}"),
    ("unsynced-low", "synced = 0 AND priority = 2"),
    ("unsynced-presence", "synced = 0 AND priority = 1"),
    ("unsynced-urgent", "synced = 0 AND priority = 0"),
]


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the database in use."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0] - conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int(pages * conn.execute("PRAGMA page_size").fetchone()[0])


def stored_rows(conn: sqlite3.Connection) -> int:
    """How many events are stored, from the persistent counter (no table scan)."""
    row = conn.execute("SELECT value FROM counters WHERE name = 'stored'").fetchone()
    return int(row[0]) if row else 0


def enforce(store: Store, max_bytes: int) -> dict[str, int]:
    """Delete by the policy until the store fits in ``max_bytes``; returns how many of each class went."""
    dropped: dict[str, int] = {}
    for name, where in CLASSES:
        while True:
            # One queued write per chunk, so ingest batches take their turns between chunks.
            deleted, limit = store.write_fn(lambda conn, name=name, where=where: _drop_chunk(conn, name, where,
                                                                                           max_bytes))
            if limit == 0:
                break  # under the bound
            dropped[name] = dropped.get(name, 0) + deleted
            if deleted < limit:
                break  # this class is exhausted
    dropped = {k: v for k, v in dropped.items() if v}
    if dropped:
        log.warning("storage bound of %d bytes reached: dropped %s", max_bytes, dropped)
    return dropped


def _drop_chunk(conn: sqlite3.Connection, name: str, where: str, max_bytes: int) -> tuple[int, int]:
    """Delete the next chunk of one class; returns ``(deleted, limit)``, the limit 0 when under the bound."""
    used = used_bytes(conn)
    if used <= max_bytes:
        return 0, 0
    # Delete only about as many rows as the overshoot needs (measured again after each chunk), so urgent
    # records are not thrown away wholesale when the store is just over its bound. The rows come from the
    # ``stored`` counter, kept exact in the same transactions as the rows: counting them would scan all of
    # ``events`` per chunk in the writer, and every acknowledgement waits for the writer.
    rows = stored_rows(conn) or 1
    limit = max(1, min(CHUNK, math.ceil((used - max_bytes) / (used / rows))))
    # Deleted rows and their count commit together, so the counts are exact.
    deleted = conn.execute(f"DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE {where} "
                           f"ORDER BY received LIMIT ?)", (limit,)).rowcount
    Store.bump(conn, f"dropped:{name}", deleted)
    Store.bump(conn, "stored", -deleted)
    if name != "synced":
        Store.bump(conn, "unsynced", -deleted)
    return deleted, limit


DAY_S = 86_400.0
OTHER_TYPES = tuple(t for t in get_args(EventType) if t != "screening")


def expiry_rules(settings: StorageSettings, now: float) -> list[tuple[str, str, tuple[object, ...]]]:
    """``(class, DELETE statement, parameters)`` of each time limit, cut-offs computed from ``now`` (pure).

    Each statement deletes at most ``CHUNK`` rows (its last parameter), so the writer takes turns with ingest.
    Events are found through the ``events_synced_age`` index, one type at a time."""
    def cutoff(days: float) -> float:
        return now - days * DAY_S

    events = ("DELETE FROM events WHERE rowid IN (SELECT rowid FROM events "
              f"WHERE synced = {SYNCED} AND type = ? AND received < ? LIMIT ?)")
    rules: list[tuple[str, str, tuple[object, ...]]] = [
        ("screenings", events, ("screening", cutoff(settings.screenings_days), CHUNK))]
    rules += [("events", events, (kind, cutoff(settings.events_days), CHUNK)) for kind in OTHER_TYPES]
    rules += [
        ("quarantine", "DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE received < ? LIMIT ?)",
         (cutoff(settings.quarantine_days), CHUNK)),
        # raised_at is the ISO text of a UTC time (``gateway.alert_store``): it compares as text.
        ("resolved-alerts", "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE status = 'resolved' "
                            "AND synced = 1 AND raised_at < ? LIMIT ?)",
         (_iso(cutoff(settings.resolved_alerts_days)), CHUNK)),
        # Notifications (``gateway.notify_queue``): finished deliveries and every try; a pending one stays.
        ("notifications", f"DELETE FROM notifications WHERE rowid IN (SELECT rowid FROM notifications "
                          f"WHERE state != '{PENDING}' AND updated < ? LIMIT ?)",
         (cutoff(settings.notification_tries_days), CHUNK)),
        ("notification-tries", "DELETE FROM notify_attempts WHERE id IN (SELECT id FROM notify_attempts "
                               "WHERE at < ? LIMIT ?)",
         (cutoff(settings.notification_tries_days), CHUNK))]
    return rules


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


def expire(store: Store, settings: StorageSettings, now: float | None = None) -> dict[str, int]:
    """Apply every time limit; returns how many rows of each class went (classes with none left out)."""
    now = time.time() if now is None else now
    expired: dict[str, int] = {}
    for name, sql, params in expiry_rules(settings, now):
        while True:
            deleted = store.write_fn(lambda conn, n=name, q=sql, p=params: _expire_chunk(conn, n, q, p))
            expired[name] = expired.get(name, 0) + deleted
            if deleted < CHUNK:
                break
    expired = {k: v for k, v in expired.items() if v}
    if expired:
        log.info("retention: removed %s", expired)
    return expired


def _expire_chunk(conn: sqlite3.Connection, name: str, sql: str, params: tuple[object, ...]) -> int:
    """Delete one chunk of a class and count it in the same transaction."""
    deleted = conn.execute(sql, params).rowcount
    Store.bump(conn, f"expired:{name}", deleted)
    if name in ("screenings", "events"):
        Store.bump(conn, "stored", -deleted)
    return deleted
