"""Minimum necessary at central (issue #16): the clinic reads vital signs, counselling questionnaires, each
read that names a student is audited, and an erased student does not come back when a gateway re-sends."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from tests.central.factories import GZIP, T0, alert, batch, device, event, gz, records_body

STUDENT, OTHER = "922E5832", "62E3086CED"
PHQ9 = {"instrument": "PHQ-9", "answers": [1, 1, 2, 1, 0, 1, 1, 0, 1], "score": 8}
HEART = [{"code": "8867-4", "value": 71, "unit": "/min"}]


def screening(seq: int, subject: str, measurements=(), questionnaires=(), minutes: int = 0):
    return event("hs-north-1", seq, "screening",
                 {"subject": subject, "session": str(uuid.uuid4()), "complete": True,
                  "measurements": list(measurements), "questionnaires": list(questionnaires)},
                 T0 + timedelta(minutes=minutes))


def ingest(as_role, envelopes) -> dict:
    answer = as_role("gateway:north-b3").post("/api/v1/ingest", content=gz(batch("north-b3", envelopes)),
                                              headers=GZIP)
    assert answer.status_code == 200, answer.text
    return answer.json()


def observations(client, **params) -> list[dict]:
    answer = client.get("/api/v1/fhir/Observation", params=params)
    assert answer.status_code == 200
    return [e["resource"] for e in answer.json().get("entry", [])]


def test_counselling_reads_no_vital_signs_and_the_clinic_no_questionnaire_answers(as_role):
    ingest(as_role, [screening(1, STUDENT, HEART, [PHQ9])])
    clinic = observations(as_role("clinic"), subject=STUDENT)
    counselling = observations(as_role("counselling"), subject=STUDENT)
    assert [o["code"]["coding"][0]["code"] for o in clinic] == ["8867-4"]
    assert [o["code"]["coding"][0]["code"] for o in counselling] == ["44249-1"]
    # Asking by code or by id for the other service's part finds nothing, as if it were not there.
    assert observations(as_role("counselling"), subject=STUDENT, code="8867-4") == []
    assert observations(as_role("clinic"), subject=STUDENT, code="44249-1") == []
    assert as_role("counselling").get(f"/api/v1/fhir/Observation/{clinic[0]['id']}").status_code == 404
    assert as_role("clinic").get(f"/api/v1/fhir/Observation/{counselling[0]['id']}").status_code == 404
    assert as_role("clinic").get(f"/api/v1/fhir/Observation/{clinic[0]['id']}").status_code == 200
    # The list routes: each role has its own, and neither answer holds the other part.
    assert as_role("counselling").get("/api/v1/screenings").status_code == 403
    assert as_role("clinic").get("/api/v1/questionnaires").status_code == 403
    vitals = as_role("clinic").get("/api/v1/screenings").text
    assert "PHQ-9" not in vitals and "answers" not in vitals
    answers = as_role("counselling").get("/api/v1/questionnaires").text
    assert "8867-4" not in answers and "measurements" not in answers


def test_the_clinic_sees_who_where_and_when_and_only_sessions_with_vital_signs(as_role):
    sync = as_role("gateway:north-b3").post("/api/v1/fleet/sync", json=records_body(
        "devices", "north-b3", [device("hs-north-1", space="clinic-1f")]))
    assert sync.status_code == 200
    # The two newest sessions are questionnaire-only: a limit of 2 still returns two sessions with vitals.
    ingest(as_role, [screening(1, STUDENT, HEART, minutes=0), screening(2, OTHER, HEART, minutes=10),
                     screening(3, STUDENT, (), [PHQ9], minutes=20), screening(4, OTHER, (), [PHQ9], minutes=30)])
    listed = as_role("clinic").get("/api/v1/screenings", params={"limit": 2}).json()
    assert [(s["subject"], s["device"], s["space"]) for s in listed] == [
        (OTHER, "hs-north-1", "clinic-1f"), (STUDENT, "hs-north-1", "clinic-1f")]
    # Absolute times with their offset, not "10 min ago".
    assert datetime.fromisoformat(listed[0]["at"]) == T0 + timedelta(minutes=10)
    assert datetime.fromisoformat(listed[0]["at"]).utcoffset() is not None


def test_health_roles_alert_reads_that_name_a_student_are_audited(as_role, store):
    alerts = [alert(team="clinic", rule="bp-crisis", severity="urgent", summary="Blood pressure crisis",
                    device="hs-north-1", subject=STUDENT),
              alert(team="counselling", rule="phq9-item9", severity="urgent", summary="PHQ-9 item 9",
                    device="hs-north-1", subject=OTHER),
              alert(team="facilities")]
    assert as_role("gateway:north-b3").post("/api/v1/alerts/sync",
                                            json=records_body("alerts", "north-b3", alerts)).status_code == 200
    before = store.audit.count()
    assert [a["subject"] for a in as_role("clinic").get("/api/v1/alerts").json()] == [STUDENT]
    assert [a["subject"] for a in as_role("counselling").get("/api/v1/alerts").json()] == [OTHER]
    as_role("admin").get("/api/v1/alerts")  # sees pseudonyms only: nothing to audit
    as_role("staff").get("/api/v1/alerts")
    as_role("clinic").get("/api/v1/alerts")  # a dashboard's poll of the same list: once per window
    assert store.audit.count() == before + 2
    (row,) = as_role("admin").get("/api/v1/audit", params={"subject": STUDENT}).json()
    assert (row["principal"], row["route"], row["results"]) == ("test-clinic", "/api/v1/alerts", 1)
    (row,) = as_role("admin").get("/api/v1/audit", params={"subject": OTHER}).json()
    assert (row["principal"], row["role"]) == ("test-counselling", "counselling")


def test_an_erased_student_does_not_come_back_when_a_gateway_sends_the_same_batch_again(as_role):
    envelopes = [screening(1, STUDENT, HEART, [PHQ9]), screening(2, OTHER, HEART),
                 event("kiosk-n-1", 1, "checkin", {"space": "study-24h-2f", "card": STUDENT, "via": "tap"}, T0)]
    clinic_alert = [alert(team="clinic", rule="bp-crisis", severity="urgent", summary="Blood pressure crisis",
                          subject=STUDENT)]
    gateway = as_role("gateway:north-b3")
    assert ingest(as_role, envelopes)["new"] == 3
    assert gateway.post("/api/v1/alerts/sync", json=records_body("alerts", "north-b3", clinic_alert)).status_code == 200
    assert as_role("clinic").delete(f"/api/v1/students/{STUDENT}").json()["events"] == 2
    # The gateway never saw the answer to that batch, or caught up after an outage: it sends it all again.
    again = ingest(as_role, envelopes)
    assert (again["new"], again["duplicates"], again["erased"]) == (0, 1, 2)
    assert gateway.post("/api/v1/alerts/sync", json=records_body("alerts", "north-b3", clinic_alert)).status_code == 200
    held = as_role("clinic").get(f"/api/v1/students/{STUDENT}/export").json()
    assert held["events"] == [] and held["alerts"] == []
    assert as_role("clinic").get("/api/v1/screenings", params={"subject": STUDENT}).json() == []
    assert [a["subject"] for a in as_role("clinic").get("/api/v1/alerts").json()] == []
    assert as_role("admin").get("/api/v1/stats").json()["erased_dropped"] == 3  # two events and the alert
    assert "onestop_central_erased_dropped_total 3.0" in as_role("admin").get("/metrics").text
    # Other students still arrive.
    assert ingest(as_role, [screening(3, OTHER, HEART, minutes=5)])["new"] == 1


def test_a_tombstone_written_before_a_key_rotation_still_drops_the_student(as_role, settings, store, tokens):
    from central.api import create_app
    from tests.helpers import served
    envelopes = [screening(1, STUDENT, HEART)]
    assert ingest(as_role, envelopes)["new"] == 1
    assert as_role("counselling").delete(f"/api/v1/students/{STUDENT}").json()["events"] == 1
    old = settings.pseudonym_key_file.read_text()
    settings.pseudonym_key_file.write_text("ab" * 32 + "\n" + old)  # a fresh current key; the old one stays
    with served(create_app(settings, store), headers=tokens.header("gateway:north-b3")) as rotated:
        again = rotated.post("/api/v1/ingest", content=gz(batch("north-b3", envelopes)), headers=GZIP).json()
    assert (again["new"], again["erased"]) == (0, 1)
    assert store.screenings(STUDENT) == []
