"""Screening rules, pure: thresholds, categories and findings for staff.

Shared by the health station (what the student sees) and the gateway's alert engine (who is told), so both
judge a reading the same way. A station *screens*; it never diagnoses: categories come with plain guidance
for the student (``kiosk.guidance``: "see the campus clinic within a week"), and the numbers below are
configuration with the defaults of ``shared/reference/CLINICAL.md`` (ACC/AHA 2017 blood pressure, NHS pulse
oximetry, WHO BMI, PHQ-9, GAD-7).

Boundaries are inclusive where the reference says "≥" and exclusive where it says ">": a reading of exactly
140 mm[Hg] systolic is stage 2; exactly 180 is stage 2, 181 is crisis; SpO2 of exactly 92 % is urgent.

``Finding.summary`` never contains a measured value or an answer: it may appear on staff displays and in logs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from onestop.errors import OnestopError
from onestop.events import Measurement, Questionnaire, ScreeningData
from onestop.records import SEVERITY_ORDER, HealthTeam, Severity
from onestop.settings import Section

# LOINC codes of every quantity the system measures (CLINICAL.md, "Codes for interoperability"): stated
# here once; parsers, screens, rules and the FHIR export name them by these constants.
SYSTOLIC = "8480-6"
DIASTOLIC = "8462-4"
BP_PANEL = "85354-9"  # the FHIR panel that groups systolic and diastolic
SPO2 = "59408-5"  # by pulse oximetry: what every oximeter reports
SPO2_ARTERIAL = "2708-6"  # the general code, which other producers may send
SPO2_CODES = frozenset({SPO2, SPO2_ARTERIAL})
BODY_TEMPERATURE = "8310-5"
HEART_RATE = "8867-4"
BODY_WEIGHT = "29463-7"
BODY_HEIGHT = "8302-2"
BMI = "39156-5"
PHQ9_TOTAL = "44249-1"  # PHQ-9 total score [Reported]
GAD7_TOTAL = "69737-5"  # GAD-7 total score [Reported]
# The UCUM unit each travels in on the wire (the contract's units; parsers convert to them).
UNITS: dict[str, str] = {SYSTOLIC: "mm[Hg]", DIASTOLIC: "mm[Hg]", SPO2: "%", SPO2_ARTERIAL: "%",
                         BODY_TEMPERATURE: "Cel", HEART_RATE: "/min", BODY_WEIGHT: "kg", BODY_HEIGHT: "cm",
                         BMI: "kg/m2"}

BpCategory = Literal["normal", "elevated", "stage-1", "stage-2", "crisis"]
Spo2Category = Literal["normal", "low", "very-low"]
TemperatureCategory = Literal["normal", "fever"]
HeartRateCategory = Literal["low", "normal", "high"]
BmiCategory = Literal["under", "normal", "over", "obese"]
Phq9Band = Literal["minimal", "mild", "moderate", "moderately-severe", "severe"]
Gad7Band = Literal["minimal", "mild", "moderate", "severe"]

_BP_ORDER: tuple[BpCategory, ...] = ("normal", "elevated", "stage-1", "stage-2", "crisis")
# Findings staff are alerted to; a ``notice`` finding is advice the student already saw on the screen.
STAFF_ALERTED: frozenset[Severity] = frozenset({"urgent", "follow-up"})
_MMHG_PER_KPA = 7.50062


class ScreeningInputError(OnestopError, ValueError):
    """A value no rule can judge (a height of zero, a questionnaire score out of range): reject it."""


class Thresholds(Section):
    """Screening thresholds (CLINICAL.md defaults); a gateway or station may override any of them."""

    bp_elevated_systolic: float = Field(120, description="systolic ≥ this (diastolic < stage 1) = elevated")
    bp_stage1_systolic: float = Field(130, description="systolic ≥ this = stage 1")
    bp_stage1_diastolic: float = Field(80, description="diastolic ≥ this = stage 1")
    bp_stage2_systolic: float = Field(140, description="systolic ≥ this = stage 2 (follow-up)")
    bp_stage2_diastolic: float = Field(90, description="diastolic ≥ this = stage 2 (follow-up)")
    bp_crisis_systolic: float = Field(180, description="systolic above this = crisis (urgent)")
    bp_crisis_diastolic: float = Field(120, description="diastolic above this = crisis (urgent)")
    spo2_normal_min: float = Field(95, description="SpO2 % at or above this is normal; below: advise clinic")
    spo2_urgent_max: float = Field(92, description="SpO2 % at or below this is urgent")
    fever_c: float = Field(38.0, description="body temperature °C at or above this is a fever (follow-up)")
    heart_rate_low: float = Field(60, description="resting pulse /min below this is low (fine in athletes)")
    heart_rate_high: float = Field(100, description="resting pulse /min above this is high")
    bmi_normal_min: float = Field(18.5, description="BMI below this is underweight")
    bmi_over_min: float = Field(25.0, description="BMI at or above this is overweight")
    bmi_obese_min: float = Field(30.0, description="BMI at or above this is obese")
    phq9_mild: int = Field(5, ge=0, le=27)
    phq9_moderate: int = Field(10, ge=0, le=27)
    phq9_moderately_severe: int = Field(15, ge=0, le=27)
    phq9_severe: int = Field(20, ge=0, le=27)
    phq9_follow_up: int = Field(15, ge=0, le=27, description="PHQ-9 total ≥ this → counselling follow-up")
    gad7_mild: int = Field(5, ge=0, le=21)
    gad7_moderate: int = Field(10, ge=0, le=21)
    gad7_severe: int = Field(15, ge=0, le=21)
    gad7_evaluation: int = Field(10, ge=0, le=21, description="GAD-7 total ≥ this → suggest evaluation")
    gad7_follow_up: int = Field(15, ge=0, le=21, description="GAD-7 total ≥ this → counselling follow-up")

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        chains = {
            "systolic": (self.bp_elevated_systolic, self.bp_stage1_systolic, self.bp_stage2_systolic,
                         self.bp_crisis_systolic),
            "diastolic": (self.bp_stage1_diastolic, self.bp_stage2_diastolic, self.bp_crisis_diastolic),
            "spo2": (self.spo2_urgent_max, self.spo2_normal_min),
            "heart rate": (self.heart_rate_low, self.heart_rate_high),
            "bmi": (self.bmi_normal_min, self.bmi_over_min, self.bmi_obese_min),
            "phq9": (self.phq9_mild, self.phq9_moderate, self.phq9_moderately_severe, self.phq9_severe),
            "gad7": (self.gad7_mild, self.gad7_moderate, self.gad7_severe),
        }
        bad = [name for name, chain in chains.items()
               if any(a >= b for a, b in zip(chain, chain[1:], strict=False))]
        if bad:
            raise ValueError(f"thresholds must increase within each band: {', '.join(bad)}")
        return self


def _t(t: Thresholds | None) -> Thresholds:
    return t if t is not None else Thresholds()


# -- categories ----------------------------------------------------------------------------------------
def bp_category(systolic: float, diastolic: float, t: Thresholds | None = None) -> BpCategory:
    """ACC/AHA category; when systolic and diastolic fall in different categories, the higher wins."""
    t = _t(t)
    if systolic > t.bp_crisis_systolic:
        by_systolic: BpCategory = "crisis"
    elif systolic >= t.bp_stage2_systolic:
        by_systolic = "stage-2"
    elif systolic >= t.bp_stage1_systolic:
        by_systolic = "stage-1"
    elif systolic >= t.bp_elevated_systolic:
        by_systolic = "elevated"
    else:
        by_systolic = "normal"
    if diastolic > t.bp_crisis_diastolic:
        by_diastolic: BpCategory = "crisis"
    elif diastolic >= t.bp_stage2_diastolic:
        by_diastolic = "stage-2"
    elif diastolic >= t.bp_stage1_diastolic:
        by_diastolic = "stage-1"
    else:
        by_diastolic = "normal"  # "elevated" is defined by systolic alone (with diastolic < 80)
    return max(by_systolic, by_diastolic, key=_BP_ORDER.index)


def spo2_category(spo2: float, t: Thresholds | None = None) -> Spo2Category:
    """``normal``; ``low`` (advise contacting the clinic); ``very-low`` (urgent)."""
    t = _t(t)
    if spo2 <= t.spo2_urgent_max:
        return "very-low"
    return "low" if spo2 < t.spo2_normal_min else "normal"


def temperature_category(celsius: float, t: Thresholds | None = None) -> TemperatureCategory:
    """``fever`` at or above the fever threshold, else ``normal``."""
    return "fever" if celsius >= _t(t).fever_c else "normal"


def heart_rate_category(per_minute: float, t: Thresholds | None = None) -> HeartRateCategory:
    """Resting heart rate against the typical range (low is common, and fine, in athletes)."""
    t = _t(t)
    if per_minute < t.heart_rate_low:
        return "low"
    return "high" if per_minute > t.heart_rate_high else "normal"


def bmi(weight_kg: float, height_cm: float) -> float:
    """Body-mass index in kg/m2 (unrounded); raises ``ScreeningInputError`` for impossible inputs."""
    if not (weight_kg > 0 and height_cm > 0):
        raise ScreeningInputError("weight and height must be positive")
    metres = height_cm / 100
    return weight_kg / (metres * metres)


def bmi_category(value: float, t: Thresholds | None = None) -> BmiCategory:
    """WHO adult bands."""
    t = _t(t)
    if value < t.bmi_normal_min:
        return "under"
    if value < t.bmi_over_min:
        return "normal"
    return "over" if value < t.bmi_obese_min else "obese"


def phq9_band(score: int, t: Thresholds | None = None) -> Phq9Band:
    """PHQ-9 severity band of a total score 0–27."""
    t = _t(t)
    if not 0 <= score <= 27:
        raise ScreeningInputError("a PHQ-9 score is between 0 and 27")
    if score >= t.phq9_severe:
        return "severe"
    if score >= t.phq9_moderately_severe:
        return "moderately-severe"
    if score >= t.phq9_moderate:
        return "moderate"
    return "mild" if score >= t.phq9_mild else "minimal"


def gad7_band(score: int, t: Thresholds | None = None) -> Gad7Band:
    """GAD-7 severity band of a total score 0–21."""
    t = _t(t)
    if not 0 <= score <= 21:
        raise ScreeningInputError("a GAD-7 score is between 0 and 21")
    if score >= t.gad7_severe:
        return "severe"
    if score >= t.gad7_moderate:
        return "moderate"
    return "mild" if score >= t.gad7_mild else "minimal"


def phq9_item9_positive(answers: Iterable[int]) -> bool:
    """True when PHQ-9 item 9 (thoughts of self-harm) was answered above 0: same-day follow-up."""
    items = list(answers)
    return len(items) >= 9 and items[8] > 0


# -- findings for staff --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """Something staff should know about a screening; ``summary`` holds no values or answers."""

    rule: str
    severity: Severity
    team: HealthTeam
    summary: str


def _values(measurements: Iterable[Measurement], codes: frozenset[str], unit: str) -> list[float]:
    # Parsers already convert to the contract's units; other producers might not, so convert what we can
    # and skip what we cannot judge rather than misjudge it.
    out = []
    for m in measurements:
        if m.code not in codes:
            continue
        if m.unit == unit:
            out.append(m.value)
        elif unit == "Cel" and m.unit == "[degF]":
            out.append((m.value - 32) * 5 / 9)
        elif unit == "mm[Hg]" and m.unit == "kPa":
            out.append(m.value * _MMHG_PER_KPA)
    return out


def _questionnaires(data: ScreeningData, instrument: str) -> list[Questionnaire]:
    return [q for q in data.questionnaires if q.instrument == instrument]


def screening_findings(data: ScreeningData, t: Thresholds | None = None) -> list[Finding]:
    """The routing table of CLINICAL.md applied to one screening, most severe first.

    When a quantity was measured more than once, the worst reading counts: a screen would rather ask a
    nurse to look twice than miss a crisis. Each rule fires at most once per screening.
    """
    t = _t(t)
    found: dict[str, Finding] = {}

    def add(rule: str, severity: Severity, team: HealthTeam, summary: str) -> None:
        found.setdefault(rule, Finding(rule, severity, team, summary))

    for q in _questionnaires(data, "PHQ-9"):
        if phq9_item9_positive(q.answers):
            add("phq9-item9", "urgent", "counselling", "PHQ-9 item 9 needs same-day follow-up by counselling")
        if q.score >= t.phq9_follow_up:
            add("phq9-high", "follow-up", "counselling", "PHQ-9 total in the upper two bands")
    for q in _questionnaires(data, "GAD-7"):
        if q.score >= t.gad7_follow_up:
            add("gad7-high", "follow-up", "counselling", "GAD-7 total in the severe range")
        elif q.score >= t.gad7_evaluation:
            add("gad7-evaluation", "notice", "counselling", "GAD-7 total suggests further evaluation")

    systolic = _values(data.measurements, frozenset({SYSTOLIC}), "mm[Hg]")
    diastolic = _values(data.measurements, frozenset({DIASTOLIC}), "mm[Hg]")
    # Readings pair up in order; a lone systolic or diastolic is still judged on its own.
    pairs = [(systolic[i] if i < len(systolic) else 0.0, diastolic[i] if i < len(diastolic) else 0.0)
             for i in range(max(len(systolic), len(diastolic)))]
    bp = {bp_category(s, d, t) for s, d in pairs}
    if "crisis" in bp:
        add("bp-crisis", "urgent", "clinic", "Blood pressure in the crisis range")
    elif "stage-2" in bp:
        add("bp-stage-2", "follow-up", "clinic", "Blood pressure in the stage 2 range")

    spo2 = {spo2_category(v, t) for v in _values(data.measurements, SPO2_CODES, "%")}
    if "very-low" in spo2:
        add("spo2-low", "urgent", "clinic", "Oxygen saturation at or below the urgent threshold")
    elif "low" in spo2:
        add("spo2-borderline", "notice", "clinic", "Oxygen saturation slightly below normal")

    temperatures = _values(data.measurements, frozenset({BODY_TEMPERATURE}), "Cel")
    if any(temperature_category(v, t) == "fever" for v in temperatures):
        add("fever", "follow-up", "clinic", "Body temperature in the fever range")

    return sorted(found.values(), key=lambda f: SEVERITY_ORDER[f.severity])


# The measures a station reports a category for (the student's words for each are ``kiosk.guidance``).
Measure = Literal["bp", "spo2", "temperature", "heart_rate", "bmi", "phq9", "gad7"]
