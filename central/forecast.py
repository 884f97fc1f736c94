"""Peak-demand forecast per space and hour of the week (pure): a seasonal profile, recency-weighted, with
an exam-period factor.

The model, in four sentences a facilities manager can check by hand:

1. Demand repeats weekly, so the forecast for Tuesday 14:00 is a weighted average of the hourly peaks seen
   on past (non-exam) Tuesdays at 14:00; a week ``k`` weeks back weighs ``decay**k`` (recent weeks count
   more, which follows the slow build-up through a term).
2. Exam days have their own rhythm (no classes; students come earlier and stay longer), so an hour on an
   exam day of the academic calendar is forecast from the same hour-of-week on past exam days (the
   **exam profile**, same recency weights) when the history has one.
3. Without exam history for that hour, the normal profile is scaled by the **exam factor**: what was seen
   on past exam days over what the normal profile expected for those hours (clipped to 0.5–3; 1 with no
   exam history at all).
4. Nothing is forecast above the space's capacity: kiosks turn people away when a space is full, so the
   measured occupancy never exceeds it.

``high`` is the weighted 90th percentile of the same hour's history (capped likewise): a plausible busy
value, not a confidence interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

HOURS_PER_WEEK = 168
MIN_EXAM_HOURS = 24


@dataclass(frozen=True, slots=True)
class ModelParameters:
    """Tunable parts of the model (defaults chosen on simulated held-out weeks; see docs/central.md)."""

    weeks: int = 8
    decay: float = 0.7
    factor_bounds: tuple[float, float] = (0.5, 3.0)


DEFAULT_PARAMETERS = ModelParameters()


@dataclass(frozen=True, slots=True)
class HourForecast:
    """Expected peak occupancy of one hour."""

    start: datetime
    expected: float
    high: float
    exam: bool


@dataclass(frozen=True, slots=True)
class Forecast:
    """The forecast and what it was made from."""

    hours: list[HourForecast]
    exam_factor: float
    weeks_used: int
    parameters: ModelParameters


def slot(start: datetime, zone: ZoneInfo) -> int:
    """Hour of the week in local time: Monday 00:00 is 0, Sunday 23:00 is 167."""
    local = start.astimezone(zone)
    return local.weekday() * 24 + local.hour


def _weighted_quantile(pairs: list[tuple[float, float]], q: float) -> float:
    pairs = sorted(pairs)
    total = sum(w for _, w in pairs)
    running = 0.0
    for value, weight in pairs:
        running += weight
        if running >= q * total:
            return value
    return pairs[-1][0]


Observations = dict[int, list[tuple[float, float]]]  # slot -> [(value, weight)]


@dataclass(frozen=True, slots=True)
class Fitted:
    """What the model learnt from the history."""

    normal: Observations
    exam: Observations
    exam_factor: float
    weeks_used: int


def fit(history: Iterable[tuple[datetime, float]], origin: datetime, zone: ZoneInfo, exam_days: frozenset[date],
        params: ModelParameters = DEFAULT_PARAMETERS) -> Fitted:
    """Weighted observations per hour-of-week slot, normal and exam, the exam factor, the weeks used."""
    origin = origin.astimezone(UTC)  # UTC arithmetic: zone-aware datetimes add in wall-clock time
    window_start = origin - timedelta(weeks=params.weeks)
    rows = []
    for start, value in history:
        if window_start <= start < origin:
            age_weeks = (origin - start - timedelta(seconds=1)) // timedelta(weeks=1)  # the last 7 days are 0
            rows.append((slot(start, zone), value, params.decay ** age_weeks,
                         start.astimezone(zone).date() in exam_days, age_weeks))
    weeks_used = len({r[4] for r in rows})

    normal: Observations = {}
    exam: Observations = {}
    for key, value, weight, is_exam, _ in rows:
        (exam if is_exam else normal).setdefault(key, []).append((value, weight))
    normal_means = {key: _mean(pairs) for key, pairs in normal.items()}
    exam_rows = [(key, value, weight) for key, pairs in exam.items() if key in normal_means
                 for value, weight in pairs]
    factor = 1.0
    if len(exam_rows) >= MIN_EXAM_HOURS:
        expected = sum(normal_means[key] * weight for key, _, weight in exam_rows)
        seen = sum(value * weight for _, value, weight in exam_rows)
        if expected > 0:
            low, high = params.factor_bounds
            factor = min(high, max(low, seen / expected))
    return Fitted(normal, exam, factor, weeks_used)


def _mean(pairs: list[tuple[float, float]]) -> float:
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else 0.0


def forecast(history: Iterable[tuple[datetime, float]], origin: datetime, zone: ZoneInfo,
             exam_days: frozenset[date], hours: int = HOURS_PER_WEEK, capacity: int | None = None,
             params: ModelParameters = DEFAULT_PARAMETERS) -> Forecast:
    """Expected hourly peaks for ``hours`` hours from ``origin`` (aligned to a local hour)."""
    origin = origin.astimezone(UTC)
    fitted = fit(history, origin, zone, exam_days, params)
    cap = float(capacity) if capacity else float("inf")
    out = []
    for i in range(hours):
        start = origin + timedelta(hours=i)
        key = slot(start, zone)
        exam = start.astimezone(zone).date() in exam_days
        if exam and fitted.exam.get(key):
            pairs, scale = fitted.exam[key], 1.0
        else:
            pairs, scale = fitted.normal.get(key, []), fitted.exam_factor if exam else 1.0
        expected = min(cap, _mean(pairs) * scale) if pairs else 0.0
        high = min(cap, _weighted_quantile(pairs, 0.9) * scale) if pairs else 0.0
        out.append(HourForecast(start, round(expected, 2), round(high, 2), exam))
    return Forecast(out, round(fitted.exam_factor, 3), fitted.weeks_used, params)


@dataclass(frozen=True, slots=True)
class Errors:
    """Forecast error over a set of hours.

    MAPE is taken over hours whose actual peak was at least one person (it is undefined at zero);
    WAPE (sum of absolute errors over sum of actuals) is the steadier figure for sparse hours.
    """

    hours: int
    mae: float
    mape: float
    wape: float


def errors(predicted: Sequence[float], actual: Sequence[float]) -> Errors:
    """MAE, MAPE (actual ≥ 1) and WAPE of ``predicted`` against ``actual``."""
    pairs = list(zip(predicted, actual, strict=True))
    if not pairs:
        return Errors(0, 0.0, 0.0, 0.0)
    abs_errors = [abs(p - a) for p, a in pairs]
    positive = [(p, a) for p, a in pairs if a >= 1]
    mape = sum(abs(p - a) / a for p, a in positive) / len(positive) if positive else 0.0
    total = sum(a for _, a in pairs)
    return Errors(len(pairs), round(sum(abs_errors) / len(pairs), 3), round(mape, 4),
                  round(sum(abs_errors) / total, 4) if total else 0.0)
