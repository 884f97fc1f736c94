"""A student's rights over what central holds about them: a copy of it all (export) and erasure.

What central holds about one card: events that name it (check-ins and check-outs in ``data.card``,
screenings in ``subject``), alerts about it (``alerts.subject``), and, through those events' ids, rows of
the conflicts table. The audit log holds only keyed pseudonyms and stays: it is the record of who read and
who erased. Erasure deletes in one transaction, so a request either removes everything or nothing.

Finding check-ins means reading ``data``: a text search narrows the rows in the database (the card is
uppercase hex, so it cannot break out of a LIKE pattern) and an exact comparison in Python decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from central.db import Database
from central.schema import alert_actions, alerts, event_conflicts, events


@dataclass(frozen=True, slots=True)
class Erased:
    """How many rows an erasure removed, per table."""

    events: int
    alerts: int
    conflicts: int


def _names(row: Any, card: str) -> bool:
    data = row["data"] if isinstance(row["data"], dict) else {}
    return row["subject"] == card or data.get("card") == card or data.get("subject") == card


class Rights:
    """Export and erasure of one student's records."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _event_rows(self, conn: sa.Connection, card: str) -> list[dict[str, Any]]:
        query = sa.select(events).where(sa.or_(events.c.subject == card,
                                               sa.cast(events.c.data, sa.Text).contains(card)))
        return [dict(r) for r in conn.execute(query.order_by(events.c.at, events.c.id)).mappings()
                if _names(r, card)]

    def export(self, card: str) -> dict[str, Any]:
        """Everything central holds about ``card``, as plain JSON-ready values."""
        with self.db.read() as conn:
            found = self._event_rows(conn, card)
            about = conn.execute(sa.select(alerts).where(alerts.c.subject == card)
                                 .order_by(alerts.c.raised_at)).mappings().all()
        return {"card": card,
                "events": [{k: row[k] for k in ("id", "site", "device", "type", "ts", "space", "data")}
                           for row in found],
                "alerts": [dict(a) for a in about]}

    def erase(self, card: str) -> Erased:
        """Remove every row that names ``card`` (one transaction)."""
        with self.db.write() as conn:
            ids = [row["id"] for row in self._event_rows(conn, card)]
            gone_events = gone_conflicts = 0
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                gone_conflicts += conn.execute(
                    event_conflicts.delete().where(event_conflicts.c.event_id.in_(chunk))).rowcount
                gone_events += conn.execute(events.delete().where(events.c.id.in_(chunk))).rowcount
            about = sa.select(alerts.c.id).where(alerts.c.subject == card)
            conn.execute(alert_actions.delete().where(alert_actions.c.alert_id.in_(about)))  # their notes too
            gone_alerts = conn.execute(alerts.delete().where(alerts.c.subject == card)).rowcount
        return Erased(gone_events, gone_alerts, gone_conflicts)
