"""A student's rights at central: a copy of everything held about them, and erasure that leaves nothing that
names their card in any table, with the audit log showing who did it (issue #16)."""

from __future__ import annotations

import json
import uuid

import sqlalchemy as sa
from fhir.resources.R4B.bundle import Bundle

from central.pseudonyms import Pseudonyms
from central.schema import metadata
from tests.central.factories import GZIP, T0, alert, batch, event, gz, records_body

STUDENT, OTHER = "922E5832", "62E3086CED"
SPACE = "study-24h-2f"


def send_everything(as_role) -> None:
    """Check-ins, screenings (with a PHQ-9) and a clinic alert, for STUDENT and for OTHER."""
    envelopes = []
    for n, card in enumerate((STUDENT, OTHER)):
        envelopes += [
            event("kiosk-n-1", 10 * n + 1, "checkin", {"space": SPACE, "card": card, "via": "tap"}, T0),
            event("kiosk-n-1", 10 * n + 2, "checkout", {"space": SPACE, "card": card, "via": "tap"}, T0),
            event("health-n-1", 10 * n + 1, "screening",
                  {"subject": card, "session": str(uuid.uuid4()), "complete": True,
                   "measurements": [{"code": "8867-4", "value": 71, "unit": "/min"}],
                   "questionnaires": [{"instrument": "PHQ-9", "answers": [0] * 9, "score": 0}]}, T0)]
    gateway = as_role("gateway:north-b3")
    assert gateway.post("/api/v1/ingest", content=gz(batch("north-b3", envelopes)), headers=GZIP).status_code == 200
    alerts = [alert(team="clinic", rule="bp-crisis", severity="urgent", summary="Blood pressure crisis", subject=c)
              for c in (STUDENT, OTHER)]
    assert gateway.post("/api/v1/alerts/sync", json=records_body("alerts", "north-b3", alerts)).status_code == 200


def every_row(store) -> str:
    """Every row of every table central has, as text."""
    with store.engine.connect() as conn:
        return json.dumps([[list(row) for row in conn.execute(sa.select(table))]
                           for table in metadata.sorted_tables], default=str)


def test_a_student_gets_a_copy_of_what_central_holds_from_each_health_service(as_role):
    send_everything(as_role)
    answer = as_role("clinic").get(f"/api/v1/students/{STUDENT}/export")
    assert answer.status_code == 200
    held = answer.json()
    assert sorted(e["type"] for e in held["events"]) == ["checkin", "checkout", "screening"]
    (screening,) = [e["data"] for e in held["events"] if e["type"] == "screening"]
    assert "measurements" in screening and "questionnaires" not in screening  # the clinic's part only
    assert [a["subject"] for a in held["alerts"]] == [STUDENT]
    assert held["withheld"] == {"screenings": 0, "alerts": 0}
    assert Bundle.model_validate(held["fhir"]).total == 1  # heart rate; the PHQ-9 score is counselling's
    assert OTHER not in answer.text
    counselling = as_role("counselling").get(f"/api/v1/students/{STUDENT}/export").json()
    (screening,) = [e["data"] for e in counselling["events"] if e["type"] == "screening"]
    assert "questionnaires" in screening and "measurements" not in screening
    assert counselling["alerts"] == [] and counselling["withheld"] == {"screenings": 0, "alerts": 1}
    assert Bundle.model_validate(counselling["fhir"]).total == 1  # the PHQ-9 score
    for role in ("admin", "staff", "facilities", "technician"):
        assert as_role(role).get(f"/api/v1/students/{STUDENT}/export").status_code == 403


def test_erasure_leaves_nothing_that_names_the_card_and_the_audit_shows_who(as_role, store, settings):
    send_everything(as_role)
    with store.engine.begin() as conn:  # a conflict recorded against one of the student's events
        (sid,) = conn.execute(sa.text("SELECT id FROM events WHERE subject = :c"), {"c": STUDENT}).one()
        conn.execute(sa.text("INSERT INTO event_conflicts (event_id, site, device, first_at, last_at, times) "
                             "VALUES (:i, 'north-b3', 'health-n-1', :t, :t, 1)"), {"i": sid, "t": T0})
    assert STUDENT in every_row(store)
    for role in ("admin", "staff", "facilities", "technician"):
        assert as_role(role).delete(f"/api/v1/students/{STUDENT}").status_code == 403
    answer = as_role("counselling").delete(f"/api/v1/students/{STUDENT}")
    assert answer.json() == {"events": 3, "alerts": 1, "conflicts": 1}
    left = every_row(store)
    assert STUDENT not in left and sid not in left
    assert OTHER in left  # nobody else's records went with them
    (row,) = as_role("admin").get("/api/v1/audit", params={"subject": STUDENT}).json()
    assert (row["principal"], row["role"], row["method"]) == ("test-counselling", "counselling", "DELETE")
    assert row["subject_ref"] == Pseudonyms.from_file(settings.pseudonym_key_file).of(STUDENT)
    assert as_role("clinic").get(f"/api/v1/students/{STUDENT}/export").json()["events"] == []
