"""The gateway's SQLite store: events (deduplicated by id), quarantine, and persistent counters.

One writer owns the write connection (the ingest thread); readers (API, sync) use their own connections
through ``reader()``. Each ingest batch is one transaction: after ``write_batch`` returns, every event in it
is durable and its MQTT message may be acknowledged.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.ingest import Accepted, Rejected
from onestop.sqlite import open_database

QUARANTINE_PAYLOAD_MAX = 16 * 1024  # keep the start of an oversized payload, not all of it

MIGRATIONS = [
    ("0001-events", """
        CREATE TABLE events (
            id TEXT PRIMARY KEY,
            device TEXT NOT NULL,
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            ts TEXT NOT NULL,
            received REAL NOT NULL,
            priority INTEGER NOT NULL,
            synced INTEGER NOT NULL DEFAULT 0,
            payload BLOB NOT NULL
        );
        CREATE INDEX events_unsynced ON events (priority, received) WHERE synced = 0;
        CREATE INDEX events_device_seq ON events (device, seq);
        CREATE TABLE quarantine (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            topic TEXT NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT NOT NULL,
            size INTEGER NOT NULL,
            payload BLOB NOT NULL,
            received REAL NOT NULL
        );
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    """),
]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one committed batch did."""

    new: list[Accepted]
    duplicates: int
    quarantined: int


class Store:
    """The gateway database. ``write_batch`` and ``mark_synced`` are for the single writer thread each."""

    def __init__(self, path: str | Path, quarantine_max: int = 10_000) -> None:
        self.path = Path(path)
        self.quarantine_max = quarantine_max
        self._db = open_database(self.path, MIGRATIONS, synchronous="NORMAL")
        self._conn = self._db.conn
        self._lock = threading.Lock()  # the write connection is shared by ingest and sync: one at a time

    @contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """A short-lived read connection (WAL lets it run beside the writer)."""
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            yield conn
        finally:
            conn.close()

    def _bump(self, name: str, by: int) -> None:
        if by:
            self._conn.execute("INSERT INTO counters (name, value) VALUES (?, ?) "
                               "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", (name, by))

    def write_batch(self, accepted: Sequence[Accepted], rejected: Sequence[Rejected]) -> BatchResult:
        """Store a batch in one transaction; duplicates (by event id) are counted and dropped."""
        new: list[Accepted] = []
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                for item in accepted:
                    env = item.envelope
                    cur = conn.execute(
                        "INSERT OR IGNORE INTO events (id, device, seq, type, ts, received, priority, payload) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (env.id, env.device, env.seq, env.type, env.ts.isoformat(), item.received,
                         item.priority, item.payload))
                    if cur.rowcount == 1:
                        new.append(item)
                for bad in rejected:
                    conn.execute(
                        "INSERT INTO quarantine (topic, reason, detail, size, payload, received) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (bad.topic[:512], bad.reason, bad.detail[:500], len(bad.payload),
                         bad.payload[:QUARANTINE_PAYLOAD_MAX], bad.received))
                    self._bump(f"quarantined:{bad.reason}", 1)
                if rejected:
                    conn.execute("DELETE FROM quarantine WHERE id <= (SELECT max(id) FROM quarantine) - ?",
                                 (self.quarantine_max,))
                duplicates = len(accepted) - len(new)
                self._bump("duplicates", duplicates)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return BatchResult(new, duplicates, len(rejected))

    def unsynced(self, limit: int) -> list[tuple[str, float, bytes]]:
        """The next events to sync: most urgent first, then oldest: ``(id, received, payload)``."""
        with self.reader() as conn:
            rows = conn.execute("SELECT id, received, payload FROM events WHERE synced = 0 "
                                "ORDER BY priority, received LIMIT ?", (limit,)).fetchall()
        return [(i, r, bytes(p)) for i, r, p in rows]

    def mark_synced(self, ids: Sequence[str]) -> None:
        """Record that central has confirmed these events."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany("UPDATE events SET synced = 1 WHERE id = ?", [(i,) for i in ids])
            self._bump("synced", len(ids))
            self._conn.execute("COMMIT")

    def stats(self) -> dict[str, int | dict[str, int]]:
        """Counts for ``/api/v1/stats`` and ``/metrics``."""
        with self.reader() as conn:
            events, backlog = conn.execute(
                "SELECT count(*), coalesce(sum(synced = 0), 0) FROM events").fetchone()
            counters = dict(conn.execute("SELECT name, value FROM counters").fetchall())
        by_reason = {k.split(":", 1)[1]: v for k, v in counters.items() if k.startswith("quarantined:")}
        return {
            "events": int(events),
            "quarantined": sum(by_reason.values()),
            "quarantined_by_reason": by_reason,
            "duplicates": int(counters.get("duplicates", 0)),
            "synced": int(counters.get("synced", 0)),
            "backlog": int(backlog),
        }

    def close(self) -> None:
        """Close the write connection."""
        with self._lock:
            self._conn.close()
