"""The gateway's work orders table: every statement about it is here (docs/work-orders.md).

Opening (``insert``, inside an ingest batch's or a tick's transaction, one open order per device key),
the lifecycle (``save``), closing a device's orders when it recovers, what kiosks show students
(``statuses``) and the sync queue (``synced``: 0 waiting for central, 1 central has this version, 2 refused).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta

from gateway.notify_queue import enqueue_keys
from gateway.store import Store
from gateway.work_orders import SYSTEM, due_escalations, escalated, move, notice_key
from onestop.work_orders import WorkOrderRecord

REFUSED = 2
STATUS_DAYS = 14  # a student sees their requests of the last two weeks at the kiosk
MAX_STATUSES = 50  # … at most this many, newest first (they ride in every kiosk's retained cfg)


def insert(conn: sqlite3.Connection, record: WorkOrderRecord, key: str | None = None,
           requester: str | None = None) -> bool:
    """Store a new order inside the caller's transaction; False when one with this id, or an open one with
    this ``key``, exists already (a redelivered request, a fault reported again)."""
    if key is not None and conn.execute("SELECT 1 FROM work_orders WHERE key = ? AND state NOT IN "
                                        "('done', 'rejected')", (key,)).fetchone():
        return False
    opened = conn.execute(
        "INSERT OR IGNORE INTO work_orders (id, key, department, state, opened_at, updated_at, requester, record) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (record.id, key, record.department, record.state, record.opened_at.isoformat(),
         record.updated_at.isoformat(), requester, record.model_dump_json())).rowcount == 1
    if opened:  # its team is told, durably with the order (gateway/notifier.py sends after the commit)
        enqueue_keys(conn, [notice_key(record.id, "new")])
    return opened


def open_requests(conn: sqlite3.Connection, device: str) -> int:
    """How many of ``device``'s requests are unfinished (inside the caller's transaction)."""
    return int(conn.execute("SELECT count(*) FROM work_orders WHERE key IS NULL AND state NOT IN "
                            "('done', 'rejected') AND json_extract(record, '$.device') = ?", (device,)).fetchone()[0])


def _update(conn: sqlite3.Connection, record: WorkOrderRecord) -> None:
    conn.execute("UPDATE work_orders SET state = ?, updated_at = ?, record = ?, synced = 0 WHERE id = ?",
                 (record.state, record.updated_at.isoformat(), record.model_dump_json(), record.id))


class GatewayWorkOrders:
    """One site's work orders as the gateway keeps them."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def insert(self, records: Sequence[tuple[WorkOrderRecord, str | None]]) -> list[WorkOrderRecord]:
        """Device orders ``(record, key)`` in a transaction of their own; returns those opened."""
        if not records:
            return []
        return self.store.write_fn(lambda conn: [r for r, key in records if insert(conn, r, key)])

    def get(self, order_id: str) -> WorkOrderRecord | None:
        with self.store.reader() as conn:
            row = conn.execute("SELECT record FROM work_orders WHERE id = ?", (order_id,)).fetchone()
        return WorkOrderRecord.model_validate_json(row[0]) if row else None

    def find(self, visible: Callable[[str], bool], department: str | None = None, state: str | None = None,
             limit: int = 500) -> list[WorkOrderRecord]:
        """Orders of the departments ``visible`` admits, open ones first, then newest first."""
        sql, args = "SELECT department, record FROM work_orders WHERE 1 = 1", []
        if department:
            sql += " AND department = ?"
            args.append(department)
        if state == "unfinished":
            sql += " AND state NOT IN ('done', 'rejected')"
        elif state:
            sql += " AND state = ?"
            args.append(state)
        sql += " ORDER BY state IN ('done', 'rejected'), opened_at DESC"
        with self.store.reader() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [WorkOrderRecord.model_validate_json(r) for d, r in rows if visible(d)][:limit]

    def save(self, record: WorkOrderRecord, expected: datetime) -> bool:
        """Store a change made from the version updated at ``expected``; False when someone changed it since
        (the caller answers 409 rather than overwrite their change)."""
        def write(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT updated_at FROM work_orders WHERE id = ?", (record.id,)).fetchone()
            if row is None or row[0] != expected.isoformat():
                return False
            _update(conn, record)
            return True
        return self.store.write_fn(write)

    def close_open(self, keys: Collection[str], at: datetime, note: str) -> list[WorkOrderRecord]:
        """The devices recovered: their open orders with these keys are done, by the system."""
        if not keys:
            return []

        def close(conn: sqlite3.Connection) -> list[WorkOrderRecord]:
            rows = conn.execute(f"SELECT record FROM work_orders WHERE state NOT IN ('done', 'rejected') "
                                f"AND key IN ({', '.join('?' * len(keys))})", list(keys)).fetchall()
            closed = [move(WorkOrderRecord.model_validate_json(r), "done", SYSTEM, at, note=note) for (r,) in rows]
            for record in closed:
                _update(conn, record)
            return closed
        return self.store.write_fn(close)

    def escalate(self, now: datetime) -> list[WorkOrderRecord]:
        """Open orders past a target they were not yet escalated for: recorded in their history and their
        escalation notices queued, in one transaction (once per order and target)."""
        def write(conn: sqlite3.Connection) -> list[WorkOrderRecord]:
            rows = conn.execute("SELECT record FROM work_orders WHERE state NOT IN ('done', 'rejected') "
                                "AND (state = 'open' AND json_extract(record, '$.ack_due') < ? "
                                "OR json_extract(record, '$.finish_due') < ?)",
                                (now.isoformat(), now.isoformat())).fetchall()
            out = []
            for (text,) in rows:
                record = WorkOrderRecord.model_validate_json(text)
                kinds = due_escalations(record, now)
                if kinds:
                    record = escalated(record, kinds, now)
                    _update(conn, record)
                    enqueue_keys(conn, [notice_key(record.id, kind) for kind in kinds])
                    Store.bump(conn, "work-orders-escalated", len(kinds))
                    out.append(record)
            return out
        return self.store.write_fn(write)

    def open_keys_with(self, part: str) -> list[str]:
        """Keys of open device orders that contain ``part`` (``:calibration:``)."""
        with self.store.reader() as conn:
            return [k for (k,) in conn.execute(
                "SELECT key FROM work_orders WHERE instr(key, ?) > 0 AND state NOT IN ('done', 'rejected')",
                (part,))]

    def statuses(self, now: datetime) -> list[dict[str, str]]:
        """What kiosks may show students: tag, category, state and times of recent requests with a reply."""
        since = (now - timedelta(days=STATUS_DAYS)).isoformat()
        with self.store.reader() as conn:
            rows = conn.execute("SELECT requester, record FROM work_orders WHERE requester IS NOT NULL "
                                "AND updated_at >= ? ORDER BY opened_at DESC LIMIT ?",
                                (since, MAX_STATUSES)).fetchall()
        out = []
        for tag, text in rows:
            record = WorkOrderRecord.model_validate_json(text)
            out.append({"tag": tag, "category": record.category, "state": record.state,
                        "opened": record.opened_at.isoformat(), "updated": record.updated_at.isoformat()})
        return out

    # -- sync ----------------------------------------------------------------------------------------------
    def unsynced(self, limit: int) -> list[WorkOrderRecord]:
        with self.store.reader() as conn:
            rows = conn.execute("SELECT record FROM work_orders WHERE synced = 0 ORDER BY updated_at LIMIT ?",
                                (limit,)).fetchall()
        return [WorkOrderRecord.model_validate_json(r) for (r,) in rows]

    def mark_synced(self, records: Sequence[WorkOrderRecord]) -> None:
        """Central has these versions (a newer local change stays unsynced)."""
        rows = [(r.id, r.model_dump_json()) for r in records]
        self.store.write_fn(lambda conn: conn.executemany(
            "UPDATE work_orders SET synced = 1 WHERE id = ? AND record = ?", rows))

    def set_aside(self, record: WorkOrderRecord) -> None:
        """Central refuses this version: not sent again until it changes; counted."""
        def mark(conn: sqlite3.Connection) -> None:
            changed = conn.execute("UPDATE work_orders SET synced = ? WHERE id = ? AND record = ?",
                                   (REFUSED, record.id, record.model_dump_json())).rowcount
            Store.bump(conn, "work-orders-set-aside", changed)
        self.store.write_fn(mark)

    def unsynced_count(self) -> int:
        with self.store.reader() as conn:
            return int(conn.execute("SELECT count(*) FROM work_orders WHERE synced = 0").fetchone()[0])
