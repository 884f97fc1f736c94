"""The storage bound: what the gateway deletes when its database outgrows the configured bytes.

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

from gateway.store import SYNCED, Store

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
