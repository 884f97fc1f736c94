"""The demo's simulated clock (``--start``) and the weeks of history it seeds at central."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from central.analytics import Analytics
from central.store import CentralStore
from harness.history import StartTimeError, clock_offset, parse_start, seed_history, shift_hours
from onestop.site import SiteConfig, SpaceConfig

NOW = datetime(2026, 12, 7, 21, 40, tzinfo=UTC)  # a Monday evening


@pytest.mark.parametrize(("text", "expected"), [
    ("Mon 09:00", datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),      # this morning
    ("mon 22:15", datetime(2026, 11, 30, 22, 15, tzinfo=UTC)),   # later today is in the future: last week's
    ("Friday 14:30", datetime(2026, 12, 4, 14, 30, tzinfo=UTC)),
    ("07:05", datetime(2026, 12, 7, 7, 5, tzinfo=UTC)),
    ("23:30", datetime(2026, 12, 6, 23, 30, tzinfo=UTC)),       # yesterday's
])
def test_a_start_names_the_latest_such_moment(text, expected):
    assert parse_start(text, NOW) == expected


@pytest.mark.parametrize("text", ["Mon", "Mox 09:00", "Mon 25:00", "9am", "Mon 09:60", ""])
def test_a_start_that_names_no_weekday_and_time_is_refused_with_an_example(text):
    with pytest.raises(StartTimeError, match="Mon 09:00"):
        parse_start(text, NOW)


def test_opening_hours_follow_the_simulated_clock():
    offset = clock_offset(datetime(2026, 12, 7, 9, 0, tzinfo=UTC), NOW)
    assert offset == timedelta(hours=12, minutes=40)
    lab = {"id": "lab", "capacity": 5, "hours": {"open": "07:00", "close": "23:00"}}
    moved = shift_hours([lab, {"id": "hall", "capacity": 9}], offset)
    assert moved[0]["hours"] == {"open": "19:40", "close": "11:40"} and moved[1] == {"id": "hall", "capacity": 9}
    assert SpaceConfig.model_validate(moved[0]).hours.is_open(NOW.replace(tzinfo=None))  # 21:40 real = 09:00 simulated


def test_seeded_history_ends_now_gives_a_forecast_and_leaves_nobody_inside(tmp_path):
    store = CentralStore(f"sqlite:///{tmp_path / 'central.db'}")
    config = SiteConfig(spaces=[SpaceConfig(id="study", name="Study room", capacity=40)])
    simulated = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    stored = seed_history(store, "demo", config, simulated, NOW, weeks=2, students=150)
    assert stored > 1000
    analytics = Analytics(store, ZoneInfo("UTC"), frozenset())
    made, _ = analytics.forecast("demo", "study", NOW)
    assert made.weeks_used >= 1 and max(h.expected for h in made.hours) > 1
    hours = analytics.history("demo", "study", NOW - timedelta(days=3), NOW, "hour").spans
    assert max(s.peak for s in hours) > 3  # the history is real, and it lies in the days just before now
    assert [s["count"] for s in analytics.now(NOW)] == [0]  # visits still in progress were left out
    store.close()
