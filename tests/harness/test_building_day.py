import random
from datetime import datetime

from harness.building_day import BuildingDay, ScreeningAction, SpacePlan, TapAction, phq9_answers, vitals

START = datetime(2026, 11, 23, 9, 0)


def day(exam_week=False, seed=1, capacity=40):
    plans = [SpacePlan("study", ("k-a", "k-b"), capacity=capacity, peak_per_hour=60),
             SpacePlan("lab", ("k-lab",), capacity=5, opens=8, closes=18, peak_per_hour=30, study=False),
             SpacePlan("library", ("k-lib-in",), capacity=30, peak_per_hour=30, exits=("k-lib-out",))]
    students = [f"{i:08X}" for i in range(500)]
    return BuildingDay(plans, ["hs-1"], students, random.Random(seed), START, exam_week=exam_week)


def run(sim, minutes):
    actions = []
    for _ in range(minutes):
        actions += sim.advance(1)
    return actions


WAYS = {"k-a": "study", "k-b": "study", "k-lab": "lab", "k-lib-in": "library", "k-lib-out": "library"}


def test_every_departure_follows_an_arrival_at_the_same_space_and_capacity_holds():
    sim = day()
    inside: dict[str, str] = {}
    ways: set[tuple[str, str]] = set()
    for action in run(sim, 8 * 60):
        if isinstance(action, TapAction):
            if action.arriving:
                assert action.card not in inside and action.kiosk != "k-lib-out"  # an exit is no way in
                inside[action.card] = action.kiosk
            else:
                came_in = inside.pop(action.card)
                assert WAYS[came_in] == WAYS[action.kiosk] and action.kiosk != "k-lib-in"
                ways.add((came_in, action.kiosk))
        assert sim.occupancy("lab") <= 5 and sim.occupancy("study") <= 40
    assert ("k-a", "k-b") in ways and ("k-b", "k-a") in ways  # in at one kiosk, out at the other
    assert ("k-lib-in", "k-lib-out") in ways


def test_the_lab_empties_at_closing_time():
    sim = day()
    run(sim, 9 * 60 + 1)  # 18:01
    assert sim.occupancy("lab") == 0


def test_exam_week_brings_more_students_to_study_rooms():
    def arrivals(sim):
        return sum(1 for a in run(sim, 180) if isinstance(a, TapAction) and a.arriving and a.kiosk != "k-lab")

    normal, exams = arrivals(day(capacity=1000)), arrivals(day(exam_week=True, capacity=1000))
    assert exams > normal * 1.3


def test_the_same_seed_gives_the_same_day():
    assert run(day(seed=5), 120) == run(day(seed=5), 120)


def test_some_screenings_are_abnormal_and_their_vitals_match():
    rng = random.Random(2)
    screenings = [a for a in run(day(), 12 * 60) if isinstance(a, ScreeningAction)]
    assert screenings and any(s.finding for s in screenings) and any(s.finding is None for s in screenings)
    assert vitals("bp-crisis", rng)["systolic"] > 180
    assert vitals("spo2-low", rng)["spo2"] <= 92
    assert vitals(None, rng)["systolic"] < 130
    assert phq9_answers("phq9-item9", rng)[8] > 0 and phq9_answers(None, rng)[8] == 0
