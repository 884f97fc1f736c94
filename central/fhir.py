"""Screening measurements as FHIR R4 vital-signs Observations in a searchset Bundle (pure).

Mapping (CLINICAL.md): each measurement becomes an Observation with its LOINC code and a UCUM
``valueQuantity``, category ``vital-signs``; a screening's systolic (8480-6) and diastolic (8462-4)
readings become one blood-pressure panel (85354-9) with two components and no top-level value. SpO2 carries
2708-6, which the R4 ``oxygensat`` profile requires, and 59408-5 too when measured by pulse oximetry. A
PHQ-9 or GAD-7 becomes a ``survey`` Observation of its total score (44249-1 / 69737-5, ``valueInteger``).
The subject is referenced by identifier (the card), as central holds no Patient resources. Codes outside
these tables are left out rather than guessed. Resource ids are ``<event id>-<code>``, so one resolves to
its event again (``split_id``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from onestop import clinical
from onestop.events import format_ts

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CATEGORY = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs", "display": "Vital Signs"}], "text": "Vital Signs"}
SURVEY = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                      "code": "survey", "display": "Survey"}], "text": "Survey"}
CARD_SYSTEM = "urn:onestop:card"
EVENT_SYSTEM = "urn:onestop:event"
PROFILE = "http://hl7.org/fhir/StructureDefinition/"

# LOINC code -> (display, vital-signs profile); the codes and their units are stated in onestop/clinical.py.
VITALS: dict[str, tuple[str, str]] = {
    clinical.HEART_RATE: ("Heart rate", "heartrate"),
    clinical.SPO2: ("Oxygen saturation in Arterial blood by Pulse oximetry", "oxygensat"),
    clinical.SPO2_ARTERIAL: ("Oxygen saturation in Arterial blood", "oxygensat"),
    clinical.BODY_TEMPERATURE: ("Body temperature", "bodytemp"),
    clinical.BODY_WEIGHT: ("Body weight", "bodyweight"),
    clinical.BODY_HEIGHT: ("Body height", "bodyheight"),
    clinical.BMI: ("Body mass index (BMI) [Ratio]", "bmi"),
}
SYSTOLIC, DIASTOLIC, BP_PANEL = clinical.SYSTOLIC, clinical.DIASTOLIC, clinical.BP_PANEL
BP_PARTS = {SYSTOLIC: "Systolic blood pressure", DIASTOLIC: "Diastolic blood pressure"}
SCORES = {"PHQ-9": (clinical.PHQ9_TOTAL, "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"),
          "GAD-7": (clinical.GAD7_TOTAL, "Generalized anxiety disorder 7 item (GAD-7) total score [Reported]")}
EVENT_ID_LENGTH = 36  # a UUID


def split_id(resource_id: str) -> tuple[str, str] | None:
    """``(event id, code)`` of an Observation id this module made, or None."""
    event_id, dash, code = resource_id[:EVENT_ID_LENGTH], resource_id[EVENT_ID_LENGTH:EVENT_ID_LENGTH + 1], \
        resource_id[EVENT_ID_LENGTH + 1:]
    return (event_id, code) if dash == "-" and code else None


def _code(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _base(obs_id: str, event_id: str, code: str, subject: str, at: datetime, profile: str | None,
          device_model: str | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation", "id": obs_id,
        "identifier": [{"system": EVENT_SYSTEM, "value": f"{event_id}/{code}"}],
        "status": "final", "category": [CATEGORY if profile else SURVEY],
        "subject": {"type": "Patient", "identifier": {"system": CARD_SYSTEM, "value": subject}},
        "effectiveDateTime": format_ts(at)}
    if profile:
        resource["meta"] = {"profile": [PROFILE + "vitalsigns", PROFILE + profile]}
    if device_model:
        resource["device"] = {"display": device_model}
    return resource


def observations(event_id: str, subject: str, at: datetime, measurements: Iterable[dict[str, Any]],
                 codes: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """The Observations of one screening event (optionally only those with a code in ``codes``)."""
    out: list[dict[str, Any]] = []
    bp: dict[str, dict[str, Any]] = {}
    for m in measurements:
        code = m["code"]
        if code in BP_PARTS:
            bp.setdefault(code, m)
        elif code in VITALS and (codes is None or code in codes):
            display, profile = VITALS[code]
            resource = _base(f"{event_id}-{code}", event_id, code, subject, at, profile, m.get("device_model"))
            resource["code"] = _code(code, display)
            if code in clinical.SPO2_CODES:  # the profile's required coding first, the method's after it
                general = VITALS[clinical.SPO2_ARTERIAL][0]
                resource["code"] = _code(clinical.SPO2_ARTERIAL, general)
                if code == clinical.SPO2:
                    resource["code"]["coding"].append(_code(code, display)["coding"][0])
                    resource["code"]["text"] = display
            resource["valueQuantity"] = _quantity(m["value"], m["unit"])
            out.append(resource)
    if bp and (codes is None or BP_PANEL in codes or codes & set(bp)):
        model = next((m.get("device_model") for m in bp.values() if m.get("device_model")), None)
        panel = _base(f"{event_id}-{BP_PANEL}", event_id, BP_PANEL, subject, at, "bp", model)
        panel["code"] = _code(BP_PANEL, "Blood pressure panel with all children optional")
        panel["component"] = [{"code": _code(code, BP_PARTS[code]), "valueQuantity": _quantity(m["value"], m["unit"])}
                              for code, m in sorted(bp.items(), key=lambda kv: kv[0] != SYSTOLIC)]
        out.insert(0, panel)
    return out


def scores(event_id: str, subject: str, at: datetime, questionnaires: Iterable[dict[str, Any]],
           codes: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """The total-score Observations of one screening's questionnaires."""
    out = []
    for q in questionnaires:
        code, display = SCORES.get(q.get("instrument", ""), (None, ""))
        if code is None or (codes is not None and code not in codes):
            continue
        resource = _base(f"{event_id}-{code}", event_id, code, subject, at, None, None)
        resource["code"] = _code(code, display)
        resource["valueInteger"] = q["score"]
        out.append(resource)
    return out


def searchset(page: list[dict[str, Any]], total: int, base_url: str, self_url: str, next_url: str | None,
              now: datetime) -> dict[str, Any]:
    """A FHIR ``searchset`` Bundle of one ``page`` of ``total`` matches (``base_url`` ends without a slash)."""
    links = [{"relation": "self", "url": self_url}] + ([{"relation": "next", "url": next_url}] if next_url else [])
    return {"resourceType": "Bundle", "type": "searchset", "timestamp": format_ts(now), "total": total,
            "link": links,
            "entry": [{"fullUrl": f"{base_url}/Observation/{r['id']}", "resource": r, "search": {"mode": "match"}}
                      for r in page]}


def operation_outcome(code: str, message: str) -> dict[str, Any]:
    """A FHIR OperationOutcome of one error (``code`` from the issue-type value set: invalid, not-found, ...)."""
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": message}]}


def capability_statement(base_url: str, version: str, now: datetime) -> dict[str, Any]:
    """What this FHIR endpoint serves: Observation search by subject and code, and read."""
    return {"resourceType": "CapabilityStatement", "status": "active", "date": format_ts(now), "kind": "instance",
            "software": {"name": "onestop central", "version": version},
            "implementation": {"description": "onestop central FHIR export", "url": base_url},
            "fhirVersion": "4.0.1", "format": ["application/fhir+json"],
            "rest": [{"mode": "server", "resource": [{
                "type": "Observation", "interaction": [{"code": "read"}, {"code": "search-type"}],
                "searchParam": [{"name": "subject", "type": "reference"}, {"name": "code", "type": "token"},
                                {"name": "_count", "type": "number"}, {"name": "_offset", "type": "number"}]}]}]}
