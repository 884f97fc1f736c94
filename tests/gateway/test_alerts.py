from datetime import UTC, datetime

import pytest

from gateway import alerts as rules
from onestop.clinical import Thresholds
from onestop.events import new_event

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SESSION = "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11"


def screening(measurements=(), questionnaires=()):
    return new_event("hs-lobby", 4, "screening", {"subject": "922E5832", "session": SESSION, "complete": True,
                                                  "measurements": list(measurements),
                                                  "questionnaires": list(questionnaires)})


def bp(sys_, dia):
    return [{"code": "8480-6", "value": sys_, "unit": "mm[Hg]"}, {"code": "8462-4", "value": dia, "unit": "mm[Hg]"}]


def phq9(answers):
    return {"instrument": "PHQ-9", "answers": answers, "score": sum(answers)}


def test_a_normal_screening_raises_nothing():
    event = screening(bp(118, 76) + [{"code": "59408-5", "value": 98, "unit": "%"}])
    assert rules.screening_alerts("s1", event, Thresholds(), T0) == []


@pytest.mark.parametrize(("event", "rule_team_severity"), [
    (screening(bp(185, 100)), ("clinic", "urgent")),
    (screening([{"code": "59408-5", "value": 92, "unit": "%"}]), ("clinic", "urgent")),
    (screening(questionnaires=[phq9([0, 0, 0, 0, 0, 0, 0, 0, 1])]), ("counselling", "urgent")),
    (screening(bp(145, 85)), ("clinic", "follow-up")),
    (screening([{"code": "8310-5", "value": 38.2, "unit": "Cel"}]), ("clinic", "follow-up")),
])
def test_clinical_rules_route_to_the_right_team(event, rule_team_severity):
    raised = rules.screening_alerts("s1", event, Thresholds(), T0, space="health-corner")
    assert [(a.team, a.severity) for a in raised] == [rule_team_severity]
    alert = raised[0]
    assert alert.subject == "922E5832" and alert.event_id == event.id and alert.space == "health-corner"


def test_alert_summaries_carry_no_measured_values():
    raised = rules.screening_alerts("s1", screening(bp(187, 123)), Thresholds(), T0)
    assert raised and all("187" not in a.summary and "123" not in a.summary for a in raised)


def test_thresholds_are_configuration():
    strict = Thresholds(fever_c=37.8)
    event = screening([{"code": "8310-5", "value": 37.9, "unit": "Cel"}])
    assert rules.screening_alerts("s1", event, Thresholds(), T0) == []
    assert len(rules.screening_alerts("s1", event, strict, T0)) == 1


def test_over_capacity_is_a_notice_for_facilities():
    assert rules.over_capacity_alert("s1", "lab", 24, 24, T0) is None
    alert = rules.over_capacity_alert("s1", "lab", 25, 24, T0)
    assert (alert.team, alert.severity, alert.space) == ("facilities", "notice", "lab")


def test_lifecycle_acknowledge_then_resolve_records_who_and_when():
    alert = rules.device_offline_alert("s1", "kiosk-1", 12, T0)
    acked = rules.acknowledge(alert, "alice", T0)
    done = rules.resolve(acked, "bob", T0)
    assert (acked.status, acked.acknowledged_by, done.status, done.resolved_by) == (
        "acknowledged", "alice", "resolved", "bob")
    with pytest.raises(rules.AlertError):
        rules.acknowledge(done, "carol", T0)
    with pytest.raises(rules.AlertError):
        rules.resolve(done, "carol", T0)


def test_the_same_condition_has_the_same_key_while_distinct_ones_differ():
    a = rules.device_offline_alert("s1", "kiosk-1", 12, T0)
    b = rules.device_offline_alert("s1", "kiosk-1", 13, T0)
    c = rules.device_offline_alert("s1", "kiosk-2", 12, T0)
    assert rules.alert_key(a) == rules.alert_key(b) != rules.alert_key(c)
