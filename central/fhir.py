"""Screening measurements as FHIR R4 vital-signs Observations in a searchset Bundle (pure).

Mapping (CLINICAL.md): each measurement becomes an Observation with its LOINC code and a UCUM
``valueQuantity``, category ``vital-signs``; a screening's systolic (8480-6) and diastolic (8462-4)
readings become one blood-pressure panel (85354-9) with two components and no top-level value. The subject
is referenced by identifier (the card), as central holds no Patient resources. Codes outside the
vital-signs table are left out rather than guessed.
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


def _code(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _base(obs_id: str, event_id: str, code: str, subject: str, at: datetime, profile: str,
          device_model: str | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation", "id": obs_id,
        "meta": {"profile": [PROFILE + "vitalsigns", PROFILE + profile]},
        "identifier": [{"system": EVENT_SYSTEM, "value": f"{event_id}/{code}"}],
        "status": "final", "category": [CATEGORY],
        "subject": {"type": "Patient", "identifier": {"system": CARD_SYSTEM, "value": subject}},
        "effectiveDateTime": format_ts(at)}
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


def searchset(resources: list[dict[str, Any]], base_url: str, self_url: str, now: datetime) -> dict[str, Any]:
    """A FHIR ``searchset`` Bundle of ``resources`` (``base_url`` ends without a slash)."""
    return {"resourceType": "Bundle", "type": "searchset", "timestamp": format_ts(now), "total": len(resources),
            "link": [{"relation": "self", "url": self_url}],
            "entry": [{"fullUrl": f"{base_url}/Observation/{r['id']}", "resource": r, "search": {"mode": "match"}}
                      for r in resources]}
