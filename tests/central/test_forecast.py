"""The forecast model on held-out simulated weeks (pure: no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from central.evaluation import evaluate, scenario
from central.forecast import errors, forecast, slot

LONDON = ZoneInfo("Europe/London")


def test_the_model_beats_the_seasonal_naive_forecast_on_held_out_weeks():
    scores = evaluate(scenario(seed=11, students=500))
    by_week = {s.week: s for s in scores}
    for week in (11, 12, 13):
        assert by_week[week].model.mae < by_week[week].naive.mae
        assert by_week[week].model.wape < 0.3
    final = by_week[14]
    assert final.exam and final.model.wape < 0.2 and final.model.mae < final.no_calendar.mae / 3


def test_a_flat_history_forecasts_itself_and_the_exam_profile_takes_over_on_exam_days():
    origin = datetime(2026, 3, 2, tzinfo=UTC)
    history = [(origin - timedelta(hours=h), 10.0) for h in range(1, 6 * 168)]
    exams = frozenset({date(2026, 2, 9) + timedelta(days=i) for i in range(7)})
    history = [(t, 25.0 if t.date() in exams else v) for t, v in history]
    made = forecast(history, origin, LONDON, exams | {date(2026, 3, 3)}, capacity=20)
    assert made.exam_factor == 2.5
    assert {h.expected for h in made.hours if not h.exam} == {10.0}
    assert {h.expected for h in made.hours if h.exam} == {20.0}  # 25 seen before, capped at capacity


def test_hour_of_week_slots_follow_local_time():
    assert slot(datetime(2026, 3, 2, 0, tzinfo=UTC), LONDON) == 0
    assert slot(datetime(2026, 6, 1, 0, tzinfo=UTC), LONDON) == 1  # 01:00 BST on a Monday


def test_error_measures():
    e = errors([2, 4, 0], [1, 4, 0])
    assert (e.hours, e.mae, e.mape, e.wape) == (3, round(1 / 3, 3), 0.5, 0.2)
