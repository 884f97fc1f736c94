"""The health-station session state machine: identify, consent, measure, questionnaires, results, privacy time-out."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest

from kiosk.health import KEYPAD, HealthSession
from kiosk.questionnaires import ITEM_COUNT, wording
from onestop.clinical import ScreeningInputError, Thresholds
from onestop.events import Measurement, new_event

A, B = "922E5832", "62E3086CED"


def session(**kw) -> HealthSession:
    ids = (f"00000000-0000-7000-8000-{n:012d}" for n in itertools.count(1))
    return HealthSession(Thresholds(), idle_timeout_s=120, results_timeout_s=60, new_id=lambda: next(ids), **kw)


AGREED = datetime(2026, 12, 7, 9, 30, 0, 123000, tzinfo=UTC)


def start(s: HealthSession, card: str, now: float) -> None:
    """Tap and agree to the consent text: the session is measuring."""
    s.identify(card, now)
    s.accept("health-2026-12", AGREED, now)


def m(code: str, value: float, unit: str, model: str = "sim") -> Measurement:
    return Measurement(code=code, value=value, unit=unit, device_model=model)


BP = [m("8480-6", 128, "mm[Hg]"), m("8462-4", 82, "mm[Hg]"), m("8867-4", 72, "/min")]
OXIMETER = [m("59408-5", 97, "%"), m("8867-4", 70, "/min")]


def test_a_card_opens_a_session_and_readings_fill_it():
    s = session()
    assert s.identify(A, 0) is None
    assert (s.phase, s.subject) == ("consent", A)
    s.accept("health-2026-12", AGREED, 0)
    assert s.phase == "measuring"
    for reading in BP + OXIMETER:
        assert s.measure(reading, 1)
    assert s.value("8480-6") == 128 and s.value("8867-4") == 70  # the latest pulse wins


def test_readings_without_a_session_are_ignored():
    s = session()
    assert not s.measure(BP[0], 0)
    assert s.phase == "idle" and not s.measurements


def test_a_complete_session_is_recorded_when_the_results_appear():
    s = session()
    start(s, A, 0)
    for reading in BP:
        s.measure(reading, 5)
    record = s.finish(10)
    assert s.phase == "results"
    assert record.complete and record.subject == A and record.session == "00000000-0000-7000-8000-000000000001"
    assert [x.code for x in record.measurements] == ["8480-6", "8462-4", "8867-4"]
    new_event("health-test-1", 1, "screening", record)  # valid against the contract
    assert not s.measure(OXIMETER[0], 11)  # results are final
    s.done(12)
    assert s.phase == "idle" and s.subject is None and not s.measurements


def test_finish_with_nothing_measured_records_nothing():
    s = session()
    start(s, A, 0)
    assert s.finish(1) is None and s.phase == "measuring"


def test_weight_and_typed_height_give_a_bmi():
    s = session()
    start(s, A, 0)
    s.measure(m("29463-7", 75.5, "kg", "A&D"), 1)
    s.enter_height(180, 2)
    assert s.value("39156-5") == 23.3
    assert s.measurements["8302-2"].device_model == KEYPAD
    bmi = [r for r in s.results() if r.measure == "bmi"][0]
    assert bmi.category == "normal" and [x.code for x in bmi.readings] == ["39156-5", "29463-7", "8302-2"]
    s.measure(m("29463-7", 100, "kg"), 3)
    assert s.value("39156-5") == 30.9


@pytest.mark.parametrize("height", [0, 49, 251])
def test_an_impossible_height_is_refused(height):
    s = session()
    start(s, A, 0)
    with pytest.raises(ScreeningInputError):
        s.enter_height(height, 1)


def answer_all(s: HealthSession, instrument: str, answers: list[int], now: float = 5) -> None:
    s.begin(instrument, now)
    for value in answers:
        assert s.phase == "questionnaire"
        s.answer(value, now)


def test_questionnaires_are_answered_item_by_item_and_scored():
    s = session()
    start(s, A, 0)
    s.begin("PHQ-9", 1)
    assert (s.phase, s.instrument, s.item) == ("questionnaire", "PHQ-9", 0)
    s.answer(2, 2)
    s.answer(3, 3)
    s.back(4)
    assert s.answers == [2]
    for _ in range(8):
        s.answer(1, 5)
    assert s.phase == "measuring" and s.instrument is None
    assert s.questionnaires["PHQ-9"].score == 10 and s.questionnaires["PHQ-9"].answers == [2] + [1] * 8
    answer_all(s, "GAD-7", [0] * 7)
    record = s.finish(9)
    assert [(q.instrument, q.score) for q in record.questionnaires] == [("PHQ-9", 10), ("GAD-7", 0)]
    assert [(r.measure, r.category, r.score) for r in s.results()] == [("phq9", "moderate", 10),
                                                                        ("gad7", "minimal", 0)]


def test_back_from_the_first_item_leaves_the_questionnaire_and_drops_it():
    s = session()
    start(s, A, 0)
    s.begin("GAD-7", 1)
    s.answer(1, 1)
    s.back(2)
    s.back(3)
    assert s.phase == "measuring" and "GAD-7" not in s.questionnaires


def test_answers_out_of_range_are_refused():
    s = session()
    start(s, A, 0)
    s.begin("GAD-7", 1)
    with pytest.raises(ScreeningInputError):
        s.answer(4, 1)


def test_item9_positive_is_flagged_for_the_results_screen():
    s = session()
    start(s, A, 0)
    answer_all(s, "PHQ-9", [0] * 8 + [1])
    assert s.item9_positive
    s.finish(6)
    assert [(r.measure, r.category) for r in s.results()] == [("phq9", "minimal")]


def test_phq9_item9_above_zero_is_recorded_the_moment_it_is_answered():
    s = session()
    start(s, A, 0)
    s.begin("PHQ-9", 1)
    assert [s.answer(0, 2) for _ in range(8)] == [None] * 8
    interim = s.answer(2, 3)
    assert interim is not None and interim.complete is False and interim.session == s.session_id
    assert interim.questionnaires[0].answers[8] == 2
    assert s.finish(4).session == interim.session  # the complete record follows under the same session


def test_phq9_item9_at_zero_waits_for_the_results_as_before():
    s = session()
    start(s, A, 0)
    s.begin("PHQ-9", 1)
    assert [s.answer(value, 2) for value in [1] * 8 + [0]] == [None] * 9


def test_results_come_in_a_fixed_order_with_categories():
    s = session()
    start(s, A, 0)
    for reading in [m("8310-5", 38.2, "Cel"), *OXIMETER, m("8480-6", 185, "mm[Hg]"), m("8462-4", 95, "mm[Hg]")]:
        s.measure(reading, 1)
    assert [(r.measure, r.category) for r in s.results()] == [
        ("bp", "crisis"), ("heart_rate", "normal"), ("spo2", "normal"), ("temperature", "fever")]


def test_privacy_timeout_abandons_a_session_with_readings_as_incomplete():
    s = session()
    start(s, A, 0)
    s.measure(BP[0], 10)
    assert s.tick(129) is None and s.remaining(129) == 1
    record = s.tick(130)
    assert record is not None and not record.complete and record.subject == A
    assert s.phase == "idle" and s.subject is None and s.remaining(131) is None


def test_privacy_timeout_of_an_empty_session_records_nothing():
    s = session()
    start(s, A, 0)
    assert s.tick(120) is None and s.phase == "idle"


def test_any_touch_or_reading_restarts_the_privacy_timeout():
    s = session()
    start(s, A, 0)
    s.touch(100)
    assert s.tick(200) is None
    s.measure(BP[0], 210)
    assert s.tick(329) is None and s.phase == "measuring"


def test_a_half_answered_questionnaire_is_dropped_when_the_student_walks_away():
    s = session()
    start(s, A, 0)
    s.measure(OXIMETER[0], 1)
    s.begin("PHQ-9", 2)
    s.answer(3, 3)
    record = s.tick(123)
    assert not record.complete and record.questionnaires == [] and len(record.measurements) == 1


def test_results_clear_after_their_own_timeout_without_a_second_record():
    s = session()
    start(s, A, 0)
    s.measure(BP[0], 1)
    assert s.finish(2).complete
    assert s.tick(61) is None and s.phase == "results"
    assert s.tick(62) is None and s.phase == "idle"


def test_a_different_card_abandons_the_open_session_and_starts_a_new_one():
    s = session()
    start(s, A, 0)
    s.measure(BP[0], 1)
    abandoned = s.identify(B, 2)
    assert abandoned.subject == A and not abandoned.complete
    assert (s.subject, s.phase, s.measurements) == (B, "consent", {})
    assert s.session_id.endswith("2")


def test_the_same_card_again_keeps_the_session():
    s = session()
    start(s, A, 0)
    s.measure(BP[0], 1)
    assert s.identify(A, 50) is None
    assert s.value("8480-6") == 128 and s.remaining(50) == 120


def test_a_card_on_the_results_screen_starts_afresh_without_recording_again():
    s = session()
    start(s, A, 0)
    s.measure(BP[0], 1)
    s.finish(2)
    assert s.identify(B, 3) is None and s.subject == B


def test_cancel_records_what_was_measured_as_incomplete():
    s = session()
    start(s, A, 0)
    s.measure(BP[0], 1)
    record = s.cancel(2)
    assert not record.complete and s.phase == "idle"
    assert s.cancel(3) is None


def test_invalid_cards_cannot_open_a_session():
    with pytest.raises(ScreeningInputError):
        session().identify("nope", 0)


def test_zero_or_negative_readings_are_not_taken():
    s = session()
    start(s, A, 0)
    assert not s.measure(m("29463-7", 0.0, "kg"), 1)


@pytest.mark.parametrize(("instrument", "lang"), [(i, lang) for i in ITEM_COUNT for lang in ("en", "zh", "fr")])
def test_questionnaire_wording_has_every_item_and_four_options(instrument, lang):
    words = wording(instrument, lang)
    assert len(words.items) == ITEM_COUNT[instrument] and len(words.options) == 4
    assert all(item.strip() for item in words.items)


def test_phq9_item9_is_the_self_harm_item():
    assert "hurting yourself" in wording("PHQ-9").items[8]
    assert "伤害自己" in wording("PHQ-9", "zh").items[8]


def test_nothing_is_measured_before_the_student_consents():
    s = session()
    s.identify(A, 0)
    assert not s.measure(BP[0], 1)
    s.begin("PHQ-9", 1)
    assert s.phase == "consent" and s.finish(2) is None and not s.measurements


def test_declining_consent_records_nothing_and_clears_the_screen():
    s = session()
    s.identify(A, 0)
    s.decline(1)
    assert (s.phase, s.subject, s.session_id) == ("idle", None, None)
    assert not s.measure(BP[0], 2) and s.cancel(3) is None and s.tick(500) is None


def test_walking_away_from_the_consent_screen_records_nothing():
    s = session()
    s.identify(A, 0)
    assert s.tick(121) is None and s.phase == "idle"
    s.identify(A, 200)
    assert s.identify(B, 201) is None and (s.phase, s.subject) == ("consent", B)


def test_every_record_carries_the_consent_version_and_time():
    s = session()
    start(s, A, 0)
    s.begin("PHQ-9", 1)
    interim = None
    for answer in (0, 0, 0, 0, 0, 0, 0, 0, 1):
        interim = s.answer(answer, 2)
    s.measure(BP[0], 3)
    final = s.finish(4)
    for record in (interim, final):
        assert record.consent.version == "health-2026-12" and record.consent.at == AGREED
    event = json.loads(new_event("health-test-1", 1, "screening", final).to_json())
    assert event["data"]["consent"] == {"version": "health-2026-12", "at": "2026-12-07T09:30:00.123Z"}
