"""Alerts from every gateway with their lifecycle (open → acknowledged → resolved, assigned to a person).

Gateways push their alerts with ``POST /api/v1/alerts/sync``; each alert is upserted by id, merged with the
stored copy: the union of both histories, the later action winning (``onestop.alert_history``; a copy
without history: the newer ``updated_at`` wins), so resending, reordering or views arriving late never roll
an alert's lifecycle back or lose an action. Times after the record's arrival, the actions' included, are
clamped to it first (``clamp_future``).

People act at central too (``act``): the action joins the alert's history and is recorded in
``alert_actions`` in the order taken, for the alert's gateway to fetch after its cursor (``actions_after``).
On PostgreSQL an advisory lock serialises the transactions that write alerts, so a ``seq`` never becomes
visible after a larger one (a gateway's cursor would skip it) and two syncs of one alert never race.
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
from central.schema import alert_actions, alerts
from onestop.alert_history import SYSTEM, Response, first_response, merge, merge_copies, seconds, take
from onestop.events import as_utc
from onestop.records import AlertAction, AlertActionDown, AlertActions, AlertRecord

log = logging.getLogger(__name__)
_ACTIONS_LOCK = 0x616C7274  # "alrt": orders the transactions that append to alert_actions (PostgreSQL)
_LOOKUP_CHUNK = 5000  # ids per IN (...)


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
    times = {name: as_utc(values[name]) for name in fields if values.get(name) is not None}
    late = [name for name, value in times.items() if value > now]
    return {**values, **times, **dict.fromkeys(late, now)}, bool(late)


def _aware(value: datetime | str | None) -> datetime | None:
    """A time from a computed column (SQLite hands back its stored text, without an offset: UTC)."""
    if value is None or isinstance(value, datetime):
        return None if value is None else as_utc(value)
    return as_utc(datetime.fromisoformat(value))



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


def clamp_record(record: AlertRecord, now: datetime) -> tuple[AlertRecord, bool]:
    """``record`` with its times and its actions' times after ``now`` clamped to ``now``, and whether any was."""
    values, late = clamp_future(record.model_dump(exclude={"history"}), now, ALERT_TIMES)
    history = []
    for action in record.history:
        if as_utc(action.at) > now:
            action, late = action.model_copy(update={"at": now}), True
        history.append(action)
    return (record.model_copy(update={**values, "history": history}) if late else record), late


def record_row(record: AlertRecord) -> dict[str, Any]:
    """The ``alerts`` row of a record (without ``synced_at``)."""
    history = [action.model_dump(mode="json") for action in record.history] or None
    return table_row(alerts, {**record.model_dump(exclude={"history"}), "history": history,
                              "responded_at": first_response(record)})


def row_record(row: Any) -> AlertRecord:
    """The record an ``alerts`` row holds."""
    values = {name: row[name] for name in AlertRecord.model_fields if name != "history"}
    return AlertRecord.model_validate({**values, "history": row["history"] or []})


class AlertStore:
    """The campus-wide alert table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def upsert(self, records: Sequence[AlertRecord], now: datetime | None = None) -> UpsertResult:
        """Merge a gateway's alerts into the stored copies; a record that adds nothing is counted stale."""
        now = now or datetime.now(UTC)
        latest: dict[str, AlertRecord] = {}
        clamped = 0
        for record in records:  # one statement may not touch a row twice: merge each id's copies first
            record, late = clamp_record(record, now)
            clamped += late
            latest[record.id] = merge_copies(latest[record.id], record) if record.id in latest else record
        applied = 0
        with self.db.write() as conn:
            self._lock_actions(conn)  # two syncs of one alert (a resend after a time-out) must not both insert
            stored = self._stored(conn, list(latest))
            inserts, updates = [], []
            for record in latest.values():
                old = stored.get(record.id)
                if old is None:
                    inserts.append({**record_row(record), "synced_at": now})
                    continue
                merged = merge_copies(old, record)
                # By value (a gateway's copy is central's narrower model); an old copy without history gains one
                # by merging alone, which is no change.
                if merged.model_dump() != merge(old, []).model_dump():
                    updates.append({**record_row(merged), "synced_at": now, "key": record.id})
            if inserts:
                conn.execute(alerts.insert(), inserts)
            if updates:
                conn.execute(alerts.update().where(alerts.c.id == sa.bindparam("key")), updates)
            applied = len(inserts) + len(updates)
            counters.bump(self.db, conn, counters.FUTURE_DATED, clamped)
        if clamped:
            log.warning("%d alert(s) dated after their arrival; their times were clamped to it", clamped)
        return UpsertResult(applied, len(records) - applied)

    def _lock_actions(self, conn: sa.Connection) -> None:
        """Serialise alert writes on PostgreSQL (SQLite: the database's one writer already does)."""
        if not self.db.is_sqlite:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ACTIONS_LOCK})

    @staticmethod
    def _stored(conn: sa.Connection, ids: Sequence[str]) -> dict[str, AlertRecord]:
        out: dict[str, AlertRecord] = {}
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            stmt = sa.select(alerts).where(alerts.c.id.in_(ids[start:start + _LOOKUP_CHUNK]))
            out.update((row["id"], row_record(row)) for row in conn.execute(stmt).mappings())
        return out

    def act(self, alert_id: str, teams: Sequence[str], action: AlertAction) -> AlertRecord | None:
        """Take ``action`` on an alert of ``teams`` (None: no such alert for them); ``AlertError`` when its
        state does not allow it. The action is queued for the alert's gateway in the same transaction."""
        with self.db.write() as conn:
            self._lock_actions(conn)
            record = self._stored(conn, [alert_id]).get(alert_id)
            if record is None or record.team not in teams:
                return None
            updated = take(record, action)
            conn.execute(alerts.update().where(alerts.c.id == alert_id).values(record_row(updated)))
            conn.execute(alert_actions.insert().values(site=record.site, alert_id=alert_id,
                                                       action=action.model_dump(mode="json")))
        return updated

    def actions_after(self, site: str, after: int, limit: int) -> AlertActions:
        """Actions taken at central on ``site``'s alerts after ``after``, oldest first, at most ``limit``."""
        stmt = (sa.select(alert_actions.c.seq, alert_actions.c.alert_id, alert_actions.c.action)
                .where(alert_actions.c.site == site, alert_actions.c.seq > after)
                .order_by(alert_actions.c.seq).limit(limit))
        with self.db.read() as conn:
            rows = conn.execute(stmt).all()
        actions = [AlertActionDown(seq=seq, alert=alert_id, action=AlertAction.model_validate(action))
                   for seq, alert_id, action in rows]
        return AlertActions(actions=actions, next=actions[-1].seq if actions else after)

    def response_times(self, teams: Sequence[str], since: datetime | None = None,
                       until: datetime | None = None) -> list[Response]:
        """Response times of the alerts of ``teams`` raised in ``[since, until)`` (read from columns)."""
        c = alerts.c
        # Rows stored before step 5 have no ``responded_at``: their acknowledge, else a person's resolve.
        person_resolved = sa.case((sa.and_(c.resolved_by != SYSTEM, c.status == "resolved"), c.resolved_at))
        responded = sa.func.coalesce(c.responded_at, c.acknowledged_at, person_resolved)
        resolved = sa.case((c.status == "resolved", c.resolved_at))
        stmt = sa.select(c.team, c.severity, c.raised_at, responded.label("responded"),
                         resolved.label("resolved")).where(c.team.in_(teams))
        if since is not None:
            stmt = stmt.where(c.raised_at >= since)
        if until is not None:
            stmt = stmt.where(c.raised_at < until)
        with self.db.read() as conn:
            return [Response(team, severity, seconds(raised, _aware(responded)), seconds(raised, _aware(done)))
                    for team, severity, raised, responded, done in conn.execute(stmt)]

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
