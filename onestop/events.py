"""The event envelope and the ``data`` model of every event type (CONTRACT.md, "Event envelope").

An event is created once on a device, given a UUIDv7 ``id`` and the device's next ``seq``, and keeps that id
from the device's outbox through the gateway to the central service; the id is the deduplication key.

Example::

    {"v": 1, "id": "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11", "device": "kiosk-b3-lobby", "seq": 1842,
     "ts": "2026-11-22T13:05:07.214Z", "type": "checkin",
     "data": {"space": "study-24h-2f", "card": "922E5832", "via": "tap", "reservation": null}}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from onestop.errors import EnvelopeError
from onestop.ids import CARD_PATTERN, DEVICE_PATTERN, SLUG_PATTERN, uuid7
from onestop.topics import Topic

MAX_PAYLOAD_BYTES = 16 * 1024
# The broker disconnects any client that sends a larger MQTT packet (max_packet_size): room for an event and
# its topic, and for the gateway's retained device configuration, which it keeps below this.
MAX_PACKET_BYTES = 64 * 1024
# Every number in the contract has bounds that SQLite's 64-bit integers, JSON readers that hold numbers as
# doubles (JavaScript) and the gateway's arithmetic (sequence gaps, counters) all handle exactly.
MAX_SEQ = 2**53 - 1
MAX_COUNT = 2**31 - 1  # counts a device reports (outbox depth): what central's INTEGER columns hold
MAX_MAGNITUDE = 1e12  # measured values and readings: far beyond any real sensor, finite
MAX_UPTIME_S = 10 * 366 * 86400.0
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

Card = Annotated[str, Field(pattern=CARD_PATTERN, description="normalised card id (personal data)")]
Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
Number = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE)]
# A heartbeat may carry extra diagnostic fields: flat scalars only, each bounded (no NaN, no huge strings).
HeartbeatExtra = (bool | Annotated[int, Field(ge=-MAX_SEQ, le=MAX_SEQ)] | Number
                  | Annotated[str, Field(max_length=500)] | None)
MAX_HEARTBEAT_EXTRAS = 16


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class CheckData(_Data):
    """``checkin`` / ``checkout``: a card entering or leaving a space."""

    space: Slug
    card: Card
    via: Literal["tap", "auto", "staff"] = "tap"
    reservation: str | None = Field(default=None, min_length=1, max_length=64)


class AttendanceData(_Data):
    """``attendance``: a card registered at an activity."""

    activity: Slug
    card: Card


class Measurement(_Data):
    """One vital-sign measurement: LOINC code, value, UCUM unit."""

    code: str = Field(pattern=r"^[0-9]{1,7}-[0-9]$", description="LOINC code")
    value: Number
    unit: str = Field(min_length=1, max_length=16, description="UCUM unit")
    device_model: str | None = Field(default=None, max_length=64)


class Questionnaire(_Data):
    """A completed PHQ-9 or GAD-7 questionnaire."""

    instrument: Literal["PHQ-9", "GAD-7"]
    answers: list[Annotated[int, Field(ge=0, le=3)]] = Field(max_length=9)
    score: int = Field(ge=0, le=27)

    @model_validator(mode="after")
    def _consistent(self) -> Questionnaire:
        expected = 9 if self.instrument == "PHQ-9" else 7
        if len(self.answers) != expected:
            raise ValueError(f"{self.instrument} has {expected} answers, got {len(self.answers)}")
        if sum(self.answers) != self.score:
            raise ValueError(f"score {self.score} is not the sum of the answers ({sum(self.answers)})")
        return self


class Consent(_Data):
    """The student's consent to this screening: which wording they read (a version slug) and when they agreed."""

    version: Slug = Field(max_length=32, description="version of the consent text shown")
    at: datetime = Field(description="when the student agreed, UTC RFC 3339")

    @field_validator("at")
    @classmethod
    def _aware(cls, at: datetime) -> datetime:
        if at.tzinfo is None:
            raise ValueError("consent time must carry a UTC offset")
        return at.astimezone(UTC)

    @field_serializer("at")
    def _wire_at(self, at: datetime) -> str:
        return format_ts(at)


class ScreeningData(_Data):
    """``screening``: one health-station session's measurements and questionnaires.

    ``consent`` is optional in contract v1 so that stations in the field that predate it still deliver
    (docs/decisions.md, "Consent travels with the screening"); every current station sends it.
    """

    subject: Card
    session: str = Field(pattern=UUID_PATTERN)
    complete: bool
    measurements: list[Measurement] = Field(default_factory=list, max_length=64)
    questionnaires: list[Questionnaire] = Field(default_factory=list, max_length=4)
    consent: Consent | None = None


class ReadingData(_Data):
    """``reading``: a sensor node's reading (LOINC code where one exists, else a short name)."""

    sensor: str = Field(min_length=1, max_length=64)
    code: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    value: Number
    unit: str = Field(min_length=1, max_length=16)
    space: Slug | None = None


class HeartbeatData(BaseModel):
    """``heartbeat``: at least once a minute; extra diagnostic fields are allowed."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)
    __pydantic_extra__: dict[str, HeartbeatExtra] = Field(init=False)  # type: ignore[assignment]
    uptime_s: float = Field(ge=0, le=MAX_UPTIME_S)
    outbox: int = Field(ge=0, le=MAX_COUNT)

    @model_validator(mode="after")
    def _few_extras(self) -> HeartbeatData:
        extra = self.__pydantic_extra__ or {}
        if len(extra) > MAX_HEARTBEAT_EXTRAS or any(len(key) > 64 for key in extra):
            raise ValueError(f"at most {MAX_HEARTBEAT_EXTRAS} extra fields, names of at most 64 characters")
        return self


class FaultData(_Data):
    """``fault``: a component of the device failed (for example a card reader unplugged)."""

    component: str = Field(min_length=1, max_length=64)
    error: str = Field(min_length=1, max_length=500)


class RequestData(_Data):
    """``request``: a student's problem report or service request from a kiosk (docs/work-orders.md).

    ``card`` is the student's card when they asked for a reply (it lets them see the state later), null when
    anonymous; ``category`` is one of the site's categories (``onestop.work_orders``).
    """

    category: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    space: Slug
    card: Card | None = None
    note: str | None = Field(default=None, min_length=1, max_length=200)


class FeedbackData(_Data):
    """``feedback``: one anonymous answer to a kiosk's question about its space after a checkout
    (docs/work-orders.md, "Feedback"). No card and nothing else that names the student: only the space, the
    question's slug and a rating from 1 (poor) to 5 (very good)."""

    space: Slug
    question: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    rating: int = Field(ge=1, le=5)


EventType = Literal["checkin", "checkout", "attendance", "screening", "reading", "heartbeat", "fault", "request",
                    "feedback"]
DATA_MODELS: dict[str, type[BaseModel]] = {
    "checkin": CheckData,
    "checkout": CheckData,
    "attendance": AttendanceData,
    "screening": ScreeningData,
    "reading": ReadingData,
    "heartbeat": HeartbeatData,
    "fault": FaultData,
    "request": RequestData,
    "feedback": FeedbackData,
}
EventData = (CheckData | AttendanceData | ScreeningData | ReadingData | HeartbeatData | FaultData | RequestData
             | FeedbackData)


def utcnow() -> datetime:
    """The current UTC time (the single clock read used for timestamps)."""
    return datetime.now(UTC)


def as_utc(ts: datetime) -> datetime:
    """``ts`` with its offset, or as UTC when it has none (a time without an offset is UTC, as on the wire)."""
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def format_ts(ts: datetime) -> str:
    """RFC 3339 UTC with milliseconds and ``Z``, as the contract shows."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


# Every event is an instance of the subclass of its type (``CheckinEnvelope``, ...), which narrows ``type`` and
# ``data``. Validating ``Envelope`` picks that subclass by ``type`` inside pydantic-core (the discriminated union
# ``ENVELOPE``), with no Python code per event to choose the data model: central validates every event of every
# building, so this is a hot path. (The docstring below is the contract's description of the envelope.)
class Envelope(BaseModel):
    """The event envelope; ``data`` is validated against the model of ``type``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    id: str = Field(pattern=UUID_PATTERN, description="UUIDv7, the deduplication key")
    device: str = Field(pattern=DEVICE_PATTERN)
    seq: int = Field(ge=0, le=MAX_SEQ, description="per-device counter, strictly increasing")
    ts: datetime = Field(description="device clock, UTC RFC 3339; may be wrong")
    type: EventType
    data: EventData

    @field_validator("ts")
    @classmethod
    def _aware(cls, ts: datetime) -> datetime:
        if ts.tzinfo is UTC and not ts.microsecond % 1000:
            return ts  # the wire form of the contract (``…Z``, milliseconds): nothing to normalise
        if ts.tzinfo is None:
            raise ValueError("timestamp must carry a UTC offset")
        try:
            utc = ts.astimezone(UTC)
        except OverflowError:  # e.g. year 1 with a positive offset: no UTC equivalent in range
            raise ValueError("timestamp has no UTC equivalent in range") from None
        # The wire form has millisecond precision; keep the same here so an event equals its wire form.
        return utc.replace(microsecond=ts.microsecond // 1000 * 1000)

    @field_serializer("ts")
    def _ts(self, ts: datetime) -> str:
        return format_ts(ts)

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Validate ``obj``; on ``Envelope`` itself, as the subclass of its ``type``."""
        if cls is Envelope:
            return ENVELOPE.validate_python(obj, **kwargs)  # type: ignore[return-value]
        return super().model_validate(obj, **kwargs)

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
        """Validate JSON; on ``Envelope`` itself, as the subclass of its ``type``."""
        if cls is Envelope:
            return ENVELOPE.validate_json(json_data, **kwargs)  # type: ignore[return-value]
        return super().model_validate_json(json_data, **kwargs)

    def to_json(self) -> bytes:
        """The wire form: compact UTF-8 JSON."""
        return self.model_dump_json(exclude_none=False).encode()


class CheckinEnvelope(Envelope):
    """A ``checkin`` event."""

    type: Literal["checkin"]
    data: CheckData


class CheckoutEnvelope(Envelope):
    """A ``checkout`` event."""

    type: Literal["checkout"]
    data: CheckData


class AttendanceEnvelope(Envelope):
    """An ``attendance`` event."""

    type: Literal["attendance"]
    data: AttendanceData


class ScreeningEnvelope(Envelope):
    """A ``screening`` event."""

    type: Literal["screening"]
    data: ScreeningData


class ReadingEnvelope(Envelope):
    """A ``reading`` event."""

    type: Literal["reading"]
    data: ReadingData


class HeartbeatEnvelope(Envelope):
    """A ``heartbeat`` event."""

    type: Literal["heartbeat"]
    data: HeartbeatData


class FaultEnvelope(Envelope):
    """A ``fault`` event."""

    type: Literal["fault"]
    data: FaultData


class RequestEnvelope(Envelope):
    """A ``request`` event."""

    type: Literal["request"]
    data: RequestData


class FeedbackEnvelope(Envelope):
    """A ``feedback`` event."""

    type: Literal["feedback"]
    data: FeedbackData


AnyEnvelope = Annotated[CheckinEnvelope | CheckoutEnvelope | AttendanceEnvelope | ScreeningEnvelope
                        | ReadingEnvelope | HeartbeatEnvelope | FaultEnvelope | RequestEnvelope | FeedbackEnvelope,
                        Field(discriminator="type")]
"""Annotation for a field holding any event: validated as the subclass of its ``type``."""
ENVELOPE: TypeAdapter[Envelope] = TypeAdapter(AnyEnvelope)


def new_event(device: str, seq: int, event_type: str, data: dict[str, Any] | BaseModel,
              ts: datetime | None = None) -> Envelope:
    """Create an event with a fresh UUIDv7 id; raises ``EnvelopeError`` if it breaks the contract."""
    raw = data.model_dump() if isinstance(data, BaseModel) else data
    try:
        return Envelope.model_validate({"id": str(uuid7()), "device": device, "seq": seq,
                                        "ts": ts or utcnow(), "type": event_type, "data": raw})
    except ValidationError as exc:
        raise EnvelopeError("schema", _summarise(exc)) from exc


def untagged(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """An envelope's error location as the contract names it: without the event type that the discriminated
    union puts first (``("checkin", "data", "card")`` becomes ``("data", "card")``)."""
    return loc[1:] if loc and loc[0] in DATA_MODELS else loc


def _summarise(exc: ValidationError) -> str:
    # Field paths and messages only: input values may be personal data and must not reach logs.
    parts = [f"{'.'.join(str(p) for p in untagged(err['loc'])) or '<root>'}: {err['msg']}" for err in exc.errors()[:5]]
    return "; ".join(parts)


def _rejection(exc: ValidationError) -> EnvelopeError:
    errors = exc.errors()
    kinds = {err["type"] for err in errors}
    if kinds & {"json_invalid", "json_type"} or any(e["type"] == "dict_type" and not e["loc"] for e in errors):
        return EnvelopeError("invalid-json" if "json_invalid" in kinds else "schema", "payload is not a JSON object")
    if any(untagged(err["loc"]) == ("v",) for err in errors):
        return EnvelopeError("version", "unsupported envelope version")
    return EnvelopeError("schema", _summarise(exc))


def parse_event(payload: bytes, topic: Topic | None = None) -> Envelope:
    """Validate a raw MQTT payload as an envelope, checking it against its topic when given.

    Raises ``EnvelopeError`` with a ``reason`` of ``too-large``, ``invalid-json``, ``version``, ``schema``,
    ``device-mismatch`` or ``type-mismatch``.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise EnvelopeError("too-large", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        envelope = ENVELOPE.validate_json(payload)  # one pass in pydantic-core: the hot path
    except ValidationError as exc:
        raise _rejection(exc) from None
    if topic is not None:
        if topic.device != envelope.device:
            raise EnvelopeError("device-mismatch", "envelope device differs from the topic's device")
        if topic.event_type != envelope.type:
            raise EnvelopeError("type-mismatch", "envelope type differs from the topic's type segment")
    return envelope
