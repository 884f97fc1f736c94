"""Feedback per space and ISO week (docs/work-orders.md, "Feedback"): pure aggregation of ``feedback`` events.

Each event is one anonymous rating (1..5) a kiosk asked after a checkout. A week is the ISO week of the
event's time in the campus time zone (Monday to Sunday, as the campus lives it); per week and question the
answer gives the count, the mean rating and the distribution of ratings 1..5. No card or device is in the
events and none is in the answer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from central.store import StoredEvent

MAX_SPAN = timedelta(weeks=156)  # three years of weeks: a chart, not an export


class FeedbackWeek(BaseModel):
    """One ISO week's answers to one question about a space."""

    week: str = Field(description='ISO week in the campus time zone, e.g. "2026-W48"')
    start: datetime = Field(description="the Monday 00:00 that starts the week (campus time, with its offset)")
    question: str
    count: int
    mean: float = Field(description="mean rating, 1 (poor) to 5 (very good), rounded to 2 decimals")
    distribution: list[int] = Field(description="how many answers rated 1, 2, 3, 4 and 5", min_length=5,
                                    max_length=5)


def weekly(events: Iterable[StoredEvent], zone: ZoneInfo) -> list[FeedbackWeek]:
    """Per ISO week (campus time) and question: count, mean and distribution, oldest week first.

    Events whose ``data`` is not a rating of 1..5 are skipped (central validated them at ingest; this only
    guards against rows another release wrote).
    """
    counts: dict[tuple[int, int, str], list[int]] = defaultdict(lambda: [0] * 5)
    for event in events:
        rating, question = event.data.get("rating"), event.data.get("question")
        if type(rating) is not int or not 1 <= rating <= 5 or not isinstance(question, str):
            continue
        year, week, _ = event.at.astimezone(zone).isocalendar()
        counts[(year, week, question)][rating - 1] += 1
    out = []
    for (year, week, question), dist in sorted(counts.items()):
        n = sum(dist)
        monday = datetime.fromisocalendar(year, week, 1).replace(tzinfo=zone)
        out.append(FeedbackWeek(week=f"{year}-W{week:02d}", start=monday, question=question, count=n,
                                mean=round(sum((i + 1) * c for i, c in enumerate(dist)) / n, 2), distribution=dist))
    return out
