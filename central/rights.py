"""A student's rights over what central holds about them: a copy of it all (export) and erasure.

What central holds about one card: events that name it (check-ins and check-outs in ``data.card``,
screenings in ``subject``), alerts about it (``alerts.subject``), and, through those events' ids, rows of
the conflicts table. The audit log holds only keyed pseudonyms and stays: it is the record of who read and
who erased. Erasure deletes in one transaction, so a request either removes everything or nothing.

An export holds what the asking role may read (``central.health_parts``): check-ins and check-outs, the
screenings that hold the role's part with only that part, and the alerts of the role's teams; what the
other health role holds is counted under ``withheld``, so the student knows to ask there too. Erasure is
whole whoever asks: it removes what neither role alone may read.

Erasure leaves a **tombstone** (``erased_subjects``: the keyed pseudonym and the time, never the card), so
a gateway re-sending the student's events later (catch-up after a WAN outage, a batch whose answer it never
got) cannot bring them back: ingest drops events that name an erased student and counts them
(``central.ingest.drop_erased``).

Finding check-ins means reading ``data``: a text search narrows the rows in the database (the card is
uppercase hex, so it cannot break out of a LIKE pattern) and an exact comparison in Python decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from central import counters
from central.db import Database
from central.health_parts import holds_part, visible_part
from central.schema import alert_actions, alerts, erased_subjects, event_conflicts, events
from onestop.roles import Role


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

    def export(self, card: str, role: Role, teams: Sequence[str]) -> dict[str, Any]:
        """What central holds about ``card`` that ``role`` (of ``teams``) may read, as JSON-ready values;
        ``withheld`` counts the screenings and alerts only the other health role may read."""
        with self.db.read() as conn:
            found = self._event_rows(conn, card)
            about = conn.execute(sa.select(alerts).where(alerts.c.subject == card)
                                 .order_by(alerts.c.raised_at)).mappings().all()
        shown = [row for row in found if row["type"] != "screening" or holds_part(row["data"], role)]
        return {"card": card,
                "events": [{**{k: row[k] for k in ("id", "site", "device", "type", "ts", "space")},
                            "data": visible_part(row["data"], role) if row["type"] == "screening" else row["data"]}
                           for row in shown],
                "alerts": [dict(a) for a in about if a["team"] in teams],
                "withheld": {"screenings": len(found) - len(shown),
                             "alerts": sum(1 for a in about if a["team"] not in teams)}}

    def erase(self, card: str, subject_ref: str, now: datetime | None = None) -> Erased:
        """Remove every row that names ``card`` and leave its tombstone, ``subject_ref`` (one transaction)."""
        with self.db.write() as conn:
            stmt = self.db.insert(erased_subjects).values(subject_ref=subject_ref, erased_at=now or datetime.now(UTC))
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["subject_ref"]))
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

    def tombstones(self) -> frozenset[str]:
        """The pseudonyms of every erased student (a small table: one per erasure, read once per batch)."""
        with self.db.read() as conn:
            return frozenset(conn.execute(sa.select(erased_subjects.c.subject_ref)).scalars())

    def count_dropped(self, dropped: int) -> None:
        """Count records dropped because they name an erased student (``/api/v1/stats``: ``erased_dropped``)."""
        if dropped:
            with self.db.write() as conn:
                counters.bump(self.db, conn, counters.ERASED, dropped)
