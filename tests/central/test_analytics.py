"""Occupancy, utilisation and forecast through the API, on simulated history ingested into both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import httpx
import pytest

from central.api import create_app
from central.ingest import IngestItem
from central.occupancy import CheckEvent, boundaries, count_at, replay, spans
from central.settings import CentralSettings, ExamPeriod
from central.simulation import Scenario, SimEvent, envelopes, exam_days, simulate
from central.store import CentralStore
from onestop.site import OpeningHours, SiteConfig, SpaceConfig
from tests.helpers import served

LONDON = ZoneInfo("Europe/London")
START = date(2026, 2, 2)
EXAMS = exam_days(date(2026, 3, 2), 5)
SPACES = (SpaceConfig(id="study-24h-2f", name="24h study", capacity=30),
          SpaceConfig(id="skills-lab-1", name="Skills lab", capacity=10,
                      hours=OpeningHours(open=time(9), close=time(18), days=["mon", "tue", "wed", "thu", "fri"])))
SCENARIO = Scenario("north-b3", SPACES, START, 35, students=220, exam_days=EXAMS, zone=LONDON, seed=3)
EXAM_MONDAY = datetime(2026, 3, 2, tzinfo=LONDON).astimezone(UTC)


@cache
def events() -> tuple[SimEvent, ...]:
    return tuple(simulate(SCENARIO))


def true_steps(space: str):
    checks = [CheckEvent(e.at, "in" if e.type == "checkin" else "out", e.data["card"])
              for e in sorted(events(), key=lambda e: (e.at, e.id))
              if e.type in ("checkin", "checkout") and e.data["space"] == space]
    return replay(checks, timedelta(hours=12))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request, tmp_path_factory, token_entries) -> Iterator[httpx.Client]:
    """A central service holding five simulated weeks (the last an exam week) of one building."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('analytics') / 'central.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database()
    tokens, entries = token_entries
    store = CentralStore(url)
    items = [IngestItem(received=r, envelope=e) for r, e in envelopes(list(events()))]
    for chunk in range(0, len(items), 5000):
        store.ingest("north-b3", items[chunk:chunk + 5000])
    store.configs.put("north-b3", SiteConfig(spaces=list(SPACES)), "test")
    settings = CentralSettings(database_url=url, tokens=entries, test_rig=True, timezone="Europe/London",
                               pseudonym_key_file=tmp_path_factory.mktemp("keys") / "pseudonym.key",
                               exam_periods=[ExamPeriod(start=min(EXAMS), end=max(EXAMS))])
    with served(create_app(settings, store), headers=tokens.header("staff")) as client:
        yield client
    store.close()


def test_hourly_history_matches_a_replay_of_the_simulated_taps(api):
    start = datetime(2026, 2, 10, tzinfo=UTC)
    got = api.get("/api/v1/spaces/north-b3/study-24h-2f/occupancy",
                  params={"start": start.isoformat(), "end": (start + timedelta(days=2)).isoformat()}).json()
    expected = spans(true_steps("study-24h-2f"), boundaries(start, start + timedelta(days=2), "hour", LONDON))
    assert [b["peak"] for b in got["buckets"]] == [s.peak for s in expected]
    assert [b["mean"] for b in got["buckets"]] == pytest.approx([s.mean for s in expected], abs=1e-3)
    assert got["capacity"] == 30 and got["timezone"] == "Europe/London" and max(s.peak for s in expected) > 3
    busy = [b for b in got["buckets"] if b["peak"] >= 3]
    assert busy and all(b["people_count_max"] is not None for b in busy)  # counter readings shown beside
    assert all(abs(b["people_count_max"] - b["peak"]) <= 3 for b in busy)


def test_daily_history_has_one_bucket_per_local_day(api):
    got = api.get("/api/v1/spaces/north-b3/skills-lab-1/occupancy",
                  params={"start": "2026-02-09T00:00:00Z", "end": "2026-02-16T00:00:00Z", "bucket": "day"}).json()
    assert len(got["buckets"]) == 7
    # The lab is closed at weekends; a Friday session someone forgot to end lasts into Saturday morning at
    # most (the gateway closes it at the maximum stay), so Sunday is empty.
    assert got["buckets"][6]["peak"] == 0 and got["buckets"][2]["peak"] > 0


def test_occupancy_now_counts_who_is_inside(api):
    at = datetime(2026, 2, 11, 15, 20, tzinfo=UTC)
    now = {s["space"]: s for s in api.get("/api/v1/occupancy", params={"at": at.isoformat()}).json()}
    assert set(now) == {"study-24h-2f", "skills-lab-1"}
    for space in now:
        assert now[space]["count"] == count_at(true_steps(space), at)
    assert now["skills-lab-1"]["capacity"] == 10


def test_utilisation_sees_quiet_teaching_weeks_and_a_full_exam_week(api):
    def util(start: datetime) -> dict:
        return api.get("/api/v1/spaces/north-b3/skills-lab-1/utilisation",
                       params={"start": start.isoformat(), "end": (start + timedelta(days=7)).isoformat()}).json()

    teaching, exams = util(EXAM_MONDAY - timedelta(days=14)), util(EXAM_MONDAY)
    assert teaching["open_hours"] == exams["open_hours"] == 45  # 9:00-18:00, Monday to Friday
    assert exams["over_90_hours"] > teaching["over_90_hours"]
    assert teaching["nearly_empty_hours"] > exams["nearly_empty_hours"]
    assert exams["mean_utilisation"] > teaching["mean_utilisation"]


def test_forecast_covers_the_next_week_and_expects_the_exam_surge(api):
    before_exams = api.get("/api/v1/spaces/north-b3/study-24h-2f/forecast",
                           params={"origin": (EXAM_MONDAY - timedelta(days=7)).isoformat()}).json()
    assert len(before_exams["hours"]) == 168 and before_exams["weeks_used"] == 3
    assert not any(h["exam"] for h in before_exams["hours"])
    assert all(0 <= h["expected"] <= h["high"] <= 30 for h in before_exams["hours"])
    into_exams = api.get("/api/v1/spaces/north-b3/study-24h-2f/forecast",
                         params={"origin": EXAM_MONDAY.isoformat()}).json()
    assert [h["exam"] for h in into_exams["hours"]] == [True] * 120 + [False] * 48
    assert into_exams["exam_factor"] == 1.0  # no exam in the history yet: the cold start
    hours = [datetime.fromisoformat(h["start"]) for h in into_exams["hours"]]
    assert hours[0] == EXAM_MONDAY and all(b - a == timedelta(hours=1) for a, b in zip(hours, hours[1:], strict=False))


def test_unknown_spaces_and_backwards_ranges_are_refused(api):
    assert api.get("/api/v1/spaces/north-b3/nowhere/occupancy").status_code == 404
    assert api.get("/api/v1/spaces/north-b3/nowhere/forecast").status_code == 404
    backwards = {"start": "2026-02-10T00:00:00Z", "end": "2026-02-09T00:00:00Z"}
    assert api.get("/api/v1/spaces/north-b3/skills-lab-1/occupancy", params=backwards).status_code == 400
    too_long = {"start": "2025-01-01T00:00:00Z", "end": "2026-02-09T00:00:00Z"}
    assert api.get("/api/v1/spaces/north-b3/skills-lab-1/occupancy", params=too_long).status_code == 400
