"""Alert rules and lifecycle, decided without I/O.

The lifecycle (acknowledge, resolve, assign) is a history of actions merged the same way here and at central
(``onestop.alert_history``); these functions are the gateway's way of taking one.

Health rules come from ``onestop.clinical`` (thresholds are configuration, CLINICAL.md's defaults); the
gateway evaluates them on every ``screening`` event so they work while the WAN is down. Building rules:
a space over capacity (facilities), a device offline too long or reporting a fault (technicians).

An alert's ``key`` says which alerts are "the same": while one is open, the same key raises nothing new.
"""

from __future__ import annotations

from datetime import datetime

from onestop.alert_history import SYSTEM as SYSTEM  # re-exported: the gateway's callers know them from here
from onestop.alert_history import AlertError as AlertError
from onestop.alert_history import new_action, take
from onestop.clinical import STAFF_ALERTED, Thresholds, screening_findings
from onestop.events import Envelope, ScreeningData
from onestop.ids import uuid7
from onestop.records import AlertRecord

URGENT_FIRST = {"urgent": 0, "follow-up": 1, "notice": 2}


def alert_key(record: AlertRecord) -> str:
    """Identity for de-duplication: per student for health alerts, per place or device for the rest.

    Per student, not per event: one health-station session can send an interim record (PHQ-9 item 9, sent
    the moment it is answered) and then its complete one, and counselling must get one alert, not two.
    """
    return f"{record.rule}:{record.subject or record.event_id or record.space or record.device or ''}"


def _new(site: str, at: datetime, **fields: object) -> AlertRecord:
    return AlertRecord(id=str(uuid7()), site=site, raised_at=at, updated_at=at, **fields)  # type: ignore[arg-type]


def screening_alerts(site: str, event: Envelope, thresholds: Thresholds, at: datetime,
                     space: str | None = None) -> list[AlertRecord]:
    """Alerts a screening raises (none for a normal one)."""
    if not isinstance(event.data, ScreeningData):
        return []
    return [_new(site, at, rule=f.rule, severity=f.severity, team=f.team, summary=f.summary,
                 device=event.device, space=space, event_id=event.id, subject=event.data.subject)
            for f in screening_findings(event.data, thresholds) if f.severity in STAFF_ALERTED]


def over_capacity_alert(site: str, space: str, count: int, capacity: int, at: datetime) -> AlertRecord | None:
    """A notice for facilities when a space holds more people than its capacity."""
    if count <= capacity:
        return None
    return _new(site, at, rule="over-capacity", severity="notice", team="facilities", space=space,
                summary=f"Space {space} is over capacity ({count} of {capacity})")


def device_offline_alert(site: str, device: str, minutes: float, at: datetime) -> AlertRecord:
    """A notice for technicians about a device silent for too long."""
    return _new(site, at, rule="device-offline", severity="notice", team="technicians", device=device,
                summary=f"Device {device} offline for {minutes:.0f} min")


def device_offline_key(device: str) -> str:
    """The key of a device's offline alert (``alert_key`` of ``device_offline_alert``)."""
    return f"device-offline:{device}"


def device_fault_alert(site: str, device: str, component: str, at: datetime) -> AlertRecord:
    """A notice for technicians when a device reports a fault (e.g. a card reader unplugged)."""
    return _new(site, at, rule="device-fault", severity="notice", team="technicians", device=device,
                summary=f"Device {device}: {component[:60]} fault")


def acknowledge(record: AlertRecord, who: str, at: datetime, note: str | None = None) -> AlertRecord:
    """Someone has seen the alert and is on it."""
    return take(record, new_action("acknowledge", who, at, note))


def resolve(record: AlertRecord, who: str, at: datetime, note: str | None = None) -> AlertRecord:
    """The matter is dealt with (an unacknowledged alert may be resolved directly)."""
    return take(record, new_action("resolve", who, at, note))


def assign(record: AlertRecord, who: str, at: datetime, assignee: str | None, note: str | None = None) -> AlertRecord:
    """``who`` hands the alert to ``assignee`` (``None``: to nobody in particular)."""
    return take(record, new_action("assign", who, at, note, assignee))
