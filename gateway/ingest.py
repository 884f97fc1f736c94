"""Ingest decisions, free of I/O: is this MQTT message a valid event for this site, and how urgent is it?

A message becomes either ``Accepted`` (a valid envelope whose device and type match its topic, from a device
of the site that may send it: ``gateway.authority``) or ``Rejected`` with a stable reason slug, which the
store counts and keeps in quarantine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.authority import refusal
from onestop import topics
from onestop.errors import EnvelopeError, TopicError
from onestop.events import MAX_PAYLOAD_BYTES, Envelope, parse_event
from onestop.payloads import DeviceState
from onestop.site import DeviceEntry

# Sync order: lower goes first. Urgent health data, then presence, then telemetry.
PRIORITY = {"screening": 0, "fault": 1, "checkin": 1, "checkout": 1, "attendance": 1, "request": 1, "reading": 2,
            "heartbeat": 2, "feedback": 2}


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid event, with the raw payload as received, the gateway's receive time and the MQTT topic."""

    envelope: Envelope
    payload: bytes
    received: float
    topic: str = ""

    @property
    def priority(self) -> int:
        return PRIORITY.get(self.envelope.type, 2)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that broke the contract; kept in quarantine with its reason."""

    topic: str
    payload: bytes
    reason: str
    detail: str
    received: float


@dataclass(frozen=True, slots=True)
class StateSeen:
    """A device's birth or Will."""

    device: str
    state: DeviceState
    received: float


def classify(topic: str, payload: bytes, received: float, site: str, devices: Mapping[str, DeviceEntry],
             retained: bool = False) -> Accepted | Rejected | StateSeen:
    """Validate one message from the gateway's subscriptions (device events and device states).

    ``devices`` is the site's device table: an event from a device it does not list is refused, whatever
    it holds (least privilege). ``retained`` is the message's MQTT retain flag.
    """
    try:
        parsed = topics.parse(topic)
    except TopicError as exc:
        return Rejected(topic, payload, "topic", str(exc), received)
    if parsed.site != site or parsed.kind not in ("event", "state"):
        return Rejected(topic, payload, "topic", "not a device topic of this site", received)
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Rejected(topic, payload, "too-large", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}", received)
    if parsed.kind == "state":
        try:
            return StateSeen(parsed.device or "", DeviceState.model_validate_json(payload), received)
        except ValueError:
            return Rejected(topic, payload, "schema", "not a device state", received)
    if retained:
        # Events are never retained (CONTRACT.md); a retained one would come back on every resubscription.
        return Rejected(topic, payload, "retained", "event published with the retain flag", received)
    entry = devices.get(parsed.device or "")
    if entry is None:
        return Rejected(topic, payload, "unknown-device", f"device {parsed.device} is not registered", received)
    try:
        envelope = parse_event(payload, parsed)
    except EnvelopeError as exc:
        return Rejected(topic, payload, exc.reason, exc.detail, received)
    refused = refusal(entry, envelope)
    if refused is not None:
        return Rejected(topic, payload, "not-permitted", refused, received)
    return Accepted(envelope, payload, received, topic)
