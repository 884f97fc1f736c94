"""Times and time ranges asked for in query strings, checked before any work is done (pure).

Every route that takes a time (``at``, ``start``/``end``, ``since``/``until``, ``origin``) reads it through
``query_time`` or ``query_range``, so the same rules hold everywhere and a bad time is a 400 with a clear
message, never a 500 or minutes of work:

- a time must lie in ``[EARLIEST, LATEST)``: years far from now are no use to a campus and are where date
  arithmetic overflows (``0001-01-01T00:00:00+01:00`` has no UTC equivalent; ``9999-12-31T21:00Z`` plus a
  week does not exist);
- a time without an offset is UTC;
- a bucketed range spans at most ``MAX_BUCKETS`` buckets of its size, checked on the two ends alone, before
  any bucket edge is computed or any event read (a 1000-year hourly range used to build 8.7 million edges
  before being refused).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from central.errors import RequestError
from central.occupancy import Bucket

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_BUCKETS = 24 * 93  # three months of hours, six years of days: a chart, not an export
BUCKET_LENGTH: dict[Bucket, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


BAD_TIME = {400: {"description": "a time outside the accepted years, or a backwards or over-long range"}}


class TimeRangeError(RequestError):
    """A time or range in a query that central will not answer (400)."""


def query_time(value: datetime | None, name: str) -> datetime | None:
    """``value`` as an aware UTC time inside the accepted years, or ``None`` when not given."""
    if value is None:
        return None
    try:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise TimeRangeError(f"{name} must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)")
    return utc


def check_span(start: datetime, end: datetime, bucket: Bucket | None = None) -> None:
    """Refuse a backwards range, and a bucketed one of more than ``MAX_BUCKETS`` buckets."""
    if end <= start:
        raise TimeRangeError("end must be after start")
    if bucket is not None and end - start > MAX_BUCKETS * BUCKET_LENGTH[bucket]:
        raise TimeRangeError(f"at most {MAX_BUCKETS} {bucket} buckets per request; narrow the range"
                             + (" or use days" if bucket == "hour" else ""))


def query_range(start: datetime | None, end: datetime | None, default_end: datetime, default_span: timedelta,
                bucket: Bucket | None = None) -> tuple[datetime, datetime]:
    """``[start, end)`` from a query, defaults filled in (``end`` now-ish, ``start`` a span before it), checked."""
    end_at = query_time(end, "end") or default_end
    start_at = query_time(start, "start") or end_at - default_span
    check_span(start_at, end_at, bucket)
    return start_at, end_at
