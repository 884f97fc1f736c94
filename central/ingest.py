"""Ingest's pure core: decode and validate a gateway's batch, turn it into rows.

A batch is all or nothing: one invalid event rejects the whole batch with the locations of every problem
(never the values, which may be personal data), so the gateway can split it deterministically to find the
poison events. Valid batches become rows with a few columns copied out of the event for indexing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from central.errors import RequestError
from onestop.events import AnyEnvelope, untagged
from onestop.ids import SITE_PATTERN, SLUG_PATTERN
from onestop.records import AlertRecord, AlertSync, DeviceHealth, FleetSync

# Device clocks (a Pi has no RTC) are trusted only inside this window around the gateway's receive time.
# Events may wait in a kiosk's outbox for days while the LAN is down, so the past side is generous.
PLAUSIBLE_PAST = timedelta(days=7)
PLAUSIBLE_FUTURE = timedelta(minutes=2)
MAX_REPORTED_ERRORS = 100
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class IngestItem(BaseModel):
    """One event as the gateway received it."""

    received: datetime = Field(description="gateway receive time (RFC 3339 or Unix seconds)")
    envelope: AnyEnvelope


class IngestBatch(BaseModel):
    """A batch from one gateway; send it gzip-compressed with ``Content-Encoding: gzip``."""

    site: str = Field(pattern=SITE_PATTERN)
    events: list[IngestItem] = Field(max_length=50_000)


class IngestAnswer(BaseModel):
    """How many events of the batch were new, how many central already had, how many it had with other
    content (conflicts: the stored copy is kept, the ids are listed at ``GET /api/v1/events/conflicts``), and
    how many it dropped because they name a student erased at central (acknowledged all the same: the
    gateway must not send them again)."""

    new: int
    duplicates: int
    conflicts: int = 0
    erased: int = 0


Name = Annotated[str | None, Field(None, max_length=64)]


class AlertIn(AlertRecord):
    """An alert as central accepts it: the shared model, with the bounds of central's columns."""

    acknowledged_by: Name = None
    resolved_by: Name = None


class AlertSyncIn(AlertSync):
    """Body of ``POST /api/v1/alerts/sync``."""

    alerts: list[AlertIn] = Field(max_length=10_000)  # type: ignore[assignment]  # narrower items, on purpose


class DeviceHealthIn(DeviceHealth):
    """A device's health as central accepts it: the shared model, with the bounds of central's columns."""

    kind: Name = None
    fw: Name = None
    boot: Name = None
    space: str | None = Field(None, pattern=SLUG_PATTERN)


class FleetSyncIn(FleetSync):
    """Body of ``POST /api/v1/fleet/sync``."""

    devices: list[DeviceHealthIn] = Field(max_length=10_000)  # type: ignore[assignment]  # narrower items


class InvalidBatchError(RequestError):
    """The batch breaks the contract; ``problems`` holds locations and error types only."""

    status = 422

    def __init__(self, problems: list[dict[str, Any]], invalid_events: list[int]) -> None:
        super().__init__(f"invalid batch: {len(problems)} problem(s)")
        self.problems = problems
        self.invalid_events = invalid_events


def located_problems(exc: ValidationError) -> tuple[list[dict[str, Any]], list[int]]:
    """Locations and error types of a validation failure, and the indexes of the events concerned."""
    errors = exc.errors(include_input=False, include_url=False, include_context=False)
    problems = [{"loc": _contract_loc(err["loc"]), "type": err["type"]} for err in errors[:MAX_REPORTED_ERRORS]]
    invalid = sorted({int(err["loc"][1]) for err in errors
                      if len(err["loc"]) > 1 and err["loc"][0] == "events" and isinstance(err["loc"][1], int)})
    return problems, invalid


def _contract_loc(loc: tuple[int | str, ...]) -> list[int | str]:
    # ("events", 3, "envelope", "checkin", "data") as the contract names it: ["events", 3, "envelope", "data"].
    return [*loc[:3], *untagged(loc[3:])] if loc[2:3] == ("envelope",) else list(loc)


def unstorable(value: Any, loc: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """Values that validate but that a database cannot store: datetimes with no UTC equivalent in range
    (year 1 with a positive offset, ...) and strings with NUL characters (PostgreSQL text refuses them)."""
    if isinstance(value, datetime):
        try:
            value.astimezone(UTC)
        except (OverflowError, ValueError):
            return [(loc, "datetime_out_of_range")]
        return []
    if isinstance(value, str):
        return [(loc, "string_contains_nul")] if "\x00" in value else []
    if isinstance(value, BaseModel):
        return [bad for name in type(value).model_fields for bad in unstorable(getattr(value, name), (*loc, name))]
    if isinstance(value, list):
        return [bad for i, item in enumerate(value) for bad in unstorable(item, (*loc, i))]
    return []


def validate_model(model: type[M], body: bytes | bytearray) -> M:
    """Validate ``body`` as ``model``; ``InvalidBatchError`` (locations only) if any part of it is invalid."""
    try:
        parsed = model.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidBatchError(*located_problems(exc)) from None
    except OverflowError:  # a validator converting an out-of-range time to UTC
        raise InvalidBatchError([{"loc": [], "type": "datetime_out_of_range"}], []) from None
    # The walk costs about a fifth of ingest time, so run it only when the body could hold such a value:
    # a NUL is escaped in JSON, and an out-of-range time needs a year at an end of the range.
    suspicious = b"\\u0000" in body or b'"0001-' in body or b'"9999-' in body
    bad = unstorable(parsed) if suspicious else []
    if bad:
        problems = [{"loc": list(loc), "type": kind} for loc, kind in bad[:MAX_REPORTED_ERRORS]]
        events = sorted({int(loc[1]) for loc, _ in bad if len(loc) > 1 and loc[0] == "events"})
        raise InvalidBatchError(problems, events)
    return parsed


def named_card(item: IngestItem) -> str | None:
    """The student an event names: a check-in's or check-out's card, a screening's subject; else None."""
    data = item.envelope.data
    return getattr(data, "card", None) or getattr(data, "subject", None)


def drop_erased(items: Sequence[T], card_of: Callable[[T], str | None],
                pseudonyms: Callable[[str], Sequence[str]], tombstones: frozenset[str]) -> tuple[list[T], int]:
    """``items`` (events, alerts) without those naming an erased student, and how many were dropped.

    ``card_of`` names an item's student, ``pseudonyms`` gives a card's pseudonyms under every known key
    (so a tombstone written before a key rotation still matches), ``tombstones`` are the erased students'
    (``central.rights``)."""
    if not tombstones:
        return list(items), 0
    kept = [item for item in items if not _erased(card_of(item), pseudonyms, tombstones)]
    return kept, len(items) - len(kept)


def _erased(card: str | None, pseudonyms: Callable[[str], Sequence[str]], tombstones: frozenset[str]) -> bool:
    return card is not None and not tombstones.isdisjoint(pseudonyms(card))


def received_utc(item: IngestItem) -> datetime:
    """When the gateway received the event, aware (a time given without an offset is UTC)."""
    return item.received if item.received.tzinfo else item.received.replace(tzinfo=UTC)


def event_time(ts: datetime, received: datetime) -> datetime:
    """When the event happened as best we can tell: the device time if plausible, else the receive time."""
    # Written as differences so a receive time at either end of the datetime range cannot overflow.
    if -PLAUSIBLE_FUTURE <= received - ts <= PLAUSIBLE_PAST:
        return ts
    return received


EVENT_COLUMNS = ("id", "site", "device", "seq", "type", "ts", "received", "ingested", "data", "at", "space",
                 "subject")


def derived_columns(event_type: str, ts: datetime, received: datetime, data: Mapping[str, Any]) -> dict[str, Any]:
    """The indexed columns copied out of an event: ``at``, ``space``, ``subject``."""
    space = data.get("space") if event_type in ("checkin", "checkout", "reading", "feedback") else None
    subject = data.get("subject") if event_type == "screening" else None
    return {"at": event_time(ts, received), "space": space, "subject": subject}


def event_rows(site: str, items: Sequence[IngestItem], now: datetime,
               stored_time: Callable[[datetime], Any]) -> list[tuple[Any, ...]]:
    """Rows for the ``events`` table, values in ``EVENT_COLUMNS`` order: times as ``stored_time`` gives them
    (the database's form), ``data`` as JSON text."""
    ingested = stored_time(now)
    rows = []
    for item in items:
        env, received = item.envelope, received_utc(item)
        derived = derived_columns(env.type, env.ts, received, vars(env.data))
        ts, received_at = stored_time(env.ts), stored_time(received)
        rows.append((env.id, site, env.device, env.seq, env.type, ts, received_at, ingested,
                     env.data.model_dump_json(), ts if derived["at"] is env.ts else received_at,
                     derived["space"], derived["subject"]))
    return rows


_ID, _SITE, _DEVICE, _SEQ, _TYPE, _TS, _DATA, _SPACE = (EVENT_COLUMNS.index(c) for c in (
    "id", "site", "device", "seq", "type", "ts", "data", "space"))


def event_content(row: Sequence[Any]) -> tuple[Any, ...]:
    """What makes an event that event, for comparing two with one id: not when the gateway received it.

    ``data`` is the JSON text ingest wrote (both databases keep it verbatim: SQLite text, PostgreSQL
    ``json``); ``same_content`` parses it only when the texts differ."""
    return row[_SITE], row[_DEVICE], row[_SEQ], row[_TYPE], row[_TS], row[_DATA]


def same_content(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Whether two ``event_content``s are one event (data spelt differently, e.g. by an older release, is equal)."""
    return a[:-1] == b[:-1] and (a[-1] == b[-1] or json.loads(a[-1]) == json.loads(b[-1]))


@dataclass(frozen=True, slots=True)
class BatchSort:
    """What a stored batch held besides new events and plain duplicates."""

    conflicts: list[tuple[str, str]]  # (event id, device) of events whose id was known with other content
    unknown_space: int  # new events naming a space the site's configuration lacks


def sort_batch(rows: Sequence[Sequence[Any]], all_new: bool, stored: Mapping[str, tuple[Any, ...]],
               spaces: frozenset[str]) -> BatchSort:
    """Conflicts and unknown-space events of a batch of ``event_rows`` just inserted.

    ``stored`` holds the ``event_content`` of the batch's ids that were in the database before it; it is
    fetched only when the insert skipped rows (``all_new`` false), so the usual all-new batch costs one pass
    over the space column. A repeated id inside the batch is compared with its first occurrence.
    """
    if all_new:
        return BatchSort([], sum(1 for row in rows if row[_SPACE] is not None and row[_SPACE] not in spaces))
    first: dict[str, int] = {}
    conflicts: list[tuple[str, str]] = []
    unknown = 0
    for index, row in enumerate(rows):
        event_id = row[_ID]
        if event_id in stored or event_id in first:
            known = stored[event_id] if event_id in stored else event_content(rows[first[event_id]])
            if not same_content(event_content(row), known):
                conflicts.append((event_id, row[_DEVICE]))
            continue
        first[event_id] = index
        unknown += row[_SPACE] is not None and row[_SPACE] not in spaces
    return BatchSort(conflicts, unknown)
