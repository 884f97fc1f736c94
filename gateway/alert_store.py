"""The gateway's alerts table: every statement about it is here.

Raising (``insert_alerts``, inside an ingest batch's or a tick's transaction), the lifecycle (acknowledge,
resolve, assign, here or at central: ``apply_remote`` merges central's actions), and the sync queue
(``synced``: what central has, what it refused). Writes go through the store's
one writer; reads through the store's read connections.

With the store's sealer the ``record`` (subject included) is sealed to the alert's id and ``key`` is a keyed
tag of the de-duplication key (``sealing``): a stolen SD card shows which rule fired when, never for whom.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from gateway.alerts import alert_key, resolve
from gateway.notify_queue import enqueue
from gateway.store import Store
from onestop.alert_history import merge, merge_copies
from onestop.records import AlertActionDown, AlertRecord
from sealing import Sealer

ACTIONS_CURSOR = "alert-actions"  # sync_cursors: the last of central's alert actions applied here
REFUSED = 2  # alerts.synced: 0 waiting for central, 1 central has this version, 2 central refused this version
URGENCY = {"urgent": 0, "follow-up": 1, "notice": 2}
SEVERITY = {v: k for k, v in URGENCY.items()}


def _key(key: str, sealer: Sealer | None) -> str:
    return sealer.tag(key) if sealer else key


def _stored(record: AlertRecord, sealer: Sealer | None) -> str | bytes:
    text = record.model_dump_json()
    return sealer.seal(text.encode(), record.id.encode()) if sealer else text


def _record(stored: str | bytes, alert_id: str, sealer: Sealer | None) -> AlertRecord:
    if sealer is None:
        return AlertRecord.model_validate_json(stored)
    return AlertRecord.model_validate_json(sealer.open(stored.encode() if isinstance(stored, str) else stored,
                                                       alert_id.encode()))


def reseal_alerts(conn: sqlite3.Connection, sealer: Sealer) -> int:
    """Seal the alerts an older release stored in clear or an older key sealed (the key's tag changes with
    the key); returns how many."""
    rows = [(i, r) for i, r in conn.execute("SELECT id, record FROM alerts") if sealer.stale(r)]
    for alert_id, stored in rows:
        record = AlertRecord.model_validate_json(sealer.open_any(stored, alert_id.encode()))
        conn.execute("UPDATE alerts SET key = ?, record = ? WHERE id = ?",
                     (sealer.tag(alert_key(record)), _stored(record, sealer), alert_id))
    return len(rows)


def _same_version(conn: sqlite3.Connection, record: AlertRecord, sealer: Sealer | None) -> bool:
    """Whether the stored copy is ``record`` as written (its JSON, as the unsealed ``record = ?`` compared)."""
    row = conn.execute("SELECT record FROM alerts WHERE id = ?", (record.id,)).fetchone()
    if row is None:
        return False
    stored = row[0] if sealer is None else sealer.open(row[0], record.id.encode()).decode()
    return bool(stored == record.model_dump_json())


def insert_alerts(conn: sqlite3.Connection, records: Sequence[AlertRecord],
                  sealer: Sealer | None = None) -> list[AlertRecord]:
    """Insert alerts inside the caller's transaction, skipping any whose key already has an unresolved alert;
    returns those inserted."""
    raised = []
    for record in records:
        key = _key(alert_key(record), sealer)
        if conn.execute("SELECT 1 FROM alerts WHERE key = ? AND status != 'resolved'", (key,)).fetchone():
            continue
        conn.execute("INSERT INTO alerts (id, key, status, urgency, team, raised_at, record) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (record.id, key, record.status, URGENCY[record.severity], record.team,
                      record.raised_at.isoformat(), _stored(record, sealer)))
        raised.append(record)
    enqueue(conn, raised)  # durable with the alert: the notifier sends after the commit (gateway/notifier.py)
    return raised


class GatewayAlerts:
    """One site's alerts as the gateway keeps them: raised once per key, their lifecycle, and what central
    has of them.

    Not central's ``central.alerts.AlertStore``, which states other facts (every site's alerts, the newer
    copy wins, times clamped to arrival): see docs/decisions.md.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def insert(self, records: Sequence[AlertRecord]) -> list[AlertRecord]:
        """``insert_alerts`` in a transaction of its own."""
        if not records:
            return []
        return self.store.write_fn(lambda conn: insert_alerts(conn, records, self.store.sealer))

    def get(self, alert_id: str) -> AlertRecord | None:
        """One alert by id."""
        with self.store.reader() as conn:
            row = conn.execute("SELECT record FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return _record(row[0], alert_id, self.store.sealer) if row else None

    def list(self, teams: Sequence[str] | None = None, status: str | None = None,
             limit: int = 200) -> list[AlertRecord]:
        """Alerts, most urgent and newest first, optionally for some teams and one status."""
        sql, args = "SELECT id, record FROM alerts WHERE 1 = 1", []
        if teams is not None:
            sql += f" AND team IN ({', '.join('?' * len(teams))})"
            args += list(teams)
        if status == "unresolved":
            sql += " AND status != 'resolved'"
        elif status:
            sql += " AND status = ?"
            args.append(status)
        sql += " ORDER BY status = 'resolved', urgency, raised_at DESC LIMIT ?"
        args.append(limit)
        with self.store.reader() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [_record(r, i, self.store.sealer) for i, r in rows]

    def save(self, record: AlertRecord) -> AlertRecord:
        """Store a lifecycle change, merged with whatever reached the stored copy meanwhile (an action from
        central); it will be synced to central again. Returns the alert as stored."""
        sealer = self.store.sealer

        def merged(conn: sqlite3.Connection) -> AlertRecord:
            row = conn.execute("SELECT record FROM alerts WHERE id = ?", (record.id,)).fetchone()
            result = merge_copies(_record(row[0], record.id, sealer), record) if row else record
            _update(conn, result, sealer)
            return result
        return self.store.write_fn(merged)

    def resolve_open(self, keys: Sequence[str], who: str, at: datetime) -> list[AlertRecord]:
        """Resolve the unresolved alerts with these keys (their cause is gone); returns them resolved."""
        if not keys:
            return []

        sealer = self.store.sealer

        def resolve_all(conn: sqlite3.Connection) -> list[AlertRecord]:
            rows = conn.execute(f"SELECT id, record FROM alerts WHERE status != 'resolved' "
                                f"AND key IN ({', '.join('?' * len(keys))})",
                                [_key(k, sealer) for k in keys]).fetchall()
            resolved = [resolve(_record(text, i, sealer), who, at) for i, text in rows]
            for record in resolved:
                _update(conn, record, sealer)
            return resolved
        return self.store.write_fn(resolve_all)

    def actions_cursor(self) -> int:
        """The ``seq`` of the last of central's alert actions applied here (0: none yet)."""
        with self.store.reader() as conn:
            row = conn.execute("SELECT value FROM sync_cursors WHERE name = ?", (ACTIONS_CURSOR,)).fetchone()
        return int(row[0]) if row else 0

    def apply_remote(self, actions: Sequence[AlertActionDown], cursor: int) -> int:
        """Merge actions taken at central into their alerts and move the cursor, in one transaction; returns how
        many alerts changed. Idempotent (an action already in the history changes nothing); an action for an
        alert this gateway no longer holds is counted and skipped."""
        sealer = self.store.sealer

        def apply(conn: sqlite3.Connection) -> int:
            changed = unknown = 0
            for down in actions:
                row = conn.execute("SELECT record FROM alerts WHERE id = ?", (down.alert,)).fetchone()
                if row is None:
                    unknown += 1
                    continue
                record = _record(row[0], down.alert, sealer)
                merged = merge(record, [down.action])
                if merged != record:
                    _update(conn, merged, sealer)
                    changed += 1
            Store.bump(conn, "alert-actions-unknown", unknown)
            conn.execute("INSERT INTO sync_cursors (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE "
                         "SET value = max(value, excluded.value)", (ACTIONS_CURSOR, cursor))
            return changed
        return self.store.write_fn(apply)

    def lifecycle(self, since: datetime | None = None) -> list[AlertRecord]:
        """Every alert raised since ``since`` (all when None), for response-time statistics."""
        sql, args = "SELECT id, record FROM alerts", []
        if since is not None:
            sql, args = sql + " WHERE raised_at >= ?", [since.isoformat()]
        with self.store.reader() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [_record(r, i, self.store.sealer) for i, r in rows]

    def unsynced(self, limit: int) -> list[AlertRecord]:
        """Alerts central has not seen in their latest state, urgent first."""
        with self.store.reader() as conn:
            rows = conn.execute("SELECT id, record FROM alerts WHERE synced = 0 ORDER BY urgency, raised_at LIMIT ?",
                                (limit,)).fetchall()
        return [_record(r, i, self.store.sealer) for i, r in rows]

    def mark_synced(self, records: Sequence[AlertRecord]) -> None:
        """Central has the given versions (a newer local change stays unsynced)."""
        sealer = self.store.sealer

        def mark(conn: sqlite3.Connection) -> None:
            conn.executemany("UPDATE alerts SET synced = 1 WHERE id = ?",
                             [(r.id,) for r in records if _same_version(conn, r, sealer)])
        self.store.write_fn(mark)

    def set_aside(self, record: AlertRecord) -> None:
        """Central refuses this version of the alert: stop sending it (a later change is sent again), count it."""
        def mark(conn: sqlite3.Connection) -> None:
            changed = conn.execute("UPDATE alerts SET synced = ? WHERE id = ?", (REFUSED, record.id)).rowcount \
                if _same_version(conn, record, self.store.sealer) else 0
            Store.bump(conn, "alerts-set-aside", changed)
        self.store.write_fn(mark)

    def unsynced_count(self) -> int:
        """How many alerts central has not seen in their latest state."""
        with self.store.reader() as conn:
            return int(conn.execute("SELECT count(*) FROM alerts WHERE synced = 0").fetchone()[0])

    def counts(self) -> dict[str, int]:
        """Unresolved alerts per severity."""
        with self.store.reader() as conn:
            rows = conn.execute("SELECT urgency, count(*) FROM alerts WHERE status != 'resolved' "
                                "GROUP BY 1").fetchall()
        return {SEVERITY[urgency]: n for urgency, n in rows}

    def urgent_by_team(self) -> dict[str, int]:
        """Unresolved urgent alerts per team: counts only, shown to every role (nobody may miss that a crisis
        waits, even a role that may not open it)."""
        with self.store.reader() as conn:
            return dict(conn.execute("SELECT team, count(*) FROM alerts WHERE status != 'resolved' "
                                     "AND urgency = ? GROUP BY 1", (URGENCY["urgent"],)).fetchall())


def _update(conn: sqlite3.Connection, record: AlertRecord, sealer: Sealer | None) -> None:
    conn.execute("UPDATE alerts SET status = ?, record = ?, synced = 0 WHERE id = ?",
                 (record.status, _stored(record, sealer), record.id))
