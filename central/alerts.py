"""Alerts from every gateway with their lifecycle (open → acknowledged → resolved).

Gateways push their alerts with ``POST /api/v1/alerts/sync``; each alert is upserted by id and the copy
with the newer ``updated_at`` wins, so resending, reordering or two gateways' views arriving late never
roll an alert's lifecycle back. Times after the record's arrival are clamped to it first (``clamp_future``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from central import counters
from central.db import Database
from central.schema import alerts
from onestop.records import AlertRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """How many records of a sync were applied (new or newer) and how many were stale."""

    applied: int
    stale: int


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which alerts to list; ``teams`` is the caller's (``onestop.roles.alert_teams``), ``team`` its choice."""

    teams: tuple[str, ...] = ()
    team: str | None = None
    status: str | None = None
    site: str | None = None
    severity: str | None = None
    since: datetime | None = None
    limit: int = 200


def table_row(table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` restricted to ``table``'s columns: a field added to a record model later is dropped here
    until a migration gives it a column (a test compares the models with the tables)."""
    return {key: value for key, value in values.items() if key in table.c}


ALERT_TIMES = ("raised_at", "updated_at", "acknowledged_at", "resolved_at")


def clamp_future(values: dict[str, Any], now: datetime, fields: Sequence[str]) -> tuple[dict[str, Any], bool]:
    """``values`` with every time of ``fields`` later than ``now`` replaced by ``now``, and whether any was.

    Newer ``updated_at`` wins, so a record dated in the future (a gateway clock years ahead, or a hostile
    sender) would win over every real update until that date. Nothing can truthfully have happened after
    central received it: the receive time is the latest a record may carry, and later records still win.
    """
    times = {name: _utc(values[name]) for name in fields if values.get(name) is not None}
    late = [name for name, value in times.items() if value > now]
    return {**values, **times, **dict.fromkeys(late, now)}, bool(late)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # a time without an offset is UTC


def clamped_rows(table: sa.Table, records: Sequence[dict[str, Any]], now: datetime,
                 fields: Sequence[str]) -> tuple[list[dict[str, Any]], int]:
    """Table rows of ``records`` with future times clamped to ``now``, and how many records needed it."""
    rows, clamped = [], 0
    for record in records:
        row, late = clamp_future(record, now, fields)
        rows.append(table_row(table, row))
        clamped += late
    return rows, clamped


def newer_wins_upsert(db: Database, conn: sa.Connection, table: sa.Table, key: str,
                      rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows, or update those whose ``updated_at`` is newer than the stored one; returns rows applied."""
    if not rows:
        return 0
    stmt = db.insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[key], set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name != key},
        where=table.c.updated_at < stmt.excluded.updated_at)
    return len(conn.execute(stmt.returning(table.c[key]), list(rows)).all())


class AlertStore:
    """The campus-wide alert table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def upsert(self, records: Sequence[AlertRecord], now: datetime | None = None) -> UpsertResult:
        """Apply a gateway's alerts; a record older than the stored copy is ignored."""
        now = now or datetime.now(UTC)
        latest: dict[str, AlertRecord] = {}
        for record in records:  # one statement may not touch a row twice: keep each id's newest copy
            if record.id not in latest or latest[record.id].updated_at < record.updated_at:
                latest[record.id] = record
        rows, clamped = clamped_rows(alerts, [{**record.model_dump(), "synced_at": now}
                                              for record in latest.values()], now, ALERT_TIMES)
        with self.db.write() as conn:
            applied = newer_wins_upsert(self.db, conn, alerts, "id", rows)
            counters.bump(self.db, conn, counters.FUTURE_DATED, clamped)
        if clamped:
            log.warning("%d alert(s) dated after their arrival; their times were clamped to it", clamped)
        return UpsertResult(applied, len(records) - applied)

    def list(self, query: AlertFilter) -> list[dict[str, Any]]:
        """Alerts matching ``query``, newest first."""
        stmt = sa.select(alerts).where(alerts.c.team.in_(query.teams))
        for column in ("team", "status", "site", "severity"):
            value = getattr(query, column)
            if value is not None:
                stmt = stmt.where(alerts.c[column] == value)
        if query.since is not None:
            stmt = stmt.where(alerts.c.raised_at >= query.since)
        stmt = stmt.order_by(alerts.c.raised_at.desc(), alerts.c.id).limit(query.limit)
        with self.db.read() as conn:
            return [dict(row) for row in conn.execute(stmt).mappings()]

    def summary(self, teams: Sequence[str]) -> dict[str, dict[str, int]]:
        """Counts by team and status for ``teams`` (each of them and every status present, zero when none)."""
        statuses = ("open", "acknowledged", "resolved")
        out = {team: dict.fromkeys(statuses, 0) for team in teams}
        stmt = (sa.select(alerts.c.team, alerts.c.status, sa.func.count()).where(alerts.c.team.in_(teams))
                .group_by(alerts.c.team, alerts.c.status))
        with self.db.read() as conn:
            for team, status, count in conn.execute(stmt):
                out[team][status] = int(count)
        return dict(sorted(out.items()))

    def counts(self) -> dict[str, int]:
        """Totals for ``/api/v1/stats``."""
        stmt = sa.select(sa.func.count(), sa.func.count().filter(alerts.c.status == "open"))
        with self.db.read() as conn:
            total, open_ = conn.execute(stmt).one()
        return {"alerts": int(total), "open_alerts": int(open_)}
