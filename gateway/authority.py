"""Device authority, decided without I/O: may this device send this event? (CONTRACT.md, "Device authority")

MQTT's ACL lets a device write only its own ``evt`` topics, but a device's password sits on its SD card, so
the ACL alone lets a stolen kiosk say anything in its own name: a screening with alarming vitals for any
card, a check-in into any room. The gateway therefore holds every event to its sender's entry in the site
configuration (``[[devices]]``: kind, space, activity):

- its kind must allow the event type (``MAY_SEND``);
- a check-in or check-out, a student's request (work order) and feedback must be for the device's own space;
- attendance must be for the device's own activity;
- a sensor reading that names a space must name the device's own.

Least privilege where the configuration is silent: a device with no entry may send nothing (the caller
rejects it as ``unknown-device``), one without a space may check nobody in, one without an activity may
register no attendance. Refused events are quarantined as ``not-permitted``: counted, never stored as events,
never synced, never raising an alert or moving occupancy.
"""

from __future__ import annotations

from collections.abc import Iterable

from onestop.events import AttendanceData, CheckData, Envelope, FeedbackData, ReadingData, RequestData
from onestop.site import DeviceEntry

KIOSK = frozenset({"checkin", "checkout", "attendance", "request", "feedback", "heartbeat", "fault"})
MAY_SEND: dict[str, frozenset[str]] = {
    "kiosk": KIOSK,
    "health-station": KIOSK | {"screening"},
    "sensor": frozenset({"reading", "heartbeat", "fault"}),
}

DeviceTable = dict[str, DeviceEntry]


def device_table(entries: Iterable[DeviceEntry]) -> DeviceTable:
    """The site's devices by id, as ``classify`` looks them up."""
    return {entry.device: entry for entry in entries}


def refusal(entry: DeviceEntry, envelope: Envelope) -> str | None:
    """Why ``entry``'s device may not send ``envelope``, or ``None`` when it may.

    The reason names kinds, types and fields, never values: it is logged and kept in quarantine.
    """
    if envelope.type not in MAY_SEND.get(entry.kind, ()):
        return f"a {entry.kind} may not send {envelope.type} events"
    data = envelope.data
    if isinstance(data, CheckData | RequestData | FeedbackData):
        if entry.space is None or data.space != entry.space:
            return f"{envelope.type}: data.space is not the device's own space"
    elif isinstance(data, AttendanceData):
        if entry.activity is None or data.activity != entry.activity:
            return "attendance: data.activity is not the device's own activity"
    elif isinstance(data, ReadingData) and data.space is not None and data.space != entry.space:
        return "reading: data.space is not the device's own space"
    return None
