"""Alert actions at central: acknowledge, resolve and assign with a note, queued for the alert's gateway;
gateway copies merge with central's (the later action wins, both kept); response times in the API and
/metrics."""

from __future__ import annotations

from datetime import timedelta

from onestop.alert_history import merge, new_action
from tests.central.factories import T0, alert, records_body

ACTIONS = "/api/v1/sites/north-b3/alerts/actions"


def sync(as_role, *records, site="north-b3"):
    answer = as_role(f"gateway:{site}").post("/api/v1/alerts/sync", json=records_body("alerts", site, list(records)))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_an_action_at_central_is_recorded_with_who_and_note_and_queued_for_the_gateway(as_role):
    record = alert()
    sync(as_role, record)
    facilities = as_role("facilities")
    acked = facilities.post(f"/api/v1/alerts/{record.id}/acknowledge", json={"note": "on my way"})
    assert acked.status_code == 200, acked.text
    assert acked.json()["status"] == "acknowledged"
    assert facilities.post(f"/api/v1/alerts/{record.id}/acknowledge").status_code == 409
    assert as_role("counselling").post(f"/api/v1/alerts/{record.id}/resolve").status_code == 404  # not its team
    assigned = as_role("facilities").post(f"/api/v1/alerts/{record.id}/assign", json={"assignee": "Wang Fang"})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["assigned_to"] == "Wang Fang"

    (listed,) = as_role("staff").get("/api/v1/alerts").json()
    assert listed["assigned_to"] == "Wang Fang"
    assert [(a["action"], a["by"], a["note"]) for a in listed["history"]] == [
        ("acknowledge", "test-facilities", "on my way"), ("assign", "test-facilities", None)]

    gateway = as_role("gateway:north-b3")
    page = gateway.get(ACTIONS).json()
    assert [(d["alert"], d["action"]["action"]) for d in page["actions"]] == [
        (record.id, "acknowledge"), (record.id, "assign")]
    assert gateway.get(ACTIONS, params={"after": page["next"]}).json() == {"actions": [], "next": page["next"]}
    assert as_role("gateway:south-a1").get(ACTIONS).status_code == 403  # a site-bound token, another site
    assert as_role("staff").get(ACTIONS).status_code == 403


def test_a_gateway_copy_merges_with_centrals_actions_and_the_later_one_wins(as_role):
    record = alert()
    sync(as_role, record)
    as_role("facilities").post(f"/api/v1/alerts/{record.id}/acknowledge")  # now, at central
    # The gateway resolved it while offline, earlier than central's acknowledge: the acknowledge wins.
    earlier = merge(record, [new_action("resolve", "gw-nurse", T0 + timedelta(minutes=3), "sorted")])
    assert sync(as_role, earlier) == {"applied": 1, "stale": 0}
    assert sync(as_role, earlier) == {"applied": 0, "stale": 1}  # resent: nothing new
    (listed,) = as_role("staff").get("/api/v1/alerts").json()
    assert listed["status"] == "acknowledged"
    assert [a["action"] for a in listed["history"]] == ["resolve", "acknowledge"]
    # A resolve at the gateway after central's acknowledge wins.
    later = merge(earlier, [new_action("resolve", "gw-nurse", T0 + timedelta(days=3650), "done")])  # clamped
    sync(as_role, later)
    (listed,) = as_role("staff").get("/api/v1/alerts").json()
    assert (listed["status"], listed["resolved_by"]) == ("resolved", "gw-nurse")
    assert len(listed["history"]) == 3


def test_response_times_per_team_and_severity_in_the_api_and_metrics(as_role, client):
    def answered(ack_s, resolve_s, **fields):
        return merge(alert(**fields), [new_action("acknowledge", "a", T0 + timedelta(seconds=ack_s)),
                                       new_action("resolve", "a", T0 + timedelta(seconds=resolve_s))])

    sync(as_role, answered(20, 100), answered(50, 700), answered(400, 5000), alert(),
         answered(10, 20, team="clinic", rule="bp-crisis", severity="urgent"))
    window = {"since": (T0 - timedelta(days=1)).isoformat(), "until": (T0 + timedelta(days=1)).isoformat()}
    stats = {(s["team"], s["severity"]): s for s in as_role("admin").get("/api/v1/alerts/stats", params=window).json()}
    facilities = stats[("facilities", "notice")]
    assert (facilities["alerts"], facilities["acknowledged"], facilities["acknowledge_median_s"]) == (4, 3, 50.0)
    assert facilities["resolve_median_s"] == 700.0 and facilities["resolve_p90_s"] == 700 + 0.8 * 4300
    assert stats[("clinic", "urgent")]["acknowledge_median_s"] == 10.0
    assert "clinic" not in {team for team, _ in {
        (s["team"], s["severity"]) for s in as_role("facilities").get("/api/v1/alerts/stats", params=window).json()}}
    assert as_role("admin").get("/api/v1/alerts/stats", params={"since": window["until"],
                                                                  "until": window["since"]}).status_code == 400

    metrics = client.get("/metrics").text
    labels = 'severity="notice",team="facilities"'
    assert f'onestop_central_alert_acknowledge_seconds_bucket{{le="30.0",{labels}}} 1.0' in metrics
    assert f'onestop_central_alert_acknowledge_seconds_bucket{{le="60.0",{labels}}} 2.0' in metrics
    assert f'onestop_central_alert_acknowledge_seconds_count{{{labels}}} 3.0' in metrics
    assert f'onestop_central_alert_resolve_seconds_sum{{{labels}}} 5800.0' in metrics


def test_notes_on_a_health_alert_are_for_the_clinic_and_counselling_only(as_role):
    record = alert(team="clinic", rule="bp-crisis", severity="urgent", subject="922E5832")
    sync(as_role, record)
    assert as_role("clinic").post(f"/api/v1/alerts/{record.id}/acknowledge",
                                  json={"note": "BP 190/120, sent to A&E"}).status_code == 200
    (seen_by_clinic,) = as_role("clinic").get("/api/v1/alerts").json()
    (seen_by_admin,) = as_role("admin").get("/api/v1/alerts").json()
    assert seen_by_clinic["history"][0]["note"] == "BP 190/120, sent to A&E"
    assert seen_by_admin["history"][0]["note"] is None and seen_by_admin["history"][0]["by"] == "test-clinic"
    answer = as_role("admin").post(f"/api/v1/alerts/{record.id}/resolve", json={"note": "closing"}).json()
    assert {a["note"] for a in answer["history"]} == {None} and answer["subject"] is None
