"""Tap decisions: check in, check out, bookings, attendance, full, unknown cards — no broker, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kiosk.config import StationConfig, merge
from kiosk.controller import Stay, TapController
from onestop.errors import ConfigError
from onestop.events import new_event

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
A, B, C = "922E5832", "62E3086CED", "0000472288"


def controller(**config) -> TapController:
    config.setdefault("space", "study-24h-2f")
    return TapController(config["space"], config.get("capacity"), config=StationConfig(**config))


def booking(card: str, start: datetime, hours: float = 2, space: str = "study-24h-2f", rid: str = "r-1") -> dict:
    return {"id": rid, "space": space, "card": card, "start": start.isoformat(),
            "end": (start + timedelta(hours=hours)).isoformat()}


def test_first_tap_checks_in_and_second_checks_out():
    c = controller()
    first = c.tap(A, NOW)
    assert (first.feedback, first.event_type) == ("welcome", "checkin")
    assert first.data == {"space": "study-24h-2f", "card": A, "via": "tap", "reservation": None}
    assert A in c.inside and first.positive
    second = c.tap(A, NOW + timedelta(minutes=30))
    assert (second.feedback, second.event_type, second.data["card"]) == ("goodbye", "checkout", A)
    assert A not in c.inside


def test_decisions_make_valid_events():
    c = controller()
    for card in (A, B, A):
        decision = c.tap(card, NOW)
        new_event("kiosk-test-a", 1, decision.event_type, decision.data)  # raises if the contract is broken


@pytest.mark.parametrize("card", ["", "92-2E", "922e5832", "ABC", "X" * 8, "0" * 33])
def test_something_that_is_not_a_card_id_is_an_unknown_card(card):
    c = controller()
    decision = c.tap(card, NOW)
    assert decision.feedback == "unknown-card" and decision.event_type is None and not decision.positive
    assert not c.inside


def test_a_full_space_refuses_check_in_but_lets_people_out():
    c = controller(capacity=2)
    c.tap(A, NOW)
    c.tap(B, NOW)
    full = c.tap(C, NOW)
    assert (full.feedback, full.event_type) == ("full", None)
    assert C not in c.inside
    assert c.tap(A, NOW).feedback == "goodbye"
    assert c.tap(C, NOW).feedback == "welcome"


def test_the_gateways_live_count_decides_full_when_it_is_higher():
    c = controller(capacity=10)
    c.occupancy_update(10)  # other kiosks of the space filled it
    assert c.tap(A, NOW).feedback == "full"
    c.occupancy_update(9)
    assert c.tap(A, NOW).feedback == "welcome"
    assert c.count == 10  # the local estimate follows our own check-in until the gateway speaks again


def test_a_current_booking_is_claimed_even_when_the_space_is_full():
    c = controller(capacity=1, reservations=[booking(B, NOW - timedelta(minutes=10))])
    c.tap(A, NOW)
    decision = c.tap(B, NOW)
    assert (decision.feedback, decision.event_type, decision.data["reservation"]) == ("reservation", "checkin", "r-1")
    assert decision.until == NOW + timedelta(hours=2) - timedelta(minutes=10)
    out = c.tap(B, NOW + timedelta(hours=1))
    assert (out.feedback, out.data["reservation"]) == ("goodbye", "r-1")  # checkout names the booking too


def test_a_booking_can_be_claimed_a_little_early_but_not_after_it_ends():
    bookings = [booking(A, NOW + timedelta(minutes=10))]
    assert controller(reservations=bookings).tap(A, NOW).feedback == "reservation"
    assert controller(reservations=bookings, reservation_early_min=5).tap(A, NOW).feedback == "welcome"
    late = NOW + timedelta(hours=3)
    assert controller(reservations=bookings).tap(A, late).feedback == "welcome"


def test_bookings_for_other_cards_or_spaces_do_not_count():
    bookings = [booking(B, NOW), booking(A, NOW, space="skills-lab-1", rid="r-2")]
    assert controller(reservations=bookings).tap(A, NOW).feedback == "welcome"


def test_a_bookings_only_space_turns_away_cards_without_one():
    c = controller(reservations_only=True, reservations=[booking(A, NOW)])
    assert c.tap(B, NOW).feedback == "reservation-required"
    assert c.tap(A, NOW).feedback == "reservation"
    assert c.tap(A, NOW).feedback == "goodbye"


def test_attendance_mode_registers_each_card_once_per_activity():
    c = controller(activity="yoga-tuesday", activity_name="Yoga")
    first = c.tap(A, NOW)
    assert (first.feedback, first.event_type, first.data) == ("attendance", "attendance",
                                                              {"activity": "yoga-tuesday", "card": A})
    again = c.tap(A, NOW)
    assert (again.feedback, again.event_type) == ("already-registered", None) and again.positive
    assert not c.inside  # attendance is not presence
    c.configure(StationConfig(space="study-24h-2f", activity="first-aid-course"))
    assert c.tap(A, NOW).feedback == "attendance"  # a new activity starts a new list


def test_attendance_with_a_roster_refuses_cards_not_on_it():
    c = controller(activity="first-aid-course", roster=[A])
    assert c.tap(B, NOW).feedback == "unknown-card"
    assert c.tap(A, NOW).feedback == "attendance"


def test_a_stay_older_than_the_limit_is_forgotten_so_the_next_tap_checks_in():
    c = controller(max_stay_h=12)
    c.inside[A] = Stay(NOW - timedelta(hours=13))
    c.inside[B] = Stay(NOW - timedelta(hours=1))
    assert c.stale_cards(NOW) == [A]
    assert c.tap(A, NOW).feedback == "welcome"
    assert c.tap(B, NOW).feedback == "goodbye"


def test_changing_space_forgets_the_old_live_count():
    c = controller(capacity=5)
    c.occupancy_update(5)
    c.configure(StationConfig(space="skills-lab-1", capacity=5))
    assert c.space == "skills-lab-1" and c.remote_count is None
    assert c.tap(A, NOW).data["space"] == "skills-lab-1"


# -- the cfg topic -------------------------------------------------------------------------------------
BASE = StationConfig(space="study-24h-2f", capacity=40, display_name="Study room")


def test_cfg_keys_replace_local_settings_and_unknown_keys_are_ignored():
    config = merge(BASE, {"device": "kiosk-test-a", "mode": "kiosk", "space": "skills-lab-1", "capacity": 24,
                          "display_name": "Skills lab", "display_name_zh": "技能实验室", "future_key": 1})
    assert (config.space, config.capacity, config.name("en"), config.name("zh")) == (
        "skills-lab-1", 24, "Skills lab", "技能实验室")


def test_cfg_is_applied_to_the_local_base_not_to_the_previous_cfg():
    merge(BASE, {"capacity": 5, "activity": "yoga"})
    assert merge(BASE, {"display_name": "Study"}) == BASE.model_copy(update={"display_name": "Study"})


def test_cfg_thresholds_override_only_what_they_name():
    config = merge(BASE, {"thresholds": {"fever_c": 37.8}})
    assert config.thresholds.fever_c == 37.8 and config.thresholds.spo2_urgent_max == 92


def test_naive_booking_times_are_taken_as_utc():
    config = merge(BASE, {"reservations": [{"id": "r", "space": "study-24h-2f", "card": A,
                                             "start": "2026-11-23T08:30:00", "end": "2026-11-23T10:00:00"}]})
    assert config.reservation_for(A, NOW).id == "r"


def test_an_invalid_cfg_is_refused_whole_without_card_numbers_in_the_message():
    with pytest.raises(ConfigError) as info:
        merge(BASE, {"capacity": -1, "roster": ["not-a-card", A], "thresholds": {"bp_stage2_systolic": 100}})
    text = str(info.value)
    assert "capacity" in text and "roster" in text and "thresholds" in text
    assert A not in text and "not-a-card" not in text


def test_names_fall_back_to_english_then_to_the_id():
    assert StationConfig(space="study-24h-2f").name("zh") == "study-24h-2f"
    assert StationConfig(space="s", activity="yoga").name("en") == "yoga"
    assert StationConfig(space="s", activity="yoga", activity_name="Yoga").name("zh") == "Yoga"


def test_deciding_changes_nothing_until_the_decision_is_applied():
    c = controller(capacity=1)
    decision = c.decide(A, NOW)
    assert decision.feedback == "welcome" and c.inside == {}
    assert c.decide(B, NOW).feedback == "welcome"  # nobody is inside yet, so there is still room
    c.apply(decision, NOW)
    assert set(c.inside) == {A} and c.decide(B, NOW).feedback == "full"


def test_a_request_draft_expires_so_the_next_students_tap_is_not_attached_to_it():
    from kiosk.controller import REQUEST_WAIT_S, RequestDraft, request_decision

    draft = RequestDraft("climate", since=100.0)
    assert not draft.expired(100.0 + REQUEST_WAIT_S) and draft.expired(100.0 + REQUEST_WAIT_S + 0.1)
    sent = request_decision(draft, "study-24h-2f", "922E5832")
    assert (sent.feedback, sent.event_type, sent.data) == (
        "request-sent", "request", {"category": "climate", "space": "study-24h-2f", "card": "922E5832", "note": None})
    assert request_decision(draft, "study-24h-2f", None).data["card"] is None
    assert request_decision(draft, "study-24h-2f", "not a card").event_type is None
