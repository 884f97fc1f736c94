"""Central's notification tables: every statement about them is here (``central/notifier.py`` decides).

    notify_state      per alert, the highest tier told (0 when it arrived, 1, 2 ... as it escalated)
    notifications     per (alert, tier, target): pending with its next try, sent, failed or skipped
    notify_attempts   every try: the target's name (never its URL), time, outcome, short reason

Alerts are read column by column, never ``subject``: a notification has no use for the card.
Counters (table ``counters``): ``notify_sent``, ``notify_failed_tries``, ``notify_gave_up``,
``notify_skipped``, ``notify_escalations``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from central import counters
from central.db import Database
from central.schema import alerts, notifications, notify_attempts, notify_state
from onestop.records import AlertRecord

PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"
COUNTERS = {"sent": "notify_sent", "failed_tries": "notify_failed_tries", "gave_up": "notify_gave_up",
            "skipped": "notify_skipped", "escalations": "notify_escalations"}
# What a notification may say about an alert: no subject (card), nothing else personal.
_COLUMNS = [alerts.c[name] for name in ("id", "site", "rule", "severity", "team", "status", "summary",
                                        "raised_at", "updated_at", "device", "space")]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One pending (alert, tier, target) and how many tries it has had."""

    alert_id: str
    tier: int
    target: str
    attempts: int


def _record(row: Any) -> AlertRecord:
    return AlertRecord.model_validate({column.name: row._mapping[column.name] for column in _COLUMNS})


class NotificationStore:
    """What central has to send, what it told whom, and each try."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def unseen(self, limit: int = 200) -> list[AlertRecord]:
        """Unresolved alerts no notification round has looked at yet, oldest first."""
        stmt = (sa.select(*_COLUMNS).select_from(alerts.outerjoin(notify_state, notify_state.c.alert_id == alerts.c.id))
                .where(notify_state.c.alert_id.is_(None), alerts.c.status != "resolved")
                .order_by(alerts.c.raised_at).limit(limit))
        with self.db.read() as conn:
            return [_record(row) for row in conn.execute(stmt)]

    def escalating(self, below: int, limit: int = 500) -> list[tuple[AlertRecord, int]]:
        """Open urgent alerts told up to a tier below ``below``, with that tier."""
        stmt = (sa.select(*_COLUMNS, notify_state.c.tier)
                .select_from(alerts.join(notify_state, notify_state.c.alert_id == alerts.c.id))
                .where(alerts.c.severity == "urgent", alerts.c.status == "open", notify_state.c.tier < below)
                .order_by(alerts.c.raised_at).limit(limit))
        with self.db.read() as conn:
            return [(_record(row), int(row.tier)) for row in conn.execute(stmt)]

    def alert(self, alert_id: str) -> AlertRecord | None:
        """One alert's notifiable fields as they are now."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(*_COLUMNS).where(alerts.c.id == alert_id)).first()
        return _record(row) if row is not None else None

    def advance(self, alert_id: str, told: int | None, tier: int, targets: Sequence[tuple[int, str]],
                now: datetime) -> bool:
        """Move the alert from tier ``told`` (None: never looked at) to ``tier`` and plan ``targets``
        (tier, name), in one transaction; False when another round did it first."""
        with self.db.write() as conn:
            if told is None:
                won = self.db.insert_new(conn, notify_state, ["alert_id", "tier", "updated_at"],
                                         [(alert_id, tier, self.db.stored_time(now))]) == 1
            else:
                won = conn.execute(notify_state.update()
                                   .where(notify_state.c.alert_id == alert_id, notify_state.c.tier == told)
                                   .values(tier=tier, updated_at=now)).rowcount == 1
            if not won:
                return False
            if targets:
                stored = self.db.stored_time(now)
                self.db.insert_new(conn, notifications, ["alert_id", "tier", "target", "state", "attempts",
                                                         "next_at", "updated_at"],
                                   [(alert_id, t, name, PENDING, 0, stored, stored) for t, name in targets])
            if told is not None:
                counters.bump(self.db, conn, COUNTERS["escalations"], tier - told)
        return True

    def due(self, now: datetime, limit: int = 50) -> list[Delivery]:
        """Pending deliveries whose next try is due, soonest first."""
        stmt = (sa.select(notifications.c.alert_id, notifications.c.tier, notifications.c.target,
                          notifications.c.attempts)
                .where(notifications.c.state == PENDING, notifications.c.next_at <= now)
                .order_by(notifications.c.next_at).limit(limit))
        with self.db.read() as conn:
            return [Delivery(*row) for row in conn.execute(stmt)]

    def record(self, delivery: Delivery, outcome: str, detail: str, now: datetime, state: str,
               next_at: datetime | None = None) -> None:
        """Record one try (or a skip) and the delivery's new state, with its counters, in one transaction."""
        key = (notifications.c.alert_id == delivery.alert_id, notifications.c.tier == delivery.tier,
               notifications.c.target == delivery.target)
        with self.db.write() as conn:
            conn.execute(notify_attempts.insert().values(alert_id=delivery.alert_id, tier=delivery.tier,
                                                         target=delivery.target, at=now, outcome=outcome,
                                                         detail=detail[:300]))
            conn.execute(notifications.update().where(*key).values(
                state=state, attempts=notifications.c.attempts + int(state != SKIPPED), next_at=next_at or now,
                updated_at=now))
            if outcome == "failed":
                counters.bump(self.db, conn, COUNTERS["failed_tries"])
            named = {SENT: "sent", FAILED: "gave_up", SKIPPED: "skipped"}.get(state)
            if named:
                counters.bump(self.db, conn, COUNTERS[named])

    def attempts(self, alert_id: str) -> list[dict[str, Any]]:
        """One alert's tries, oldest first."""
        stmt = (sa.select(notify_attempts.c.tier, notify_attempts.c.target, notify_attempts.c.at,
                          notify_attempts.c.outcome, notify_attempts.c.detail)
                .where(notify_attempts.c.alert_id == alert_id).order_by(notify_attempts.c.id))
        with self.db.read() as conn:
            return [dict(row) for row in conn.execute(stmt).mappings()]

    def counts(self) -> dict[str, int]:
        """The notification counters, by short name (``sent``, ``gave_up`` ...)."""
        with self.db.read() as conn:
            values = counters.read(conn, COUNTERS.values())
        return {short: values[name] for short, name in COUNTERS.items()}
