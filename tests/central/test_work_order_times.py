"""Per-department times on a known history (central.work_orders.department_times), and the CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from central.work_orders import csv_text, department_times, nearest_rank
from onestop.work_orders import WorkOrderRecord

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def order(n: int, department: str, ack_min: float | None, finish_min: float | None, state: str = "done",
          ack_due_min: float = 30, finish_due_min: float = 240, summary: str = "s") -> WorkOrderRecord:
    opened = T0 + timedelta(hours=n)

    def at(minutes: float | None) -> datetime | None:
        return None if minutes is None else opened + timedelta(minutes=minutes)

    return WorkOrderRecord(id=f"0193f6c4-7d2a-7c1e-9a51-{n:012d}", site="north-b3", source="request",
                           category="climate", department=department, state=state, summary=summary, opened_at=opened,
                           acknowledged_at=at(ack_min), finished_at=at(finish_min),
                           updated_at=at(finish_min) or at(ack_min) or opened,
                           ack_due=opened + timedelta(minutes=ack_due_min),
                           finish_due=opened + timedelta(minutes=finish_due_min))


def test_median_p90_and_share_on_time_per_department():
    history = [
        # facilities: acknowledged after 10, 20, 40, 50, 60 minutes (target 30), finished after 100..500 (240)
        order(1, "facilities", 10, 100), order(2, "facilities", 20, 200), order(3, "facilities", 40, 300),
        order(4, "facilities", 50, 400), order(5, "facilities", 60, 500),
        # technicians: one done in time, one still open and late, one rejected (counts in no finish time)
        order(6, "technicians", 5, 30), order(7, "technicians", None, None, state="open"),
        order(8, "technicians", 15, 20, state="rejected"),
    ]
    now = T0 + timedelta(days=2)
    facilities, technicians = department_times(history, now)
    assert facilities.model_dump() == {
        "department": "facilities", "orders": 5, "unfinished": 0, "overdue": 0,
        "ack_median_min": 40, "ack_p90_min": 60, "finish_median_min": 300, "finish_p90_min": 500,
        "ack_on_time": 0.4, "finish_on_time": 0.4}
    assert technicians.model_dump() == {
        "department": "technicians", "orders": 3, "unfinished": 1, "overdue": 1,
        "ack_median_min": 10, "ack_p90_min": 15, "finish_median_min": 30, "finish_p90_min": 30,
        "ack_on_time": 1.0, "finish_on_time": 1.0}


def test_nearest_rank_is_a_value_some_order_took():
    values = list(range(1, 11))  # 1..10 minutes
    assert (nearest_rank(values, 90), nearest_rank(values, 50), nearest_rank([7], 90), nearest_rank([], 90)) == (
        9, 5, 7, None)


def test_the_csv_has_one_row_per_order_and_no_formula_cells():
    rows = list(csv.DictReader(io.StringIO(csv_text([order(1, "facilities", 10, 100),
                                                    order(2, "clinic", None, None, state="open",
                                                          summary="=HYPERLINK(1)")],
                                                   T0 + timedelta(days=1)))))
    assert [(r["summary"], r["state"], r["overdue"]) for r in rows] == [("s", "done", "False"),
                                                                        ("'=HYPERLINK(1)", "open", "True")]
