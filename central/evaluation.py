"""Measure the forecast on held-out simulated weeks: ``python -m central.evaluation``.

A 14-week term is simulated (a mid-term exam week in week 7 and the final exam week in week 14; the clocks
change in week 13). For the mid-term exam week (no exam history yet: the cold start) and each of the last
four weeks, the model is fitted on the eight weeks before it only, forecasts the week, and is scored
against what the simulation produced, hour by hour and space by space. Two references show what the
model's parts buy: the seasonal naive forecast (same hour last week) and the model without the academic
calendar (no exam days known).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from central.forecast import DEFAULT_PARAMETERS, Errors, ModelParameters, errors, forecast
from central.occupancy import CheckEvent, boundaries, replay, spans
from central.simulation import Scenario, exam_days, simulate
from onestop.site import OpeningHours, SpaceConfig

ZONE = ZoneInfo("Europe/London")
TERM_START = date(2026, 1, 5)  # a Monday
WEEKS = 14
EXAMS = exam_days(TERM_START + timedelta(weeks=6), 7) | exam_days(TERM_START + timedelta(weeks=13), 7)
SPACES = (
    SpaceConfig(id="study-24h-2f", name="24-hour study room", capacity=60),
    SpaceConfig(id="library-1", name="Library floor 1", capacity=120, hours=OpeningHours(open="08:00", close="22:00")),
    SpaceConfig(id="skills-lab-1", name="Skills lab", capacity=20,
                hours=OpeningHours(open="09:00", close="18:00", days=["mon", "tue", "wed", "thu", "fri"])),
)


def scenario(seed: int = 7, students: int = 900) -> Scenario:
    """The evaluation term."""
    return Scenario("eval-site", SPACES, TERM_START, WEEKS * 7, students=students, exam_days=EXAMS, zone=ZONE,
                    seed=seed)


@dataclass(frozen=True)
class WeekScore:
    """Scores of one held-out week (all spaces, all hours)."""

    week: int
    exam: bool
    model: Errors
    naive: Errors
    no_calendar: Errors


def hourly_peaks(sc: Scenario) -> dict[str, list[tuple[datetime, float]]]:
    """Per space, the true hourly peak occupancy over the whole scenario."""
    events = simulate(sc)
    start = datetime.combine(sc.start, time(0), sc.zone).astimezone(UTC)
    edges = boundaries(start, start + timedelta(days=sc.days), "hour", sc.zone)
    out = {}
    for space in sc.spaces:
        checks = [CheckEvent(e.at, "in" if e.type == "checkin" else "out", e.data["card"])
                  for e in sorted(events, key=lambda e: e.at)
                  if e.type in ("checkin", "checkout") and e.data["space"] == space.id]
        steps = replay(checks, timedelta(hours=space.max_stay_h), until=edges[-1])
        out[space.id] = [(s.start, float(s.peak)) for s in spans(steps, edges)]
    return out


HELD_OUT = (6, 10, 11, 12, 13)  # zero-based: the mid-term exam week (no exam history yet) and the last four


def evaluate(sc: Scenario, held_out: tuple[int, ...] = HELD_OUT, params: ModelParameters = DEFAULT_PARAMETERS,
             peaks: dict[str, list[tuple[datetime, float]]] | None = None) -> list[WeekScore]:
    """Score each held-out week, fitting only on the weeks before it."""
    peaks = peaks or hourly_peaks(sc)
    scores = []
    for week in held_out:
        origin = datetime.combine(sc.start + timedelta(weeks=week), time(0), sc.zone).astimezone(UTC)
        end = datetime.combine(sc.start + timedelta(weeks=week + 1), time(0), sc.zone).astimezone(UTC)
        predicted, naive, plain, actual = [], [], [], []
        for space in sc.spaces:
            history = peaks[space.id]
            lookup = dict(history)
            truth = [(s, v) for s, v in history if origin <= s < end]
            made = forecast(history, origin, sc.zone, sc.exam_days, len(truth), space.capacity, params)
            flat = forecast(history, origin, sc.zone, frozenset(), len(truth), space.capacity, params)
            predicted += [h.expected for h in made.hours]
            plain += [h.expected for h in flat.hours]
            # same local hour a week earlier (wall-clock arithmetic on the zone-aware time, on purpose)
            naive += [lookup.get((s.astimezone(sc.zone) - timedelta(weeks=1)).astimezone(UTC), 0.0) for s, _ in truth]
            actual += [v for _, v in truth]
        exam = (sc.start + timedelta(weeks=week)) in sc.exam_days
        scores.append(WeekScore(week + 1, exam, errors(predicted, actual), errors(naive, actual),
                                errors(plain, actual)))
    return scores


def report(scores: list[WeekScore]) -> str:
    """A plain-text table of the scores."""
    lines = ["week  kind      model MAE  MAPE   WAPE  | naive MAE  MAPE   WAPE  | no calendar MAE  MAPE   WAPE",
             "-" * 96]
    for s in scores:
        lines.append(f"{s.week:>4}  {'exam' if s.exam else 'teaching':<8}  {s.model.mae:>9.2f} {s.model.mape:>5.1%}"
                     f" {s.model.wape:>6.1%} | {s.naive.mae:>9.2f} {s.naive.mape:>5.1%} {s.naive.wape:>6.1%} |"
                     f" {s.no_calendar.mae:>15.2f} {s.no_calendar.mape:>5.1%} {s.no_calendar.wape:>6.1%}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Print the held-out scores (and, with ``--sweep``, the effect of the recency decay)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--students", type=int, default=900)
    parser.add_argument("--sweep", action="store_true", help="also score decays 0.5-1.0")
    args = parser.parse_args(argv)
    sc = scenario(args.seed, args.students)
    print(f"simulated term: {WEEKS} weeks from {TERM_START}, {args.students} students, {len(SPACES)} spaces, "
          f"seed {args.seed}; exam weeks 7 and {WEEKS}; each held-out week fitted on the 8 weeks before it")
    peaks = hourly_peaks(sc)
    print(report(evaluate(sc, peaks=peaks)))
    if args.sweep:
        for decay in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
            scores = evaluate(sc, params=ModelParameters(decay=decay), peaks=peaks)
            mae = sum(s.model.mae for s in scores) / len(scores)
            print(f"decay {decay:.1f}: mean weekly MAE {mae:.2f}")


if __name__ == "__main__":
    main()
