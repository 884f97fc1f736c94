"""The pure notification core: targets as configuration, who gets what, when escalation is due, what a
message says (and never says)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from onestop.notifications import (
    NotifyTarget,
    Place,
    alert_link,
    compose,
    due_tier,
    named,
    next_try,
    scrub,
    targets_for,
)
from onestop.records import AlertRecord

T0 = datetime(2026, 11, 23, 1, 30, tzinfo=UTC)
CARD = "04D73A5C9F12"


def urgent(**fields: object) -> AlertRecord:
    values: dict[str, object] = {
        "id": "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11", "site": "north-b3", "rule": "phq9-item9",
        "severity": "urgent", "team": "counselling", "summary": "PHQ-9 item 9 above zero: talk to the student today",
        "raised_at": T0, "updated_at": T0, "device": "hs-north-1", "space": "health-corner", "subject": CARD}
    return AlertRecord(**{**values, **fields})  # type: ignore[arg-type]


def test_a_target_needs_exactly_one_of_url_and_url_file(tmp_path):
    secret = tmp_path / "wecom.url"
    secret.write_text("wecombot://0123456789abcdef\n")
    assert NotifyTarget(team="clinic", url_file=secret).secret_url() == "wecombot://0123456789abcdef"
    with pytest.raises(ValidationError, match="exactly one of url and url_file"):
        NotifyTarget(team="clinic")
    with pytest.raises(ValidationError, match="exactly one of url and url_file"):
        NotifyTarget(team="clinic", url="json://x/", url_file=secret)
    with pytest.raises(ValidationError, match="cannot be read"):
        NotifyTarget(team="clinic", url_file=tmp_path / "missing")
    with pytest.raises(ValidationError, match="not an Apprise URL"):
        NotifyTarget(team="clinic", url="smtp.campus.example.edu")


def test_a_url_never_shows_in_the_settings_repr_and_names_default_without_it():
    target = NotifyTarget(team="counselling", url="mailtos://duty:hunter2@mail.example.edu")
    assert "hunter2" not in repr(target) and "hunter2" not in str(target.model_dump())
    assert [t.name for t in named([target, target])] == ["counselling-1-mailtos", "counselling-2-mailtos"]
    with pytest.raises(ValueError, match="unique: pager"):
        named([target.model_copy(update={"name": "pager"})] * 2)


def test_targets_take_their_team_from_their_least_severity_and_their_tier():
    everything = NotifyTarget(team="counselling", url="json://a/", name="all")
    urgent_only = NotifyTarget(team="counselling", url="json://b/", severity="urgent", name="urgent-only")
    clinic = NotifyTarget(team="clinic", url="json://c/", name="clinic")
    escalation = NotifyTarget(team="counselling", url="json://d/", tier=1, name="duty")
    targets = [everything, urgent_only, clinic, escalation]
    assert [t.name for t in targets_for(urgent(), targets)] == ["all", "urgent-only"]
    assert [t.name for t in targets_for(urgent(severity="follow-up"), targets)] == ["all"]
    assert [t.name for t in targets_for(urgent(), targets, tier=1)] == ["duty"]


@pytest.mark.parametrize(("minutes", "fields", "tier"), [
    (9.9, {}, 0), (10, {}, 1), (25, {}, 2), (500, {}, 3),
    (25, {"status": "acknowledged"}, 0), (25, {"status": "resolved"}, 0), (25, {"severity": "follow-up"}, 0),
])
def test_escalation_is_one_tier_per_delay_while_an_urgent_alert_stays_open(minutes, fields, tier):
    assert due_tier(urgent(**fields), T0 + timedelta(minutes=minutes), 10, max_tier=3) == tier
    assert due_tier(urgent(), T0 + timedelta(minutes=minutes), None, max_tier=3) == 0  # the team does not escalate


def test_retries_double_up_to_the_cap():
    assert [next_try(n, 5, 30) for n in (1, 2, 3, 4, 5)] == [5, 10, 20, 30, 30]


def test_a_message_names_rule_place_time_and_link_and_never_the_card():
    message = compose(urgent(), Place("north-b3", space_name="Health corner"), ZoneInfo("Asia/Shanghai"),
                      alert_link("https://gw.north-b3.example.edu/", urgent().id), tier=1)
    text = message.title + "\n" + message.body
    assert "phq9-item9" in message.title and "escalation tier 1" in message.title
    assert "Health corner (health-corner)" in text and "hs-north-1" in text and "north-b3" in text
    assert "2026-11-23 09:30:00 Asia/Shanghai (2026-11-23 01:30:00 UTC)" in text
    assert f"https://gw.north-b3.example.edu/#alert={urgent().id}" in text
    assert CARD not in text and CARD.lower() not in text


def test_failure_reasons_lose_urls_and_credentials():
    url = "mailtos://duty:hunter2@mail.example.edu/?to=a@b"
    detail = scrub(f"could not reach {url}: auth duty:hunter2 refused " + "x" * 500, [url])
    assert "hunter2" not in detail and len(detail) <= 300
    assert "0123456789abcdef" not in scrub("bad key 0123456789abcdef", ["wecombot://0123456789abcdef"])

