"""The gateway's notification tables: every statement about them is here.

    notify_queue     an alert to notify about, written in the transaction that raised it (``enqueue``)
    notifications    one row per (alert, target): pending with its next try time, sent, failed or skipped
    notify_attempts  every try: target name (never its URL), time, outcome, a short reason

Writes go through the store's one writer; reads through the store's read connections. Counters (in the
store's ``counters`` table): ``notify:sent``, ``notify:failed-tries``, ``notify:gave-up``, ``notify:skipped``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.store import Store
from onestop.records import AlertRecord

PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"


def enqueue(conn: sqlite3.Connection, records: Sequence[AlertRecord]) -> None:
    """Queue ``records`` for notification inside the caller's transaction (the one raising them)."""
    if records:
        now = time.time()
        conn.executemany("INSERT OR IGNORE INTO notify_queue (alert_id, queued) VALUES (?, ?)",
                         [(record.id, now) for record in records])


def enqueue_keys(conn: sqlite3.Connection, keys: Sequence[str]) -> None:
    """Queue other notices (a work order's, ``gateway.work_orders.notice_key``) inside the caller's transaction."""
    if keys:
        now = time.time()
        conn.executemany("INSERT OR IGNORE INTO notify_queue (alert_id, queued) VALUES (?, ?)",
                         [(key, now) for key in keys])


@dataclass(frozen=True, slots=True)
class Delivery:
    """One pending (alert, target) pair and how many tries it has had."""

    alert_id: str
    target: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Attempt:
    """One recorded try."""

    alert_id: str
    target: str
    at: float
    outcome: str
    detail: str


class NotificationBook:
    """What the gateway has to send, and what it tried."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def queued(self, limit: int = 100) -> list[str]:
        """Alert ids raised and not yet planned, oldest first."""
        with self.store.reader() as conn:
            return [r[0] for r in conn.execute("SELECT alert_id FROM notify_queue ORDER BY queued LIMIT ?",
                                               (limit,))]

    def plan(self, plans: Mapping[str, Sequence[str]], now: float) -> None:
        """Replace queued alerts by one pending row per target (``plans``: alert id -> target names)."""
        rows = [(alert_id, target, PENDING, now, now) for alert_id, targets in plans.items() for target in targets]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT OR IGNORE INTO notifications (alert_id, target, state, next_at, updated) "
                             "VALUES (?, ?, ?, ?, ?)", rows)
            conn.executemany("DELETE FROM notify_queue WHERE alert_id = ?", [(a,) for a in plans])
        self.store.write_fn(write)

    def due(self, now: float, limit: int = 50) -> list[Delivery]:
        """Pending deliveries whose next try is due, soonest first."""
        with self.store.reader() as conn:
            rows = conn.execute("SELECT alert_id, target, attempts FROM notifications WHERE state = ? "
                                "AND next_at <= ? ORDER BY next_at LIMIT ?", (PENDING, now, limit)).fetchall()
        return [Delivery(*row) for row in rows]

    def record(self, delivery: Delivery, outcome: str, detail: str, now: float, state: str,
               next_at: float | None = None) -> None:
        """Record one try (or a skip) and the delivery's new state, with its counter, in one transaction."""
        counter = {SENT: "notify:sent", FAILED: "notify:gave-up", SKIPPED: "notify:skipped"}.get(state)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO notify_attempts (alert_id, target, at, outcome, detail) VALUES (?, ?, ?, ?, ?)",
                         (delivery.alert_id, delivery.target, now, outcome, detail))
            conn.execute("UPDATE notifications SET state = ?, attempts = attempts + ?, next_at = ?, updated = ? "
                         "WHERE alert_id = ? AND target = ?",
                         (state, int(state != SKIPPED), next_at if next_at is not None else now, now,
                          delivery.alert_id, delivery.target))
            if outcome == "failed":
                Store.bump(conn, "notify:failed-tries")
            if counter:
                Store.bump(conn, counter)
        self.store.write_fn(write)

    def attempts(self, alert_id: str | None = None, limit: int = 200) -> list[Attempt]:
        """Recorded tries, newest first (one alert's, or everyone's)."""
        sql, args = "SELECT alert_id, target, at, outcome, detail FROM notify_attempts", list[object]()
        if alert_id is not None:
            sql += " WHERE alert_id = ?"
            args.append(alert_id)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self.store.reader() as conn:
            return [Attempt(*row) for row in conn.execute(sql, args)]
