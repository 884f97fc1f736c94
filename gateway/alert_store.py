"""Reading and updating stored alerts (raising them happens in ``store.insert_alerts``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from gateway.alerts import resolve
from gateway.store import Store
from onestop.records import AlertRecord

REFUSED = 2  # alerts.synced: 0 waiting for central, 1 central has this version, 2 central refused this version


class AlertStore:
    """Alert queries and lifecycle updates on the gateway store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, alert_id: str) -> AlertRecord | None:
        """One alert by id."""
        with self.store.reader() as conn:
            row = conn.execute("SELECT record FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return AlertRecord.model_validate_json(row[0]) if row else None

    def list(self, teams: Sequence[str] | None = None, status: str | None = None,
             limit: int = 200) -> list[AlertRecord]:
        """Alerts, most urgent and newest first, optionally for some teams and one status."""
        sql, args = "SELECT record FROM alerts WHERE 1 = 1", []
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
            return [AlertRecord.model_validate_json(r[0]) for r in conn.execute(sql, args)]

    def save(self, record: AlertRecord) -> None:
        """Store a lifecycle change; it will be synced to central again."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE alerts SET status = ?, record = ?, synced = 0 WHERE id = ?",
                         (record.status, record.model_dump_json(), record.id))

    def resolve_open(self, keys: Sequence[str], who: str, at: datetime) -> list[AlertRecord]:
        """Resolve the unresolved alerts with these keys (their cause is gone); returns them resolved."""
        if not keys:
            return []
        resolved = []
        with self.store.transaction() as conn:
            rows = conn.execute(f"SELECT record FROM alerts WHERE status != 'resolved' "
                                f"AND key IN ({', '.join('?' * len(keys))})", list(keys)).fetchall()
            for (text,) in rows:
                record = resolve(AlertRecord.model_validate_json(text), who, at)
                conn.execute("UPDATE alerts SET status = ?, record = ?, synced = 0 WHERE id = ?",
                             (record.status, record.model_dump_json(), record.id))
                resolved.append(record)
        return resolved

    def unsynced(self, limit: int) -> list[AlertRecord]:
        """Alerts central has not seen in their latest state, urgent first."""
        with self.store.reader() as conn:
            rows = conn.execute("SELECT record FROM alerts WHERE synced = 0 ORDER BY urgency, raised_at LIMIT ?",
                                (limit,)).fetchall()
        return [AlertRecord.model_validate_json(r[0]) for r in rows]

    def mark_synced(self, records: Sequence[AlertRecord]) -> None:
        """Central has the given versions (a newer local change stays unsynced)."""
        with self.store.transaction() as conn:
            conn.executemany("UPDATE alerts SET synced = 1 WHERE id = ? AND record = ?",
                             [(r.id, r.model_dump_json()) for r in records])

    def set_aside(self, record: AlertRecord) -> None:
        """Central refuses this version of the alert: stop sending it (a later change is sent again), count it."""
        with self.store.transaction() as conn:
            changed = conn.execute("UPDATE alerts SET synced = ? WHERE id = ? AND record = ?",
                                   (REFUSED, record.id, record.model_dump_json())).rowcount
            Store.bump(conn, "alerts-set-aside", changed)

    def counts(self) -> dict[str, int]:
        """Unresolved alerts per severity."""
        with self.store.reader() as conn:
            return dict(conn.execute("SELECT json_extract(record, '$.severity'), count(*) FROM alerts "
                                     "WHERE status != 'resolved' GROUP BY 1").fetchall())
