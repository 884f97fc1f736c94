"""Feedback per space and ISO week at central (docs/work-orders.md, "Feedback"), on a known set of events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from central.ingest import IngestItem
from onestop.site import SiteConfig, SpaceConfig
from tests.central.factories import event

SITE, SPACE = "north-b3", "study-24h-2f"
MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # ISO 2026-W48 starts (London is on UTC in November)


@pytest.fixture
def database_url(tmp_path):  # SQLite is enough for an aggregation over stored JSON
    return f"sqlite:///{tmp_path / 'central.db'}"


def rating(seq: int, at: datetime, value: int, space: str = SPACE, device: str = "kiosk-b3-lobby"):
    return IngestItem(received=at, envelope=event(device, seq, "feedback",
                                                  {"space": space, "question": "space-rating", "rating": value},
                                                  ts=at))


def test_weekly_count_mean_and_distribution_in_campus_weeks(store, as_role):
    store.configs.put(SITE, SiteConfig(spaces=[SpaceConfig(id=SPACE, name="24h study", capacity=30),
                                               SpaceConfig(id="quiet-room", name="Quiet", capacity=4)]), "test")
    items = [rating(1, MONDAY + timedelta(hours=9), 5), rating(2, MONDAY + timedelta(days=2), 4),
             rating(3, MONDAY + timedelta(days=6, hours=23, minutes=59), 2),  # Sunday night: still W48
             rating(4, MONDAY + timedelta(days=7, minutes=1), 1),  # Monday just after midnight: W49
             rating(5, MONDAY + timedelta(days=8), 3),
             rating(6, MONDAY + timedelta(days=1), 1, space="quiet-room"),  # another space
             rating(7, MONDAY - timedelta(days=30), 5)]  # before the range asked
    store.ingest(SITE, items)
    staff = as_role("staff")
    answer = staff.get(f"/api/v1/sites/{SITE}/spaces/{SPACE}/feedback",
                       params={"start": "2026-11-16T00:00:00Z", "end": "2026-12-07T00:00:00Z"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["timezone"] == "Europe/London"
    assert [(w["week"], w["question"], w["count"], w["mean"], w["distribution"]) for w in body["weeks"]] == [
        ("2026-W48", "space-rating", 3, 3.67, [0, 1, 0, 1, 1]),
        ("2026-W49", "space-rating", 2, 2.0, [1, 0, 1, 0, 0])]
    assert body["weeks"][0]["start"].startswith("2026-11-23T00:00:00")
    assert as_role("facilities").get(f"/api/v1/sites/{SITE}/spaces/{SPACE}/feedback").status_code == 200
    for role in ("clinic", "counselling", "technician"):  # not an analytics role
        assert as_role(role).get(f"/api/v1/sites/{SITE}/spaces/{SPACE}/feedback").status_code == 403
    staff = as_role("staff")  # the same client: its header names the last role set
    assert staff.get(f"/api/v1/sites/{SITE}/spaces/nowhere/feedback").status_code == 404
    assert staff.get(f"/api/v1/sites/{SITE}/spaces/{SPACE}/feedback",
                     params={"start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}).status_code == 400
