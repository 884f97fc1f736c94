"""The pure cores of analytics: occupancy replay, buckets, opening hours, utilisation."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from central.occupancy import CheckEvent, Step, boundaries, count_at, reading_stats, replay, spans
from central.utilisation import is_open, utilisation
from onestop.site import OpeningHours

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
LONDON = ZoneInfo("Europe/London")


def ev(minutes: float, kind: str, card: str) -> CheckEvent:
    return CheckEvent(T + timedelta(minutes=minutes), kind, card)  # type: ignore[arg-type]


def test_double_checkin_counts_once_and_stray_checkout_is_ignored():
    steps = replay([ev(0, "in", "A"), ev(5, "in", "A"), ev(10, "out", "B"), ev(20, "in", "B"), ev(30, "out", "A")],
                   max_stay=12 * H)
    assert [(s.at, s.count) for s in steps] == [(T, 1), (T + timedelta(minutes=20), 2), (T + timedelta(minutes=30), 1)]


def test_sessions_end_at_max_stay_even_without_a_checkout():
    steps = replay([ev(0, "in", "A"), ev(30, "in", "B")], max_stay=2 * H, until=T + 5 * H)
    assert count_at(steps, T + H) == 2
    assert count_at(steps, T + 2 * H) == 1 and count_at(steps, T + 3 * H) == 0


def test_a_checkin_again_extends_the_session_past_the_first_expiry():
    steps = replay([ev(0, "in", "A"), ev(90, "in", "A")], max_stay=2 * H, until=T + 6 * H)
    assert count_at(steps, T + 2.5 * H) == 1 and count_at(steps, T + 3.5 * H) == 0


def test_auto_checkout_closes_the_session_like_any_other():
    steps = replay([ev(0, "in", "A"), ev(60, "out", "A")], max_stay=H)
    assert count_at(steps, T + 2 * H) == 0


def test_buckets_have_peak_and_time_weighted_mean():
    steps = [Step(T + timedelta(minutes=15), 2), Step(T + timedelta(minutes=45), 0)]
    (first, second) = spans(steps, [T, T + H, T + 2 * H])
    assert first.peak == 2 and first.mean == 1.0
    assert second.peak == 0 and second.mean == 0.0


def test_day_buckets_follow_local_midnight_across_the_clock_change():
    start = datetime(2026, 3, 28, 12, tzinfo=UTC)
    edges = boundaries(start, start + timedelta(days=2), "day", LONDON)
    assert [e.astimezone(LONDON).hour for e in edges] == [0, 0, 0, 0]
    assert edges[2] - edges[1] == timedelta(hours=23)  # 29 March 2026 is 23 hours long in London
    hours = boundaries(datetime(2026, 3, 29, 0, tzinfo=UTC), datetime(2026, 3, 29, 3, tzinfo=UTC), "hour", LONDON)
    assert all(b - a == H for a, b in zip(hours, hours[1:], strict=False))


def test_readings_are_summarised_per_bucket():
    stats = reading_stats([(T + timedelta(minutes=10), 4.0), (T + timedelta(minutes=40), 6.0)], [T, T + H, T + 2 * H])
    assert stats == [(6.0, 5.0), None]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 600), st.sampled_from(["in", "out"]), st.sampled_from("ABCDE")),
                max_size=60))
def test_occupancy_never_goes_negative_nor_exceeds_the_cards_seen(raw):
    events = sorted((ev(m, kind, card) for m, kind, card in raw), key=lambda e: e.at)
    steps = replay(events, max_stay=3 * H, until=T + 14 * H)
    cards = {e.card for e in events}
    assert all(0 <= s.count <= len(cards) for s in steps)
    assert not steps or steps[-1].count == 0  # everyone has left 3 h after the last event
    assert all(a.at < b.at for a, b in zip(steps, steps[1:], strict=False))


def test_opening_hours_including_past_midnight():
    day = OpeningHours(open=time(8), close=time(20), days=["mon", "tue"])
    night = OpeningHours(open=time(18), close=time(2), days=["fri"])
    monday = datetime(2026, 3, 2, tzinfo=LONDON)
    assert is_open(day, monday.replace(hour=8)) and not is_open(day, monday.replace(hour=20))
    assert not is_open(day, monday.replace(day=4, hour=12))  # Wednesday
    friday = datetime(2026, 3, 6, tzinfo=LONDON)
    assert is_open(night, friday.replace(hour=23)) and is_open(night, friday.replace(day=7, hour=1))
    assert not is_open(night, friday.replace(day=7, hour=3)) and not is_open(night, friday.replace(hour=1))
    assert is_open(OpeningHours(), monday)


def test_utilisation_counts_open_hours_nearly_empty_and_nearly_full():
    hours = OpeningHours(open=time(9), close=time(12), days=["mon"])
    start = datetime(2026, 3, 2, 8, tzinfo=UTC)  # London is on UTC in early March
    steps = [Step(start + H, 1), Step(start + 2 * H, 9), Step(start + 3 * H, 5), Step(start + 4 * H, 10)]
    u = utilisation(spans(steps, [start + i * H for i in range(6)]), 10, hours, LONDON)
    assert (u.open_hours, u.nearly_empty_hours, u.over_90_hours) == (3, 1, 1)
    assert u.peak_utilisation == 0.9 and u.over_90_share == 1 / 3
