"""Kiosk directions and the gateway's presence: an entrance never checks out, an exit never checks in, and
every kiosk of a space decides from the space's presence with its own later taps laid over it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kiosk.config import StationConfig, merge
from kiosk.controller import Authority, TapController
from onestop import presence as tags
from onestop.errors import ConfigError

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
A, B = "922E5832", "62E3086CED"
KEY = bytes(range(32))


def controller(direction: str = "toggle", **config) -> TapController:
    config.setdefault("space", "study-24h-2f")
    return TapController(config["space"], config.get("capacity"),
                         config=StationConfig(direction=direction, **config))  # type: ignore[arg-type]


def authority(*cards: str, upto: int = 0, ts: datetime = NOW, truncated: bool = False) -> Authority:
    return Authority(KEY, frozenset(tags.tag(KEY, c) for c in cards), upto, ts, truncated)


def test_an_entrance_kiosk_says_already_checked_in_and_records_nothing():
    c = controller("in")
    first = c.tap(A, NOW)
    assert (first.feedback, first.event_type) == ("welcome", "checkin")
    again = c.tap(A, NOW + timedelta(minutes=5))
    assert (again.feedback, again.event_type, again.data) == ("already-in", None, None)
    assert again.positive and A in c.inside


def test_an_exit_kiosk_checks_out_but_never_checks_in():
    c = controller("out")
    stranger = c.tap(A, NOW)
    assert (stranger.feedback, stranger.event_type) == ("not-inside", None) and not stranger.positive
    assert A not in c.inside
    c.set_authority(authority(A))
    leaving = c.tap(A, NOW)
    assert (leaving.feedback, leaving.event_type, leaving.data["card"]) == ("goodbye", "checkout", A)


def test_an_exit_kiosk_with_a_booking_still_does_not_check_in():
    booking = {"id": "r-1", "space": "study-24h-2f", "card": A, "start": NOW.isoformat(),
               "end": (NOW + timedelta(hours=2)).isoformat()}
    c = controller("out", reservations=[booking])
    assert c.tap(A, NOW).feedback == "not-inside"


def test_a_toggle_kiosk_checks_out_a_card_checked_in_at_another_kiosk_of_the_space():
    c = controller()
    c.set_authority(authority(A))  # kiosk B's check-in, as the gateway publishes it
    decision = c.tap(A, NOW)
    assert (decision.feedback, decision.event_type) == ("goodbye", "checkout")


def test_a_card_checked_out_elsewhere_is_welcomed_not_said_goodbye_to():
    c = controller()
    c.apply(c.decide(A, NOW), NOW, seq=1)
    c.set_authority(authority(upto=1))  # the copy includes our check-in (seq 1) and a check-out elsewhere
    assert A not in c.inside  # forgotten locally too
    assert c.decide(A, NOW).feedback == "welcome"


def test_own_taps_the_copy_does_not_include_yet_are_laid_over_it():
    c = controller()
    c.set_authority(authority(A, upto=3))
    c.apply(c.decide(A, NOW), NOW, seq=4)  # checked out here, offline: the copy still lists A
    assert not c.is_inside(A, NOW)
    c.apply(c.decide(B, NOW), NOW, seq=5)
    assert c.is_inside(B, NOW)
    c.set_authority(authority(B, upto=5))  # the gateway caught up
    assert [t.seq for t in c.own] == [] and c.is_inside(B, NOW) and not c.is_inside(A, NOW)


def test_a_copy_older_than_the_maximum_stay_no_longer_decides():
    c = controller(max_stay_h=2)
    c.set_authority(authority(A, ts=NOW - timedelta(hours=3)))
    assert c.decide(A, NOW).feedback == "welcome"


def test_a_truncated_copy_leaves_cards_it_does_not_list_to_local_knowledge():
    c = controller()
    c.apply(c.decide(A, NOW), NOW)
    assert c.set_authority(authority(B, truncated=True)) == []
    assert c.is_inside(A, NOW) and c.is_inside(B, NOW)


def test_attendance_ignores_the_direction():
    c = controller("out", activity="cpr-course")
    assert c.tap(A, NOW).feedback == "attendance"


def test_direction_comes_from_cfg_when_the_gateway_names_one():
    base = StationConfig(space="study-24h-2f", direction="in")
    assert merge(base, {"space": "study-24h-2f"}).direction == "in"
    assert merge(base, {"direction": "out"}).direction == "out"
    with pytest.raises(ConfigError):
        merge(base, {"direction": "sideways"})
