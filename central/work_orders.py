"""Work orders from every gateway (docs/work-orders.md): the campus list, its CSV, and per department the
times that show whether "demand response" lags.

Gateways push their orders with ``POST /api/v1/work-orders/sync``; each is upserted by id and the copy with
the newer ``updated_at`` wins (as alerts: ``central.alerts.newer_wins_upsert``), times after arrival clamped.

``department_times`` is pure: per department, the median and 90th percentile of the time to acknowledge
(orders acknowledged) and to finish (orders done), and the share acknowledged and finished on time against
each order's own targets. Percentiles are nearest-rank (the smallest value with at least p % of the values
at or below it), so each is a time some order really took; rejected orders count in no time.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from central import counters
from central.alerts import UpsertResult, clamped_rows, newer_wins_upsert
from central.db import Database
from central.schema import work_orders
from onestop.work_orders import WorkOrderRecord

TIMES = ("opened_at", "acknowledged_at", "finished_at", "updated_at")
CSV_COLUMNS = ("id", "site", "source", "category", "department", "state", "space", "device", "summary",
               "assignee", "opened_at", "acknowledged_at", "finished_at", "ack_due", "finish_due", "overdue")


@dataclass(frozen=True, slots=True)
class WorkOrderFilter:
    """Which orders to list: ``visible`` departments (the caller's), then the caller's choices."""

    site: str | None = None
    department: str | None = None
    state: str | None = None
    min_age: timedelta | None = None  # opened at least this long ago
    max_age: timedelta | None = None  # opened at most this long ago
    limit: int = 500


class DepartmentTimes(BaseModel):
    """How one department answers: counts, times (minutes) and shares on time (0–1, null with no orders)."""

    department: str
    orders: int
    unfinished: int
    overdue: int
    ack_median_min: float | None
    ack_p90_min: float | None
    finish_median_min: float | None
    finish_p90_min: float | None
    ack_on_time: float | None
    finish_on_time: float | None


def nearest_rank(values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile (0–100) by nearest rank; None for no values."""
    # not ``onestop.alert_history.quantile`` (interpolated): each figure is a time some order really took
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _minutes(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds() / 60, 2)


def department_times(records: Iterable[WorkOrderRecord], now: datetime) -> list[DepartmentTimes]:
    """Per department (sorted by id): the figures above over ``records``."""
    by_department: dict[str, list[WorkOrderRecord]] = {}
    for record in records:
        by_department.setdefault(record.department, []).append(record)
    out = []
    for department, orders in sorted(by_department.items()):
        acked = [r for r in orders if r.acknowledged_at is not None]
        done = [r for r in orders if r.state == "done" and r.finished_at is not None]
        ack = [_minutes(r.opened_at, r.acknowledged_at) for r in acked]  # type: ignore[arg-type]
        finish = [_minutes(r.opened_at, r.finished_at) for r in done]  # type: ignore[arg-type]
        out.append(DepartmentTimes(
            department=department, orders=len(orders), unfinished=sum(not r.closed for r in orders),
            overdue=sum(r.is_overdue(now) for r in orders),
            ack_median_min=statistics.median(ack) if ack else None, ack_p90_min=nearest_rank(ack, 90),
            finish_median_min=statistics.median(finish) if finish else None,
            finish_p90_min=nearest_rank(finish, 90),
            ack_on_time=round(sum(r.acknowledged_at <= r.ack_due for r in acked) / len(acked), 4)  # type: ignore[operator]
            if acked else None,
            finish_on_time=round(sum(r.finished_at <= r.finish_due for r in done) / len(done), 4)  # type: ignore[operator]
            if done else None))
    return out


def csv_text(records: Iterable[WorkOrderRecord], now: datetime) -> str:
    """The orders as CSV (one row each, ``CSV_COLUMNS``; times in UTC RFC 3339). No notes: free text stays
    in the application, where reads are role-checked."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for record in records:
        row = record.model_dump(mode="json")
        row["overdue"] = record.is_overdue(now)
        writer.writerow(["" if row.get(c) is None else _safe(str(row[c])) for c in CSV_COLUMNS])
    return out.getvalue()


def _safe(cell: str) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet (CSV injection): quote it as text.
    return "'" + cell if cell[:1] in ("=", "+", "-", "@") else cell


class WorkOrderStore:
    """The campus-wide work orders table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def upsert(self, records: Sequence[WorkOrderRecord], now: datetime | None = None) -> UpsertResult:
        """Apply a gateway's orders; a copy older than the stored one is ignored."""
        now = now or datetime.now(UTC)
        latest: dict[str, WorkOrderRecord] = {}
        for record in records:
            if record.id not in latest or latest[record.id].updated_at < record.updated_at:
                latest[record.id] = record
        rows, clamped = clamped_rows(work_orders, [
            {**record.model_dump(), "record": record.model_dump(mode="json"), "synced_at": now}
            for record in latest.values()], now, TIMES)
        with self.db.write() as conn:
            applied = newer_wins_upsert(self.db, conn, work_orders, "id", rows)
            counters.bump(self.db, conn, counters.FUTURE_DATED, clamped)
        return UpsertResult(applied, len(records) - applied)

    def find(self, departments: Iterable[str] | None, query: WorkOrderFilter,
             now: datetime | None = None) -> list[WorkOrderRecord]:
        """Orders matching ``query`` among ``departments`` (None: every one), newest first."""
        now = now or datetime.now(UTC)
        stmt = sa.select(work_orders.c.record)
        if departments is not None:
            stmt = stmt.where(work_orders.c.department.in_(list(departments)))
        for column in ("site", "department"):
            value = getattr(query, column)
            if value is not None:
                stmt = stmt.where(work_orders.c[column] == value)
        if query.state == "unfinished":
            stmt = stmt.where(work_orders.c.state.not_in(("done", "rejected")))
        elif query.state:
            stmt = stmt.where(work_orders.c.state == query.state)
        if query.min_age is not None:
            stmt = stmt.where(work_orders.c.opened_at <= now - query.min_age)
        if query.max_age is not None:
            stmt = stmt.where(work_orders.c.opened_at >= now - query.max_age)
        stmt = stmt.order_by(work_orders.c.opened_at.desc(), work_orders.c.id).limit(query.limit)
        with self.db.read() as conn:
            return [WorkOrderRecord.model_validate(_json(row)) for row in conn.execute(stmt).scalars()]

    def departments(self) -> list[str]:
        """Every department that has orders."""
        with self.db.read() as conn:
            return list(conn.execute(sa.select(work_orders.c.department).distinct()).scalars())


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
