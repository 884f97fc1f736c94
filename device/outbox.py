"""The device-side durable outbox, shared by kiosks, health stations and sensor nodes.

Chain of custody, first link: ``append`` allocates the device's next sequence number and writes the event in
one SQLite transaction with ``synchronous=FULL``, so when it returns the event survives a power cut and the
caller may show "done".

A PUBACK only means the broker has the event in memory; Mosquitto writes its state to disk every few
seconds, so a broker crash can lose what it acknowledged just before. An acknowledged event therefore
stays in the outbox for ``resend_window_s`` more seconds (``mark_acked``), and after every reconnect the
device sends those again (``recently_acked``): the gateway drops the copies by event id.

Every append sets ``appended``, the event the link's publisher waits on: whoever records an event wakes the
publisher by doing so, and needs no second call to remember.

The sequence counter lives in the same database and is advanced in the same transaction as the insert: a
number is never reused and never skipped, across restarts and crashes.

With a ``sealer`` (every kiosk and health station: the payload holds cards, vitals and answers) the payload
is stored sealed, bound to its event id (``sealing``); rows in clear from an older release, or sealed under
a rotated-out key, are resealed when the outbox opens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from onestop.events import Envelope, new_event
from onestop.sqlite import checkpoint, open_database
from sealing import Sealer

MIGRATIONS = [
    ("0001-outbox", """
        CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            payload BLOB NOT NULL,
            created REAL NOT NULL
        );
        CREATE TABLE sequence (device TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
    """),
    ("0002-acked", """
        ALTER TABLE outbox ADD COLUMN acked REAL;
        CREATE INDEX outbox_acked ON outbox (acked) WHERE acked IS NOT NULL;
    """),
]


@dataclass(frozen=True, slots=True)
class Pending:
    """An event waiting in the outbox for its PUBACK."""

    seq: int
    type: str
    payload: bytes


class Outbox:
    """Durable queue of a device's events, with its persistent sequence counter."""

    def __init__(self, path: str | Path, device: str, sealer: Sealer | None = None) -> None:
        self.device = device
        self._sealer = sealer
        self._db = open_database(path, MIGRATIONS, synchronous="FULL")
        self._conn = self._db.conn
        self._lock = threading.Lock()
        self.appended = threading.Event()  # set after every append; the link's publisher waits on it
        if sealer is not None:
            self._reseal(sealer)

    def _reseal(self, sealer: Sealer) -> None:
        """Seal what an older release left in clear and what an older key sealed; a payload the key does not
        open raises ``DataKeyError`` (the wrong key file): the device does not start."""
        rows = [(seq, eid, payload) for seq, eid, payload in
                self._conn.execute("SELECT seq, id, payload FROM outbox") if sealer.stale(payload)]
        if rows:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany("UPDATE outbox SET payload = ? WHERE seq = ?", [
                    (sealer.seal(sealer.open_any(payload, eid.encode()), eid.encode()), seq)
                    for seq, eid, payload in rows])
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            checkpoint(self._conn)  # the clear page images leave the WAL
        else:
            row = self._conn.execute("SELECT id, payload FROM outbox ORDER BY seq DESC LIMIT 1").fetchone()
            if row:
                sealer.open(row[1], row[0].encode())  # the key fits the data it is to read

    def append(self, event_type: str, data: dict[str, Any] | BaseModel, ts: datetime | None = None) -> Envelope:
        """Create the event and make it durable; returns it (raises ``EnvelopeError`` if invalid)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute("SELECT last_seq FROM sequence WHERE device = ?", (self.device,)).fetchone()
                seq = (row[0] if row else 0) + 1
                envelope = new_event(self.device, seq, event_type, data, ts)
                payload = envelope.to_json()
                if self._sealer is not None:
                    payload = self._sealer.seal(payload, envelope.id.encode())
                self._conn.execute(
                    "INSERT INTO outbox (seq, id, type, payload, created) VALUES (?, ?, ?, ?, ?)",
                    (seq, envelope.id, event_type, payload, time.time()))
                self._conn.execute(
                    "INSERT INTO sequence (device, last_seq) VALUES (?, ?) "
                    "ON CONFLICT(device) DO UPDATE SET last_seq = excluded.last_seq", (self.device, seq))
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # SQLite has already rolled back after a full disk
                    self._conn.execute("ROLLBACK")
                raise
        self.appended.set()
        return envelope

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[Pending]:
        """Events not yet acknowledged, oldest first, with ``seq > after_seq``."""
        return self._select("acked IS NULL AND seq > ?", (after_seq,), limit)

    def recently_acked(self, limit: int = 10_000) -> list[Pending]:
        """Acknowledged events still inside the resend window, oldest first (to resend after a reconnect)."""
        return self._select("acked IS NOT NULL", (), limit)

    def _select(self, where: str, args: tuple, limit: int) -> list[Pending]:
        with self._lock:
            rows = self._conn.execute(f"SELECT seq, id, type, payload FROM outbox WHERE {where} ORDER BY seq LIMIT ?",
                                      (*args, limit)).fetchall()
        if self._sealer is None:
            return [Pending(seq, kind, bytes(payload)) for seq, _, kind, payload in rows]
        return [Pending(seq, kind, self._sealer.open(payload, eid.encode())) for seq, eid, kind, payload in rows]

    def mark_acked(self, seqs: Iterable[int], now: float | None = None) -> None:
        """The broker acknowledged these events (one transaction for the lot)."""
        batch = [(now or time.time(), s) for s in seqs]
        if batch:
            with self._lock:
                self._conn.execute("BEGIN")
                self._conn.executemany("UPDATE outbox SET acked = ? WHERE seq = ?", batch)
                self._conn.execute("COMMIT")

    def forget_acked(self, older_than: float) -> int:
        """Delete events acknowledged before ``older_than`` (a Unix time); returns how many.

        The rows are overwritten in place (``secure_delete``) and the WAL truncated: a health station's WAL
        would otherwise keep its screenings' page images long after the retention (issue #16).
        """
        with self._lock:
            deleted = self._conn.execute("DELETE FROM outbox WHERE acked < ?", (older_than,)).rowcount
            if deleted:
                checkpoint(self._conn)
            return deleted

    def depth(self) -> int:
        """How many events wait for their PUBACK."""
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM outbox WHERE acked IS NULL").fetchone()[0])

    def last_seq(self) -> int:
        """The last sequence number this device has used."""
        with self._lock:
            row = self._conn.execute("SELECT last_seq FROM sequence WHERE device = ?", (self.device,)).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()
