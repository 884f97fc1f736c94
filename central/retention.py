"""Time limits per data class at central, applied by a ticker thread (``onestop.ticker``) and counted.

=====================  =================================================  ===========================
class (counter)        rows                                               kept (``retention.*``)
=====================  =================================================  ===========================
``screenings``         screening events: vital signs, questionnaire       ``screenings_days`` (1825)
                       answers, consent
``presence``           check-ins, check-outs, attendance                  ``presence_days`` (730)
``telemetry``          readings, heartbeats, faults                       ``telemetry_days`` (365)
``alerts``             resolved alerts, from their raise                  ``alerts_days`` (730)
``conflicts``          ids of events that arrived with other content      ``telemetry_days``
``audit``              the audit log, and erasure tombstones              ``audit_days`` (3650)
=====================  =================================================  ===========================

Ages count from when an event happened (``events.at``, indexed with its type), an alert's raise, a
conflict's last arrival, an audit row's time, an erasure's time. Unresolved alerts are never removed by age.
The audit log outlives what it audits: "who read this student's screenings" must have an answer as long as
the screenings exist and for a while after. A tombstone is kept as long: a gateway cannot hold an erased
student's events longer (gateway/retention.py).

Each class is deleted in chunks, one short write transaction per chunk, so ingest takes its turns; each
chunk's deletion and its counter (``expired_<class>``, ``/api/v1/stats`` and ``onestop_central_expired``)
commit together.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from central import counters
from central.db import Database
from central.schema import alerts, audit_log, erased_subjects, event_conflicts, events
from central.settings import RetentionSettings

log = logging.getLogger(__name__)

CHUNK = 2000
CLASSES = ("screenings", "presence", "telemetry", "alerts", "conflicts", "audit")
PRESENCE_TYPES = ("checkin", "checkout", "attendance")
TELEMETRY_TYPES = ("reading", "heartbeat", "fault")


def counter(name: str) -> str:
    """The counter of one class's removals."""
    return f"expired_{name}"


def _events(types: tuple[str, ...], before: datetime) -> sa.Select[tuple[str]]:
    return sa.select(events.c.id).where(events.c.type.in_(types), events.c.at < before)


def rules(settings: RetentionSettings, now: datetime) -> list[tuple[str, sa.Table, sa.Column, sa.Select]]:
    """``(class, table, key column, select of the keys to delete)`` of every time limit at ``now`` (pure)."""
    def before(days: float) -> datetime:
        return now - timedelta(days=days)

    return [
        ("screenings", events, events.c.id, _events(("screening",), before(settings.screenings_days))),
        ("presence", events, events.c.id, _events(PRESENCE_TYPES, before(settings.presence_days))),
        ("telemetry", events, events.c.id, _events(TELEMETRY_TYPES, before(settings.telemetry_days))),
        ("alerts", alerts, alerts.c.id, sa.select(alerts.c.id).where(
            alerts.c.status == "resolved", alerts.c.raised_at < before(settings.alerts_days))),
        ("conflicts", event_conflicts, event_conflicts.c.event_id, sa.select(event_conflicts.c.event_id).where(
            event_conflicts.c.last_at < before(settings.telemetry_days))),
        ("audit", audit_log, audit_log.c.id, sa.select(audit_log.c.id).where(
            audit_log.c.at < before(settings.audit_days))),
        ("audit", erased_subjects, erased_subjects.c.subject_ref, sa.select(erased_subjects.c.subject_ref).where(
            erased_subjects.c.erased_at < before(settings.audit_days))),
    ]


def expire(db: Database, settings: RetentionSettings, now: datetime | None = None) -> dict[str, int]:
    """Apply every time limit once; returns how many rows of each class went (classes with none left out)."""
    now = now or datetime.now(UTC)
    gone: dict[str, int] = {}
    for name, table, key, select in rules(settings, now):
        while True:
            with db.write() as conn:
                keys = list(conn.execute(select.limit(CHUNK)).scalars())
                deleted = conn.execute(table.delete().where(key.in_(keys))).rowcount if keys else 0
                counters.bump(db, conn, counter(name), deleted)
            gone[name] = gone.get(name, 0) + deleted
            if len(keys) < CHUNK:
                break
    gone = {k: v for k, v in gone.items() if v}
    if gone:
        log.info("retention: removed %s", gone)
    return gone

