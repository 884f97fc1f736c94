"""The gateway's SQLite store: events (deduplicated by id), quarantine, and persistent counters.

One writer thread owns the write connection (``gateway.writer``): every write is a function handed to it
through ``write_fn``. Readers (API, sync, start-up) use their own connections through ``reader()`` and never
wait for the writer. Each ingest batch is one queued write, one transaction: after ``write_batch`` returns,
every event in it — and every alert it raised — is durable, and its MQTT message may be acknowledged.

This module holds the SQL of the events, quarantine, counters, devices, sequence and dead-letter tables;
the alerts table's is in ``gateway.alert_store``. The schema's history (``MIGRATIONS``) is one list here,
in the order it was applied.

With a ``sealer`` (``GatewayService`` always gives one) event payloads, quarantined payloads and alert records
are stored sealed (``sealing``): the writer seals inside the write functions, so nothing reaches the file in
clear, and readers open what they read. On start, rows an older release wrote in clear, or sealed under a
rotated-out key, are resealed (``reseal``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from gateway.ingest import Accepted, Rejected
from gateway.writer import Pending, Writer
from onestop.events import Envelope, new_event
from onestop.records import AlertRecord, DeviceHealth
from onestop.sqlite import checkpoint, open_database
from sealing import Sealer

QUARANTINE_PAYLOAD_MAX = 16 * 1024  # keep the start of an oversized payload, not all of it


def _keepable(topic: str, payload: bytes) -> bytes:
    """What of a quarantined payload is kept: nothing of anything that may be a screening (on a screening
    topic, or mentioning one anywhere), whose vitals and answers no operator needs to see — the topic,
    reason, detail (field names, never values) and size say what went wrong (docs/decisions.md)."""
    if topic.rsplit("/", 1)[-1] == "screening" or b"screening" in payload:
        return b""
    return payload[:QUARANTINE_PAYLOAD_MAX]
COUNTER_MAX = 2**62 - 1  # value + by stays inside SQLite's 64-bit integers (beyond, it turns to a REAL)
_BUMP = ("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE "
         f"SET value = max({-COUNTER_MAX}, min({COUNTER_MAX}, value + excluded.value))")

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
    ("0002-alerts-devices", """
        CREATE TABLE alerts (
            id TEXT PRIMARY KEY,
            key TEXT NOT NULL,
            status TEXT NOT NULL,
            urgency INTEGER NOT NULL,
            team TEXT NOT NULL,
            raised_at TEXT NOT NULL,
            record TEXT NOT NULL,
            published INTEGER NOT NULL DEFAULT 0,
            synced INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX alerts_open_key ON alerts (key) WHERE status != 'resolved';
        CREATE INDEX alerts_unsynced ON alerts (urgency, raised_at) WHERE synced = 0;
        CREATE TABLE devices (device TEXT PRIMARY KEY, record TEXT NOT NULL);
        CREATE TABLE sequence (device TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
    """),
    ("0003-dead-letters", """
        CREATE TABLE dead_letters (
            id TEXT PRIMARY KEY,
            device TEXT NOT NULL,
            type TEXT NOT NULL,
            reason TEXT NOT NULL,
            at REAL NOT NULL
        );
    """),
]

MIGRATIONS.append(("0004-counts", """
    INSERT OR REPLACE INTO counters (name, value) SELECT 'stored', count(*) FROM events;
    INSERT OR REPLACE INTO counters (name, value) SELECT 'unsynced', count(*) FROM events WHERE synced = 0;
"""))

# Nothing read ``alerts.published``: an alert's MQTT message is a notification, its durable copy is the row
# (the API, the dashboard and central show it). See docs/decisions.md.
MIGRATIONS.append(("0005-drop-alerts-published", "ALTER TABLE alerts DROP COLUMN published;"))

# Where the gateway is in central's stream of alert actions (``gateway.alert_store.GatewayAlerts.apply_remote``).
MIGRATIONS.append(("0006-sync-cursors", "CREATE TABLE sync_cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"))
# Notifications (gateway/notifier.py): ``notify_queue`` gets a row in the transaction that raises an alert, so
# a crash cannot lose it; the notifier turns it into one ``notifications`` row per target, and records each try.
MIGRATIONS.append(("0007-notifications", """
    CREATE TABLE notify_queue (alert_id TEXT PRIMARY KEY, queued REAL NOT NULL);
    CREATE TABLE notifications (
        alert_id TEXT NOT NULL,
        target TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL,
        updated REAL NOT NULL,
        PRIMARY KEY (alert_id, target)
    );
    CREATE INDEX notifications_due ON notifications (next_at) WHERE state = 'pending';
    CREATE TABLE notify_attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_id TEXT NOT NULL,
        target TEXT NOT NULL,
        at REAL NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX notify_attempts_alert ON notify_attempts (alert_id);
"""))
# Retention by age (gateway/retention.py) finds the confirmed events of one type older than a time without
# scanning the table; rows waiting for central are not in this index, so ingest does not maintain it.
MIGRATIONS.append(("0008-retention-index",
                   "CREATE INDEX events_synced_age ON events (type, received) WHERE synced = 1;"))
# Work orders (docs/work-orders.md; their SQL is in gateway.work_order_store). ``key``: a device's order,
# one open per device and problem; ``requester``: the keyed tag of the card of a request that wants a reply.
MIGRATIONS.append(("0009-work-orders", """
    CREATE TABLE work_orders (
        id TEXT PRIMARY KEY,
        key TEXT,
        department TEXT NOT NULL,
        state TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        requester TEXT,
        record TEXT NOT NULL,
        synced INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX work_orders_open_key ON work_orders (key)
        WHERE key IS NOT NULL AND state NOT IN ('done', 'rejected');
    CREATE INDEX work_orders_list ON work_orders (department, state, opened_at);
    CREATE INDEX work_orders_unsynced ON work_orders (updated_at) WHERE synced = 0;
    CREATE INDEX work_orders_requester ON work_orders (requester, updated_at) WHERE requester IS NOT NULL;
"""))

# events.synced: 0 waiting for central, 1 confirmed by central, 2 refused by central (a dead letter)
SYNCED, DEAD = 1, 2


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one committed batch did."""

    new: list[Accepted]
    duplicates: int
    quarantined: int
    alerts: list[AlertRecord]
    conflicts: int = 0


# Inside the batch's transaction: updates what the new events change, stores the alerts they raise, returns them.
Derive = Callable[[sqlite3.Connection, list[Accepted]], list[AlertRecord]]
T = TypeVar("T")


class Store:
    """The gateway database: writes go through ``write_fn`` to its one writer, reads through ``reader()``."""

    def __init__(self, path: str | Path, quarantine_max: int = 10_000, sealer: Sealer | None = None) -> None:
        self.path = Path(path)
        self.quarantine_max = quarantine_max
        self.sealer = sealer
        self._db = open_database(self.path, MIGRATIONS, synchronous="NORMAL")
        self._writer = Writer(self.path, self._db.conn)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()  # only for the list of readers to close; never the writer's
        if sealer is not None:
            self.reseal()

    # -- sealing -------------------------------------------------------------------------------------
    def seal(self, plain: bytes, ad: str) -> bytes:
        """``plain`` as stored: sealed to ``ad`` (its row) with a sealer, else as it is."""
        return self.sealer.seal(plain, ad.encode()) if self.sealer else plain

    def unseal(self, stored: bytes | str, ad: str) -> bytes:
        """The clear bytes of a stored field (see ``seal``)."""
        return self.sealer.open(stored, ad.encode()) if self.sealer else bytes(stored, "utf-8") \
            if isinstance(stored, str) else bytes(stored)

    RESEAL_CHUNK = 2000
    _SEALED_COLUMNS = (("events", "id", "payload"), ("quarantine", "'quarantine'", "payload"))

    def reseal(self) -> int:
        """Seal under the current key what an older release stored in clear or an older key sealed, a chunk
        per transaction; then empty the WAL of the clear page images. Returns how many fields were resealed.

        A field the key file cannot open raises ``DataKeyError`` (a wrong key file): the gateway does not start.
        """
        sealer = self.sealer
        assert sealer is not None
        header = sealer.header
        sealed_under = int.from_bytes(sealer.current)  # a counter: every row is sealed under this key
        if self.counters().get("sealed-under-key") == sealed_under:
            self._check_key()  # nothing to scan: a start of a large store costs no table scan
            return 0
        total = 0
        for table, ad, column in self._SEALED_COLUMNS:
            while True:
                def chunk(conn: sqlite3.Connection, table: str = table, ad: str = ad, column: str = column) -> int:
                    rows = conn.execute(f"SELECT rowid, {ad}, {column} FROM {table} "  # noqa: S608 (constants)
                                        f"WHERE substr({column}, 1, {len(header)}) != ? AND length({column}) > 0 "
                                        "LIMIT ?", (header, self.RESEAL_CHUNK)).fetchall()
                    conn.executemany(f"UPDATE {table} SET {column} = ? WHERE rowid = ?",  # noqa: S608
                                     [(sealer.seal(sealer.open_any(blob, a.encode()), a.encode()), rowid)
                                      for rowid, a, blob in rows])
                    return len(rows)
                done = self.write_fn(chunk)
                total += done
                if done < self.RESEAL_CHUNK:
                    break
        from gateway.alert_store import reseal_alerts  # the alerts' SQL lives there
        total += self.write_fn(lambda conn: reseal_alerts(conn, sealer))
        self.write_fn(lambda conn: conn.execute("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)",
                                                ("sealed-under-key", sealed_under)))
        if total:
            self.write_fn(checkpoint, transaction=False)
        else:
            self._check_key()
        return total

    def _check_key(self) -> None:
        """The key opens the data it is to read (else ``DataKeyError`` now, not at the first sync)."""
        with self.reader() as conn:
            row = conn.execute("SELECT id, payload FROM events ORDER BY rowid DESC LIMIT 1").fetchone()
        if row:
            self.unseal(row[1], row[0])

    def write_fn(self, fn: Callable[[sqlite3.Connection], T], *, transaction: bool = True) -> T:
        """Run ``fn(conn)`` on the writer's connection, in one transaction (see ``Writer.write``)."""
        return self._writer.write(fn, transaction=transaction)

    @contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """This thread's read-only connection (WAL lets readers run beside the writer)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30, check_same_thread=False)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        yield conn

    @staticmethod
    def bump(conn: sqlite3.Connection, name: str, by: int = 1) -> None:
        """Add to a persistent counter (inside a transaction); it saturates at ``COUNTER_MAX``.

        Some counts come from devices (a sequence gap is as large as a device makes it): neither the value
        handed to SQLite nor the sum may leave its 64-bit integers, or the whole batch fails.
        """
        if by:
            by = max(-COUNTER_MAX, min(COUNTER_MAX, by))
            conn.execute(_BUMP, (name, by))

    def count(self, name: str, by: int = 1) -> None:
        """Add to a persistent counter in a transaction of its own."""
        self.write_fn(lambda conn: self.bump(conn, name, by))

    # -- events --------------------------------------------------------------------------------------
    _INSERT = ("INSERT OR IGNORE INTO events (id, device, seq, type, ts, received, priority, payload) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")

    def _row(self, item: Accepted) -> tuple:
        env = item.envelope
        return (env.id, env.device, env.seq, env.type, env.ts.isoformat(), item.received, item.priority,
                self.seal(item.payload, env.id))

    def _insert_event(self, conn: sqlite3.Connection, item: Accepted) -> bool:
        return conn.execute(self._INSERT, self._row(item)).rowcount == 1

    def _insert_events(self, conn: sqlite3.Connection,
                       items: Sequence[Accepted]) -> tuple[list[Accepted], list[Accepted]]:
        """Insert a batch; returns the items that were new, and those whose id is stored with other content.

        Usually all are new: one ``executemany`` then, and no content is compared.
        """
        before = conn.total_changes
        savepoint = "SAVEPOINT batch"
        conn.execute(savepoint)
        conn.executemany(self._INSERT, [self._row(item) for item in items])
        if conn.total_changes - before == len(items):
            conn.execute("RELEASE batch")
            return list(items), []
        # Some ids were known: redo the batch row by row to learn which, and whether each is a redelivery.
        conn.execute("ROLLBACK TO batch")
        conn.execute("RELEASE batch")
        new, conflicts = [], []
        for item in items:
            if self._insert_event(conn, item):
                new.append(item)
            elif self._differs(conn, item):
                conflicts.append(item)
        return new, conflicts

    def _differs(self, conn: sqlite3.Connection, item: Accepted) -> bool:
        """Whether the stored event with ``item``'s id says something else (not a mere redelivery)."""
        (stored,) = conn.execute("SELECT payload FROM events WHERE id = ?", (item.envelope.id,)).fetchone()
        stored = self.unseal(stored, item.envelope.id)
        if stored == item.payload:
            return False
        try:  # the same event written differently (spacing, key order) is still the same event
            return Envelope.model_validate_json(stored) != item.envelope
        except ValueError:
            return True

    def write_batch(self, accepted: Sequence[Accepted], rejected: Sequence[Rejected],
                    derive: Derive | None = None) -> BatchResult:
        """Store a batch in one transaction; duplicates (by event id) are counted and dropped.

        ``derive`` sees the new events and stores the alerts they raise, which commit with them. The whole
        batch is one queued write: the hot path pays one hand-over to the writer per batch, not per event.
        """
        return self.submit_batch(accepted, rejected, derive).wait()

    def submit_batch(self, accepted: Sequence[Accepted], rejected: Sequence[Rejected],
                     derive: Derive | None = None) -> Pending[BatchResult]:
        """``write_batch`` handed to the writer, returning at once: the caller validates the next batch
        meanwhile and ``wait()``s for this one's result before acknowledging it."""
        return self._writer.submit(lambda conn: self._write_batch(conn, accepted, rejected, derive))

    def _write_batch(self, conn: sqlite3.Connection, accepted: Sequence[Accepted], rejected: Sequence[Rejected],
                     derive: Derive | None) -> BatchResult:
        new, conflicts = self._insert_events(conn, accepted)
        self.bump(conn, "stored", len(new))
        self.bump(conn, "unsynced", len(new))
        for bad in rejected:
            self._keep(conn, bad.topic, bad.reason, bad.detail, bad.payload, bad.received)
            self.bump(conn, f"quarantined:{bad.reason}")
        for item in conflicts:
            # The first version stays; the other is kept beside the quarantine for an operator to see.
            self._keep(conn, item.topic, "conflict", "event id already stored with different content",
                       item.payload, item.received)
        self.bump(conn, "conflicts", len(conflicts))
        if rejected or conflicts:
            conn.execute("DELETE FROM quarantine WHERE id <= (SELECT max(id) FROM quarantine) - ?",
                         (self.quarantine_max,))
        duplicates = len(accepted) - len(new) - len(conflicts)
        self.bump(conn, "duplicates", duplicates)
        alerts = derive(conn, new) if derive and new else []
        return BatchResult(new, duplicates, len(rejected), alerts, len(conflicts))

    def _keep(self, conn: sqlite3.Connection, topic: str, reason: str, detail: str, payload: bytes,
              received: float) -> None:
        kept = _keepable(topic, payload)
        conn.execute(
            "INSERT INTO quarantine (topic, reason, detail, size, payload, received) VALUES (?, ?, ?, ?, ?, ?)",
            (topic[:512], reason, detail[:500], len(payload), self.seal(kept, "quarantine") if kept else b"",
             received))

    def append_own_event(self, device: str, event_type: str, data: dict, received: float) -> Accepted:
        """Record an event the gateway itself creates (e.g. an automatic check-out), with its own sequence."""
        return self.write_fn(lambda conn: self.insert_own_event(conn, device, event_type, data, received))

    def insert_own_event(self, conn: sqlite3.Connection, device: str, event_type: str, data: dict,
                         received: float) -> Accepted:
        """``append_own_event`` inside the caller's transaction (to decide and record in one step)."""
        row = conn.execute("SELECT last_seq FROM sequence WHERE device = ?", (device,)).fetchone()
        seq = (row[0] if row else 0) + 1
        env = new_event(device, seq, event_type, data)
        item = Accepted(env, env.to_json(), received)
        self._insert_event(conn, item)
        self.bump(conn, "stored")
        self.bump(conn, "unsynced")
        conn.execute("INSERT INTO sequence (device, last_seq) VALUES (?, ?) "
                     "ON CONFLICT(device) DO UPDATE SET last_seq = excluded.last_seq", (device, seq))
        return item

    def presence_events(self, since: float) -> Iterator[tuple[str, dict, float]]:
        """Check-ins and check-outs received after ``since``, in receive order, for replay."""
        with self.reader() as conn:
            for eid, kind, payload, received in conn.execute(
                    "SELECT id, type, payload, received FROM events WHERE type IN ('checkin', 'checkout') "
                    "AND received > ? ORDER BY received, rowid", (since,)):
                yield kind, json.loads(self.unseal(payload, eid))["data"], received

    def last_seqs(self) -> dict[str, int]:
        """Each device's highest stored sequence number."""
        with self.reader() as conn:
            return dict(conn.execute("SELECT device, max(seq) FROM events GROUP BY device").fetchall())

    def unsynced(self, limit: int) -> list[tuple[str, float, bytes]]:
        """The next events to sync: most urgent first, then oldest: ``(id, received, payload)``."""
        with self.reader() as conn:
            rows = conn.execute("SELECT id, received, payload FROM events WHERE synced = 0 "
                                "ORDER BY priority, received LIMIT ?", (limit,)).fetchall()
        return [(i, r, self.unseal(p, i)) for i, r, p in rows]

    def mark_synced(self, ids: Sequence[str]) -> None:
        """Record that central has confirmed these events."""
        def mark(conn: sqlite3.Connection) -> None:
            changed = conn.executemany("UPDATE events SET synced = ? WHERE id = ? AND synced = 0",
                                       [(SYNCED, i) for i in ids]).rowcount
            self.bump(conn, "synced", changed)
            self.bump(conn, "unsynced", -changed)
        self.write_fn(mark)

    def mark_dead(self, event_id: str, reason: str) -> None:
        """Central refuses this event as invalid: set it aside so it never blocks the rest."""
        def mark(conn: sqlite3.Connection) -> None:
            changed = conn.execute("UPDATE events SET synced = ? WHERE id = ? AND synced = 0",
                                   (DEAD, event_id)).rowcount
            self.bump(conn, "unsynced", -changed)
            conn.execute("INSERT OR REPLACE INTO dead_letters (id, device, type, reason, at) "
                         "SELECT id, device, type, ?, ? FROM events WHERE id = ?",
                         (reason[:500], time.time(), event_id))
            self.bump(conn, "dead-letters")
        self.write_fn(mark)

    def dead_letters(self, limit: int = 100) -> list[tuple[str, str, str, str, float]]:
        """Events central refused: ``(id, device, type, reason, at)``, newest first."""
        with self.reader() as conn:
            return conn.execute("SELECT id, device, type, reason, at FROM dead_letters ORDER BY at DESC LIMIT ?",
                                (limit,)).fetchall()

    # -- devices -------------------------------------------------------------------------------------
    def save_devices(self, records: Sequence[DeviceHealth]) -> None:
        """Persist device health (so a restarted gateway knows last-seen times and firmware)."""
        rows = [(r.device, r.model_dump_json()) for r in records]
        self.write_fn(lambda conn: conn.executemany("INSERT INTO devices (device, record) VALUES (?, ?) "
                                                    "ON CONFLICT(device) DO UPDATE SET record = excluded.record",
                                                    rows))

    def load_devices(self) -> list[DeviceHealth]:
        """Every device's last saved health."""
        with self.reader() as conn:
            return [DeviceHealth.model_validate_json(r[0]) for r in conn.execute("SELECT record FROM devices")]

    # -- quarantine ----------------------------------------------------------------------------------
    def quarantined(self, limit: int = 100) -> list[tuple[int, str, str, str, int, float]]:
        """Recently rejected messages' metadata, newest first: ``(id, topic, reason, detail, size, received)``."""
        with self.reader() as conn:
            return conn.execute("SELECT id, topic, reason, detail, size, received FROM quarantine "
                                "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()

    # -- counts --------------------------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        """Every persistent counter."""
        with self.reader() as conn:
            return dict(conn.execute("SELECT name, value FROM counters").fetchall())

    def stats(self) -> dict[str, int | dict[str, int]]:
        """Counts for ``/api/v1/stats`` and ``/metrics``."""
        counters = self.counters()  # kept exact in the same transactions as the rows, so no table scans
        by_reason = {k.split(":", 1)[1]: v for k, v in counters.items() if k.startswith("quarantined:")}
        return {
            "events": int(counters.get("stored", 0)),
            "quarantined": sum(by_reason.values()),
            "quarantined_by_reason": by_reason,
            "duplicates": int(counters.get("duplicates", 0)),
            "conflicts": int(counters.get("conflicts", 0)),
            "synced": int(counters.get("synced", 0)),
            "backlog": int(counters.get("unsynced", 0)),
            "dead_letters": int(counters.get("dead-letters", 0)),
            "alerts_set_aside": int(counters.get("alerts-set-aside", 0)),
            "fleet_refused": int(counters.get("fleet-refused", 0)),
            "dropped": {k.split(":", 1)[1]: v for k, v in counters.items() if k.startswith("dropped:")},
            "expired": {k.split(":", 1)[1]: v for k, v in counters.items() if k.startswith("expired:")},
        }

    def close(self) -> None:
        """Finish queued writes, then close every connection."""
        self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()

