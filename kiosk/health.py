"""A health-station session as a pure state machine: card → consent → measurements → questionnaires → results.

No clock, no I/O: every call takes ``now`` (monotonic seconds) and returns what to record, if anything.

    idle ──card──▶ consent ──decline / time-out──▶ idle (nothing recorded)
                       │ accept (version, wall time)
                       ▼
                   measuring ◀──────────────▶ questionnaire (PHQ-9 / GAD-7, one item at a time)
                       │ finish
                       ▼
                    results ──done / time-out──▶ idle

- **Consent comes first** (PIPL art. 29: separate consent for sensitive personal information): after the tap
  the screen says what is measured, who sees it and how long it is kept; nothing is measured or answered
  until the student agrees, and the record carries the version of the text they agreed to and when. Declining
  (or walking away) records nothing and clears the screen.
- **Measurements** arrive from the devices at any time while a session is open (not in ``idle``: a reading
  nobody has claimed cannot be attributed, and not in ``results``: what the student saw is final). A new
  reading of a quantity replaces the earlier one (a retake after a slipped cuff is normal), so the record
  holds what the screen showed. BMI is computed when weight and height (measured, or typed on the keypad)
  are both known.
- **Privacy time-out**: with no touch and no reading for ``idle_timeout_s`` the session is abandoned and the
  screen cleared; results clear after ``results_timeout_s``. A different card tapped mid-session abandons
  the open session and starts one for the new card (the person at the station is the one who tapped).
- **What is recorded**: ``finish`` records the session with ``complete=True`` as the results appear.
  Abandoning (time-out, another card, cancel) records it with ``complete=False`` *if* anything was measured
  or any questionnaire completed — readings are kept because a crisis value must reach the clinic even when
  the student walks away; a questionnaire left half-way is dropped (the contract holds only complete ones,
  and item 9 is the last item). A session with nothing in it records nothing.
- **PHQ-9 item 9 does not wait**: answering item 9 above 0 completes the PHQ-9 and ``answer`` returns an
  interim record (``complete=False``, same session id, everything so far) to send at once, so the
  counselling alert is raised within seconds even if the student never taps "See results". The complete
  record follows with the same session id; the gateway keys health alerts by rule and student, so the
  second record raises no second alert while the first is open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from kiosk.questionnaires import ITEM_COUNT, Instrument
from onestop import clinical
from onestop.clinical import Measure, ScreeningInputError, Thresholds
from onestop.events import Consent, Measurement, Questionnaire, ScreeningData
from onestop.ids import CARD_RE, uuid7

Phase = Literal["idle", "consent", "measuring", "questionnaire", "results"]
KEYPAD = "keypad"  # device_model of a height typed on the screen


@dataclass(frozen=True, slots=True)
class Result:
    """One line of the results screen: a measure, the readings behind it and its category."""

    measure: Measure
    category: str
    readings: tuple[Measurement, ...] = ()
    score: int | None = None


def _new_id() -> str:
    return str(uuid7())


class HealthSession:
    """The state of one health station's screen (see the module docstring)."""

    def __init__(self, thresholds: Thresholds | None = None, *, idle_timeout_s: float = 120.0,
                 results_timeout_s: float = 60.0, new_id: Callable[[], str] = _new_id) -> None:
        self.thresholds = thresholds or Thresholds()
        self.idle_timeout_s = idle_timeout_s
        self.results_timeout_s = results_timeout_s
        self._new_id = new_id
        self._clear()

    def _clear(self) -> None:
        self.phase: Phase = "idle"
        self.subject: str | None = None
        self.consent: Consent | None = None
        self.session_id: str | None = None
        self.measurements: dict[str, Measurement] = {}
        self.questionnaires: dict[Instrument, Questionnaire] = {}
        self.instrument: Instrument | None = None
        self.answers: list[int] = []
        self.last_activity = 0.0

    # -- inputs ------------------------------------------------------------------------------------------
    def identify(self, card: str, now: float) -> ScreeningData | None:
        """A card was tapped; returns the record of a session it abandoned, if any."""
        if not CARD_RE.fullmatch(card):
            raise ScreeningInputError("not a card id")
        if card == self.subject and self.phase in ("consent", "measuring", "questionnaire"):
            self.touch(now)
            return None
        abandoned = self._abandon() if self.phase in ("measuring", "questionnaire") else None
        self._clear()
        self.phase, self.subject, self.session_id = "consent", card, self._new_id()
        self.last_activity = now
        return abandoned

    def accept(self, version: str, at: datetime, now: float) -> None:
        """The student agreed to the consent text ``version`` at wall-clock time ``at``: measuring may begin."""
        if self.phase != "consent":
            return
        self.consent = Consent(version=version, at=at)
        self.phase, self.last_activity = "measuring", now

    def decline(self, now: float) -> None:
        """The student declined: nothing was taken, nothing is recorded, the screen clears."""
        if self.phase == "consent":
            self._clear()

    def touch(self, now: float) -> None:
        """Someone is at the station (a touch, a device status): restart the privacy time-out."""
        if self.phase != "idle":
            self.last_activity = now

    def measure(self, measurement: Measurement, now: float) -> bool:
        """A device reported a value; True if the session took it."""
        if self.phase not in ("measuring", "questionnaire") or measurement.value <= 0:
            return False
        self.measurements[measurement.code] = measurement
        self._update_bmi()
        self.last_activity = now
        return True

    def enter_height(self, height_cm: float, now: float) -> None:
        """The student typed their height."""
        if not 50 <= height_cm <= 250:
            raise ScreeningInputError("height must be between 50 and 250 cm")
        self.measure(Measurement(code=clinical.BODY_HEIGHT, value=height_cm, unit=clinical.UNITS[clinical.BODY_HEIGHT],
                                 device_model=KEYPAD), now)

    def begin(self, instrument: Instrument, now: float) -> None:
        """Start (or retake) a questionnaire at its first item."""
        if self.phase != "measuring":
            return
        self.phase, self.instrument, self.answers = "questionnaire", instrument, []
        self.last_activity = now

    def answer(self, value: int, now: float) -> ScreeningData | None:
        """Answer the current item (0-3); after the last item the questionnaire is complete.

        Returns an interim record (``complete=False``) to send at once when PHQ-9 item 9 was answered above
        0: the counselling alert must not wait for "See results" or the privacy time-out.
        """
        if self.phase != "questionnaire" or self.instrument is None:
            return None
        if value not in (0, 1, 2, 3):
            raise ScreeningInputError("answers are 0 to 3")
        self.answers.append(value)
        self.last_activity = now
        if len(self.answers) < ITEM_COUNT[self.instrument]:
            return None
        questionnaire = Questionnaire(instrument=self.instrument, answers=list(self.answers),
                                      score=sum(self.answers))
        self.questionnaires[self.instrument] = questionnaire
        self.phase, self.instrument, self.answers = "measuring", None, []
        if questionnaire.instrument == "PHQ-9" and clinical.phq9_item9_positive(questionnaire.answers):
            return self._record(complete=False)
        return None

    def back(self, now: float) -> None:
        """Go back one item; from the first item, leave the questionnaire (its answers are dropped)."""
        if self.phase != "questionnaire":
            return
        self.last_activity = now
        if self.answers:
            self.answers.pop()
        else:
            self.phase, self.instrument = "measuring", None

    def finish(self, now: float) -> ScreeningData | None:
        """Show the results; returns the complete record (None when there is nothing to show)."""
        if self.phase != "measuring" or not self.has_data:
            return None
        self.phase, self.last_activity = "results", now
        return self._record(complete=True)

    def done(self, now: float) -> None:
        """The student closed the results (or walked away from them)."""
        if self.phase == "results":
            self._clear()

    def cancel(self, now: float) -> ScreeningData | None:
        """The student stopped before the results; returns the incomplete record, if anything was taken."""
        if self.phase == "results":
            self._clear()
            return None
        record = self._abandon() if self.phase != "idle" else None
        self._clear()
        return record

    def tick(self, now: float) -> ScreeningData | None:
        """Apply the privacy time-out; returns the incomplete record of a session it abandoned."""
        remaining = self.remaining(now)
        if remaining is None or remaining > 0:
            return None
        return self.cancel(now)

    # -- views -------------------------------------------------------------------------------------------
    @property
    def has_data(self) -> bool:
        """True when something would be recorded."""
        return bool(self.measurements or self.questionnaires)

    @property
    def item(self) -> int:
        """The index of the questionnaire item on screen."""
        return len(self.answers)

    def remaining(self, now: float) -> float | None:
        """Seconds until the privacy time-out clears the screen (None when idle)."""
        if self.phase == "idle":
            return None
        timeout = self.results_timeout_s if self.phase == "results" else self.idle_timeout_s
        return self.last_activity + timeout - now

    def value(self, code: str) -> float | None:
        """The current reading of a LOINC code, if any."""
        m = self.measurements.get(code)
        return m.value if m else None

    @property
    def item9_positive(self) -> bool:
        """True when PHQ-9 item 9 was answered above 0 (the results show the same-day message)."""
        phq9 = self.questionnaires.get("PHQ-9")
        return bool(phq9 and clinical.phq9_item9_positive(phq9.answers))

    def results(self) -> list[Result]:
        """The results screen, in a fixed order, for what was measured or answered."""
        t, out = self.thresholds, []
        systolic, diastolic = self.measurements.get(clinical.SYSTOLIC), self.measurements.get(clinical.DIASTOLIC)
        if systolic and diastolic:
            out.append(Result("bp", clinical.bp_category(systolic.value, diastolic.value, t), (systolic, diastolic)))
        if pulse := self.measurements.get(clinical.HEART_RATE):
            out.append(Result("heart_rate", clinical.heart_rate_category(pulse.value, t), (pulse,)))
        spo2 = next((self.measurements[c] for c in sorted(clinical.SPO2_CODES) if c in self.measurements), None)
        if spo2:
            out.append(Result("spo2", clinical.spo2_category(spo2.value, t), (spo2,)))
        if temperature := self.measurements.get(clinical.BODY_TEMPERATURE):
            out.append(Result("temperature", clinical.temperature_category(temperature.value, t), (temperature,)))
        if bmi := self.measurements.get(clinical.BMI):
            body = tuple(self.measurements[c] for c in (clinical.BODY_WEIGHT, clinical.BODY_HEIGHT)
                         if c in self.measurements)
            out.append(Result("bmi", clinical.bmi_category(bmi.value, t), (bmi, *body)))
        if phq9 := self.questionnaires.get("PHQ-9"):
            out.append(Result("phq9", clinical.phq9_band(phq9.score, t), score=phq9.score))
        if gad7 := self.questionnaires.get("GAD-7"):
            out.append(Result("gad7", clinical.gad7_band(gad7.score, t), score=gad7.score))
        return out

    # -- helpers -----------------------------------------------------------------------------------------
    def _update_bmi(self) -> None:
        weight = self.measurements.get(clinical.BODY_WEIGHT)
        height = self.measurements.get(clinical.BODY_HEIGHT)
        if weight and height:
            value = round(clinical.bmi(weight.value, height.value), 1)
            self.measurements[clinical.BMI] = Measurement(code=clinical.BMI, value=value,
                                                          unit=clinical.UNITS[clinical.BMI])

    def _abandon(self) -> ScreeningData | None:
        return self._record(complete=False) if self.has_data else None

    def _record(self, *, complete: bool) -> ScreeningData:
        assert self.subject is not None and self.session_id is not None
        return ScreeningData(subject=self.subject, session=self.session_id, complete=complete,
                             measurements=list(self.measurements.values()),
                             questionnaires=list(self.questionnaires.values()), consent=self.consent)
