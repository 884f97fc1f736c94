"""Screening rules: category boundaries and the alert routing table (the student's words are tested in
tests/kiosk/test_guidance.py)."""

from __future__ import annotations

import re
import uuid
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from onestop.clinical import (
    BpCategory,
    Finding,
    ScreeningInputError,
    Thresholds,
    bmi,
    bmi_category,
    bp_category,
    gad7_band,
    heart_rate_category,
    phq9_band,
    screening_findings,
    spo2_category,
    temperature_category,
)
from onestop.events import Measurement, Questionnaire, ScreeningData

T = Thresholds()


@pytest.mark.parametrize(("systolic", "diastolic", "expected"), [
    (119, 79, "normal"),
    (120, 79, "elevated"),
    (129, 79, "elevated"),
    (130, 79, "stage-1"),
    (139, 70, "stage-1"),
    (119, 80, "stage-1"),       # diastolic alone lifts it: higher wins
    (125, 89, "stage-1"),       # elevated systolic, stage-1 diastolic
    (140, 70, "stage-2"),
    (110, 90, "stage-2"),
    (180, 119, "stage-2"),      # crisis is strictly above 180 / 120
    (181, 80, "crisis"),
    (120, 121, "crisis"),
    (200, 130, "crisis"),
])
def test_blood_pressure_categories_at_their_boundaries(systolic, diastolic, expected):
    assert bp_category(systolic, diastolic, T) == expected


_ORDER = list(get_args(BpCategory))


@given(st.integers(60, 260), st.integers(30, 160), st.integers(0, 40), st.integers(0, 40))
def test_blood_pressure_category_never_falls_when_either_pressure_rises(s, d, ds, dd):
    assert _ORDER.index(bp_category(s + ds, d + dd)) >= _ORDER.index(bp_category(s, d))


@given(st.integers(60, 260), st.integers(30, 160))
def test_blood_pressure_category_is_the_higher_of_the_two(s, d):
    alone_s, alone_d = bp_category(s, 0), bp_category(0, d)
    assert bp_category(s, d) == max(alone_s, alone_d, key=_ORDER.index)


@pytest.mark.parametrize(("value", "expected"), [
    (100, "normal"), (95, "normal"), (94, "low"), (93, "low"), (92.5, "low"), (92, "very-low"), (80, "very-low"),
])
def test_spo2_categories(value, expected):
    assert spo2_category(value, T) == expected


@pytest.mark.parametrize(("value", "expected"), [(36.8, "normal"), (37.99, "normal"), (38.0, "fever"), (39.5, "fever")])
def test_temperature_fever_starts_at_38(value, expected):
    assert temperature_category(value, T) == expected


def test_a_service_may_use_the_lower_fever_threshold():
    assert temperature_category(37.9, Thresholds(fever_c=37.8)) == "fever"


@pytest.mark.parametrize(("value", "expected"), [(45, "low"), (59, "low"), (60, "normal"), (100, "normal"),
                                                 (101, "high")])
def test_heart_rate_categories(value, expected):
    assert heart_rate_category(value, T) == expected


def test_bmi_is_weight_over_height_squared():
    assert bmi(75.5, 180) == pytest.approx(23.30, abs=0.01)
    assert bmi(50, 100) == pytest.approx(50.0)


@pytest.mark.parametrize(("weight", "height"), [(0, 170), (70, 0), (-1, 170), (70, -170)])
def test_bmi_refuses_impossible_inputs(weight, height):
    with pytest.raises(ScreeningInputError):
        bmi(weight, height)


@pytest.mark.parametrize(("value", "expected"), [(18.4, "under"), (18.5, "normal"), (24.9, "normal"),
                                                 (25.0, "over"), (29.9, "over"), (30.0, "obese")])
def test_bmi_bands(value, expected):
    assert bmi_category(value, T) == expected


@pytest.mark.parametrize(("score", "expected"), [
    (0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
    (15, "moderately-severe"), (19, "moderately-severe"), (20, "severe"), (27, "severe"),
])
def test_phq9_bands(score, expected):
    assert phq9_band(score, T) == expected


@pytest.mark.parametrize(("score", "expected"), [
    (0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
    (15, "severe"), (21, "severe"),
])
def test_gad7_bands(score, expected):
    assert gad7_band(score, T) == expected


@pytest.mark.parametrize(("band", "score"), [(phq9_band, -1), (phq9_band, 28), (gad7_band, 22), (gad7_band, -1)])
def test_scores_out_of_range_are_refused(band, score):
    with pytest.raises(ScreeningInputError):
        band(score)


def test_thresholds_must_increase_within_a_band():
    with pytest.raises(ValidationError, match="systolic"):
        Thresholds(bp_stage2_systolic=125)
    with pytest.raises(ValidationError, match="spo2"):
        Thresholds(spo2_urgent_max=96)
    with pytest.raises(ValidationError):
        Thresholds(unknown=1)


# -- findings ------------------------------------------------------------------------------------------
def _m(code: str, value: float, unit: str) -> Measurement:
    return Measurement(code=code, value=value, unit=unit, device_model="test")


def bp(s: float, d: float) -> list[Measurement]:
    return [_m("8480-6", s, "mm[Hg]"), _m("8462-4", d, "mm[Hg]")]


def phq9(answers: list[int]) -> Questionnaire:
    return Questionnaire(instrument="PHQ-9", answers=answers, score=sum(answers))


def gad7(answers: list[int]) -> Questionnaire:
    return Questionnaire(instrument="GAD-7", answers=answers, score=sum(answers))


def screening(measurements=(), questionnaires=()) -> ScreeningData:
    return ScreeningData(subject="922E5832", session=str(uuid.uuid4()), complete=True,
                         measurements=list(measurements), questionnaires=list(questionnaires))


def rules(data: ScreeningData, t: Thresholds = T) -> list[tuple[str, str, str]]:
    return [(f.rule, f.severity, f.team) for f in screening_findings(data, t)]


def test_a_healthy_screening_has_no_findings():
    data = screening([*bp(118, 76), _m("59408-5", 98, "%"), _m("8310-5", 36.7, "Cel"), _m("8867-4", 70, "/min")],
                     [phq9([0] * 9), gad7([1] * 7)])
    assert screening_findings(data, T) == []


def test_phq9_item9_is_urgent_for_counselling_whatever_the_total():
    assert rules(screening(questionnaires=[phq9([0] * 8 + [1])])) == [("phq9-item9", "urgent", "counselling")]


def test_blood_pressure_crisis_is_urgent_for_the_clinic_and_replaces_stage_2():
    assert rules(screening(bp(185, 95))) == [("bp-crisis", "urgent", "clinic")]
    assert rules(screening(bp(150, 85))) == [("bp-stage-2", "follow-up", "clinic")]
    assert rules(screening(bp(135, 85))) == []


def test_spo2_at_92_is_urgent_and_93_is_only_advice():
    assert rules(screening([_m("59408-5", 92, "%")])) == [("spo2-low", "urgent", "clinic")]
    assert rules(screening([_m("2708-6", 93, "%")])) == [("spo2-borderline", "notice", "clinic")]


def test_fever_is_a_clinic_follow_up_also_when_measured_in_fahrenheit():
    assert rules(screening([_m("8310-5", 38.0, "Cel")])) == [("fever", "follow-up", "clinic")]
    assert rules(screening([_m("8310-5", 100.4, "[degF]")])) == [("fever", "follow-up", "clinic")]
    assert rules(screening([_m("8310-5", 37.9, "Cel")])) == []


def test_questionnaire_totals_route_to_counselling():
    assert rules(screening(questionnaires=[phq9([2] * 7 + [1, 0])])) == [("phq9-high", "follow-up", "counselling")]
    assert rules(screening(questionnaires=[phq9([2] * 7 + [0, 0])])) == []  # 14: moderate, no alert
    assert rules(screening(questionnaires=[gad7([3, 3, 3, 3, 3, 0, 0])])) == [("gad7-high", "follow-up", "counselling")]
    assert rules(screening(questionnaires=[gad7([2, 2, 2, 2, 2, 0, 0])])) == [
        ("gad7-evaluation", "notice", "counselling")]


def test_findings_come_most_severe_first_and_each_rule_once():
    data = screening([*bp(150, 80), *bp(190, 100), _m("8310-5", 38.5, "Cel"), _m("59408-5", 94, "%")],
                     [phq9([3] * 9), gad7([3] * 7)])
    found = rules(data)
    assert [severity for _, severity, _ in found] == sorted((s for _, s, _ in found),
                                                            key=["urgent", "follow-up", "notice"].index)
    assert [r for r, _, _ in found] == ["phq9-item9", "bp-crisis", "phq9-high", "gad7-high", "fever",
                                        "spo2-borderline"]


def test_the_worst_of_repeated_readings_counts():
    assert rules(screening([*bp(120, 70), *bp(185, 70)])) == [("bp-crisis", "urgent", "clinic")]


def test_kpa_blood_pressure_is_converted_and_unknown_units_are_not_judged():
    assert rules(screening([_m("8480-6", 25.0, "kPa"), _m("8462-4", 10.0, "kPa")])) == [
        ("bp-crisis", "urgent", "clinic")]  # 187.5 / 75 mm[Hg]
    assert rules(screening([_m("8310-5", 311.0, "K")])) == []


def test_thresholds_are_configuration():
    strict = Thresholds(phq9_follow_up=10, spo2_urgent_max=93, spo2_normal_min=96)
    assert rules(screening([_m("59408-5", 93, "%")], [phq9([2] * 5 + [0] * 4)]), strict) == [
        ("spo2-low", "urgent", "clinic"), ("phq9-high", "follow-up", "counselling")]


def test_summaries_never_carry_values_or_answers():
    data = screening([*bp(181, 121), _m("59408-5", 88, "%"), _m("8310-5", 39.2, "Cel")],
                     [phq9([3] * 9), gad7([3] * 7)])
    findings = screening_findings(data, T)
    assert len(findings) == 6
    for finding in findings:
        assert isinstance(finding, Finding)
        assert not re.search(r"\d{2,}", finding.summary), finding.summary
        assert "922E5832" not in finding.summary


def test_findings_are_frozen_values():
    finding = screening_findings(screening(bp(190, 80)))[0]
    with pytest.raises(AttributeError):
        finding.rule = "other"  # type: ignore[misc]
    assert finding == Finding("bp-crisis", "urgent", "clinic", "Blood pressure in the crisis range")


def test_every_finding_is_stated_in_the_alert_vocabulary_and_advice_alerts_no_one():
    """One severity vocabulary: a finding's severity and team are ones an alert record accepts as they are;
    the advice-only findings (``notice``) are the ones the gateway leaves unalerted."""
    from gateway.alerts import screening_alerts
    from onestop.events import new_event
    from onestop.records import AlertRecord

    data = screening([*bp(190, 100), _m("8310-5", 38.5, "Cel"), _m("59408-5", 94, "%")],
                     [phq9([3] * 9), gad7([2, 2, 2, 2, 2, 0, 0])])
    found = screening_findings(data)
    for f in found:
        AlertRecord(id=str(uuid.uuid4()), site="s1", rule=f.rule, severity=f.severity, team=f.team,
                    summary=f.summary, raised_at="2026-11-23T09:00:00Z", updated_at="2026-11-23T09:00:00Z")
    event = new_event("hs-lobby", 1, "screening", data.model_dump(mode="json"))
    alerted = {a.rule for a in screening_alerts("s1", event, T, event.ts)}
    assert alerted == {f.rule for f in found if f.severity != "notice"}
    assert {"spo2-borderline", "gad7-evaluation"} <= {f.rule for f in found} - alerted
