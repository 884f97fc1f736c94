"""Screenings and questionnaires for clinic and counselling only, FHIR R4 export, and the audit log."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from tests.central.factories import GZIP, T0, batch, event, gz

STUDENT, OTHER = "922E5832", "62E3086CED"
PHQ9 = {"instrument": "PHQ-9", "answers": [1, 1, 2, 1, 0, 1, 1, 0, 1], "score": 8}


def screening(seq: int, subject: str, measurements: list[dict], questionnaires=(), minutes: int = 0):
    return event("health-n-1", seq, "screening",
                 {"subject": subject, "session": str(uuid.uuid4()), "complete": True,
                  "measurements": measurements, "questionnaires": list(questionnaires)},
                 T0 + timedelta(minutes=minutes))


@pytest.fixture
def screened(as_role):
    bp = [{"code": "8480-6", "value": 128, "unit": "mm[Hg]", "device_model": "A&D UA-651BLE"},
          {"code": "8462-4", "value": 82, "unit": "mm[Hg]", "device_model": "A&D UA-651BLE"},
          {"code": "8867-4", "value": 71, "unit": "/min"}]
    events = [screening(1, STUDENT, bp, minutes=0),
              screening(2, STUDENT, [{"code": "59408-5", "value": 97, "unit": "%"},
                                     {"code": "8310-5", "value": 36.9, "unit": "Cel"}], [PHQ9], minutes=30),
              screening(3, OTHER, [{"code": "29463-7", "value": 64.5, "unit": "kg"}], minutes=40)]
    answer = as_role("gateway:north-b3").post("/api/v1/ingest", content=gz(batch("north-b3", events)), headers=GZIP)
    assert answer.json()["new"] == 3
    return events


def test_fhir_bundle_of_vital_signs_validates_as_r4(as_role, screened):
    answer = as_role("clinic").get("/api/v1/fhir/Observation", params={"subject": f"Patient/{STUDENT}"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(answer.json())
    assert bundle.type == "searchset" and bundle.total == 4  # the PHQ-9 score is counselling's, not the clinic's
    observations = [Observation.model_validate(e.resource.model_dump()) for e in bundle.entry]
    by_code = {o.code.coding[-1].code: o for o in observations if o.category[0].coding[0].code == "vital-signs"}
    assert set(by_code) == {"85354-9", "8867-4", "59408-5", "8310-5"}
    panel = by_code["85354-9"]
    assert panel.valueQuantity is None and [c.code.coding[0].code for c in panel.component] == ["8480-6", "8462-4"]
    assert all(c.valueQuantity.code == "mm[Hg]" and c.valueQuantity.system == "http://unitsofmeasure.org"
               for c in panel.component)
    assert by_code["8310-5"].valueQuantity.code == "Cel" and by_code["8867-4"].valueQuantity.unit == "/min"
    for obs in observations:
        assert obs.status == "final" and obs.subject.identifier.value == STUDENT
    assert OTHER not in answer.text


def test_fhir_search_filters_by_code(as_role, screened):
    answer = as_role("clinic").get("/api/v1/fhir/Observation", params={"subject": STUDENT, "code": "8480-6"})
    bundle = Bundle.model_validate(answer.json())
    assert [e.resource.code.coding[0].code for e in bundle.entry] == ["85354-9"]


def test_screenings_are_for_the_clinic_and_questionnaires_for_counselling(as_role, screened):
    mine = as_role("clinic").get("/api/v1/screenings", params={"subject": STUDENT}).json()
    assert [len(s["measurements"]) for s in mine] == [2, 3]  # newest first
    (phq,) = as_role("counselling").get("/api/v1/questionnaires").json()
    assert (phq["subject"], phq["score"], phq["band"], phq["same_day_follow_up"]) == (STUDENT, 8, "mild", True)
    assert as_role("counselling").get("/api/v1/screenings").status_code == 403
    assert as_role("clinic").get("/api/v1/questionnaires").status_code == 403
    for role in ("admin", "staff", "facilities", "technician", "gateway"):
        assert as_role(role).get("/api/v1/screenings").status_code == 403
        assert as_role(role).get("/api/v1/questionnaires").status_code == 403
        assert as_role(role).get("/api/v1/fhir/Observation", params={"subject": STUDENT}).status_code == 403


def test_every_health_read_is_audited_with_a_pseudonym_readable_by_admin(as_role, screened, store):
    before = store.audit.count()
    as_role("clinic").get("/api/v1/fhir/Observation", params={"subject": STUDENT})
    as_role("clinic").get("/api/v1/screenings")  # a list read: one row per subject returned
    as_role("counselling").get("/api/v1/questionnaires", params={"subject": OTHER})
    assert store.audit.count() == before + 4
    about_student = as_role("admin").get("/api/v1/audit", params={"subject": STUDENT}).json()
    assert [(r["principal"], r["route"], r["results"]) for r in about_student] == [
        ("test-clinic", "/api/v1/screenings", 2), ("test-clinic", "/api/v1/fhir/Observation", 4)]
    everything = as_role("admin").get("/api/v1/audit").text
    assert STUDENT not in everything and OTHER not in everything  # pseudonyms only
    assert all(r["subject_ref"] for r in json.loads(everything))
    assert as_role("clinic").get("/api/v1/audit").status_code == 403


def fhir(client, path: str, **params):
    answer = client.get(f"/api/v1/fhir{path}", params=params)
    assert answer.headers["content-type"].startswith("application/fhir+json")
    return answer


def test_spo2_carries_the_code_the_oxygensat_profile_requires(as_role, screened):
    (entry,) = Bundle.model_validate(fhir(as_role("clinic"), "/Observation", subject=STUDENT,
                                          code="59408-5").json()).entry
    spo2 = Observation.model_validate(entry.resource.model_dump())
    assert [c.code for c in spo2.code.coding] == ["2708-6", "59408-5"]
    assert spo2.meta.profile[-1] == "http://hl7.org/fhir/StructureDefinition/oxygensat"


def test_phq9_and_gad7_are_exported_as_total_score_observations(as_role):
    gad7 = {"instrument": "GAD-7", "answers": [1, 1, 1, 0, 0, 0, 0], "score": 3}
    body = batch("north-b3", [screening(1, STUDENT, [], [PHQ9, gad7])])
    assert as_role("gateway:north-b3").post("/api/v1/ingest", content=gz(body), headers=GZIP).status_code == 200
    bundle = Bundle.model_validate(fhir(as_role("counselling"), "/Observation", subject=STUDENT).json())
    scores = {o.code.coding[0].code: o for o in (Observation.model_validate(e.resource.model_dump())
                                                 for e in bundle.entry)}
    assert {code: o.valueInteger for code, o in scores.items()} == {"44249-1": 8, "69737-5": 3}
    assert all(o.category[0].coding[0].code == "survey" for o in scores.values())


def test_a_paged_search_counts_every_match_links_the_next_page_and_each_full_url_resolves(as_role, screened):
    client = as_role("clinic")
    first = Bundle.model_validate(fhir(client, "/Observation", subject=STUDENT, _count=2).json())
    assert first.total == 4 and len(first.entry) == 2
    (following,) = [link.url for link in first.link if link.relation == "next"]
    seen = [e.fullUrl for e in first.entry]
    while following:
        page = Bundle.model_validate(client.get(following).json())
        seen += [e.fullUrl for e in page.entry]
        following = next((link.url for link in page.link if link.relation == "next"), None)
    assert len(set(seen)) == 4
    for url in seen:
        read = client.get(url)
        assert read.status_code == 200 and read.json()["id"] == url.rsplit("/", 1)[1]
        Observation.model_validate(read.json())


def test_the_fhir_base_serves_a_capability_statement_and_operation_outcomes(as_role, screened, store):
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement
    from fhir.resources.R4B.operationoutcome import OperationOutcome
    client = as_role("clinic")
    statement = CapabilityStatement.model_validate(fhir(client, "/metadata").json())
    assert statement.rest[0].resource[0].type == "Observation"
    before = store.audit.count()
    missing = fhir(client, "/Observation/0190a5a8-0000-7000-8000-000000000000-8867-4")
    assert missing.status_code == 404 and store.audit.count() == before + 1  # even a miss is audited
    bad = fhir(client, "/Observation", subject="not a card")
    assert bad.status_code == 422 and "not a card" not in bad.text
    refused = fhir(as_role("staff"), "/Observation", subject=STUDENT)
    assert refused.status_code == 403
    for answer in (missing, bad, refused):
        assert OperationOutcome.model_validate(answer.json()).issue[0].severity == "error"
