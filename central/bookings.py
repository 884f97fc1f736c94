"""Bookings from a university's booking system, read and expanded — pure: no database, no clock, no I/O.

A booking system sends the bookings of one space as an iCalendar (RFC 5545) document or as JSON (the same
fields, for systems without iCalendar); both become ``Booking`` values: one per event ``UID`` (a recurring
event and its overridden instances share a UID), with its ``SEQUENCE``, its holder's e-mail (the first
``ATTENDEE`` with a ``mailto:`` address), and its occurrences expanded (RRULE, RDATE, EXDATE, overrides, by
``recurring-ical-events``) inside a window around now, start and end in UTC.

Everything is bounded where it enters: the body (``MAX_BODY_BYTES``, checked by the route), the events in one
body (``MAX_EVENTS``), the recurrence frequency (daily or slower: a seat is not booked by the minute), the
occurrences one booking may have in the window (``MAX_OCCURRENCES``), one occurrence's length
(``MAX_DURATION``). A bad event is reported with its UID and reason and never stops the others; a body that is
not iCalendar (or JSON) at all is refused whole (``BookingFormatError``).

Times: ``TZID`` times are converted with the zone they name (the VTIMEZONE in the file when there is one,
else the IANA zone), ``Z`` times are UTC, floating times (no zone) are in ``local_zone`` (central's
``timezone`` setting). All-day (date-only) events are refused: a booking holds a seat for hours.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import islice
from typing import Any, Literal

import icalendar
import recurring_ical_events
from pydantic import BaseModel, ConfigDict, Field

from central.directory import EMAIL_PATTERN
from central.errors import RequestError

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_EVENTS = 2000  # VEVENT components (or JSON items) in one body
MAX_OCCURRENCES = 400  # of one booking inside the window: a weekday booking for the window is about 90
MAX_DURATION = timedelta(hours=24)
MAX_RAW = 16 * 1024  # characters of one booking's stored iCalendar text
WINDOW_BEFORE = timedelta(days=1)
WINDOW_AFTER = timedelta(days=120)
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
STATUSES = ("CONFIRMED", "TENTATIVE", "CANCELLED")
UID_PATTERN = r"^[\x21-\x7e]{1,255}$"  # printable ASCII without spaces: what booking systems put in UID
_UID = re.compile(UID_PATTERN)
_EMAIL = re.compile(EMAIL_PATTERN)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # no database stores NUL; none belongs here
_VOLATILE = ("DTSTAMP", "LAST-MODIFIED", "CREATED")  # change on every export, not with the booking


class BookingFormatError(RequestError):
    """The body as a whole is not a bookings document (not iCalendar or JSON, too many events): 400."""


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One time a booking holds its seat, in UTC; its status may differ from the series' (a cancelled instance)."""

    start: datetime
    end: datetime
    status: str


@dataclass(frozen=True, slots=True)
class Booking:
    """One event UID of the booking system: its version, holder, rule and occurrences inside the window."""

    uid: str
    sequence: int
    stamp: datetime | None  # DTSTAMP: breaks a tie between two versions with the same SEQUENCE (RFC 5546)
    status: str
    holder_email: str | None
    rrule: str | None
    raw: str  # the event's components as iCalendar text, DTSTAMP removed (re-expanded from this later)
    digest: str  # of ``raw``: the same booking exported again has the same digest
    occurrences: tuple[Occurrence, ...]


@dataclass(frozen=True, slots=True)
class Rejected:
    """An event that was not imported: its UID (when it had one) and why."""

    uid: str | None
    reason: str


class BookingIn(BaseModel):
    """One booking in the JSON form of the import (``application/json``: a list of these)."""

    model_config = ConfigDict(extra="forbid")
    uid: str = Field(pattern=UID_PATTERN, description="the booking system's id of the booking (iCalendar UID)")
    sequence: int = Field(0, ge=0, le=2**31 - 1, description="its version: a higher one replaces a lower one")
    start: datetime = Field(description="RFC 3339 with an offset (a time without one is UTC)")
    end: datetime
    status: Literal["confirmed", "tentative", "cancelled"] = "confirmed"
    holder_email: str | None = Field(None, max_length=254, pattern=EMAIL_PATTERN,
                                     description="looked up in the card directory (any case)")
    rrule: str | None = Field(None, max_length=300, description="an RFC 5545 RRULE value, e.g. FREQ=WEEKLY;COUNT=10")


def window(now: datetime) -> tuple[datetime, datetime]:
    """The span occurrences are expanded in: from a day before ``now`` to 120 days after it."""
    return now - WINDOW_BEFORE, now + WINDOW_AFTER


def parse_ical(data: bytes, now: datetime, local_zone: tzinfo) -> tuple[list[Booking], list[Rejected]]:
    """The bookings of an iCalendar document, and the events refused with their reasons."""
    try:
        calendar = icalendar.Calendar.from_ical(data.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError, KeyError, IndexError) as exc:
        raise BookingFormatError(f"not an iCalendar document: {str(exc)[:200]}") from None
    if not isinstance(calendar, icalendar.Calendar) or calendar.name != "VCALENDAR":
        raise BookingFormatError("not an iCalendar document (it must begin with BEGIN:VCALENDAR)")
    return _expand_calendar(calendar, now, local_zone)


def parse_json(items: list[BookingIn], now: datetime, local_zone: tzinfo) -> tuple[list[Booking], list[Rejected]]:
    """The JSON form: each item made into a VEVENT, then read exactly like an iCalendar import."""
    if len(items) > MAX_EVENTS:
        raise BookingFormatError(f"more than {MAX_EVENTS} bookings in one request")
    calendar = icalendar.Calendar()
    for item in items:
        event = icalendar.Event()
        event.add("UID", item.uid)
        event.add("SEQUENCE", item.sequence)
        event.add("DTSTART", _utc(item.start))
        event.add("DTEND", _utc(item.end))
        event.add("STATUS", item.status.upper())
        if item.holder_email:
            event.add("ATTENDEE", "mailto:" + item.holder_email)
        if item.rrule:
            try:
                event.add("RRULE", icalendar.vRecur.from_ical(item.rrule))
            except ValueError:
                event.add("X-BAD-RRULE", item.rrule)  # reported below with the event's UID
        calendar.add_component(event)
    return _expand_calendar(calendar, now, local_zone)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _expand_calendar(calendar: icalendar.Calendar, now: datetime,
                     local_zone: tzinfo) -> tuple[list[Booking], list[Rejected]]:
    events = list(calendar.walk("VEVENT"))
    if len(events) > MAX_EVENTS:
        raise BookingFormatError(f"more than {MAX_EVENTS} events in one calendar")
    zones = list(calendar.walk("VTIMEZONE"))
    by_uid: dict[str, list[icalendar.Event]] = {}
    rejected: list[Rejected] = []
    for event in events:
        uid = str(event.get("UID", "")).strip()
        if not _UID.fullmatch(uid):
            rejected.append(Rejected(None, "no UID, or not 1 to 255 printable ASCII characters without spaces"))
            continue
        by_uid.setdefault(uid, []).append(event)
    bookings: list[Booking] = []
    for uid, components in by_uid.items():
        try:
            bookings.append(_booking(uid, components, zones, now, local_zone))
        except _EventError as exc:
            rejected.append(Rejected(uid, str(exc)))
    return bookings, rejected


class _EventError(ValueError):
    """One event cannot be imported (the reason is reported with its UID)."""


def _booking(uid: str, components: list[icalendar.Event], zones: list[Any], now: datetime,
             local_zone: tzinfo) -> Booking:
    masters = [c for c in components if "RECURRENCE-ID" not in c]
    if len(masters) != 1:
        raise _EventError(f"{len(masters)} events with this UID and no RECURRENCE-ID (one expected)")
    master = masters[0]
    rrule = master.get("RRULE")
    if "X-BAD-RRULE" in master or (rrule is not None and not isinstance(rrule, list) and "FREQ" not in rrule):
        raise _EventError("RRULE: not an RFC 5545 recurrence rule")
    try:
        sequences = [int(c.get("SEQUENCE", 0)) for c in components]
    except (TypeError, ValueError):
        raise _EventError("SEQUENCE is not a number") from None
    status = str(master.get("STATUS", "CONFIRMED")).upper()
    if status not in STATUSES:
        raise _EventError(f"STATUS {status[:20]!r} is not one of {', '.join(STATUSES)}")
    if isinstance(rrule, list):
        raise _EventError("more than one RRULE")
    if rrule is not None and str(rrule.get("FREQ", [""])[0]).upper() not in FREQUENCIES:
        raise _EventError(f"RRULE FREQ must be one of {', '.join(FREQUENCIES)}")
    for component in components:
        start = component.get("DTSTART")
        if start is None:
            raise _EventError("no DTSTART")
        if not isinstance(start.dt, datetime):
            raise _EventError("an all-day event (DTSTART is a date): a booking needs start and end times")
    occurrences = _occurrences(components, zones, now, local_zone)
    raw = _raw(components)
    stamps = [c.decoded("DTSTAMP") for c in components if "DTSTAMP" in c]
    stamp = max((_aware(s, local_zone) for s in stamps if isinstance(s, datetime)), default=None)
    return Booking(uid=uid, sequence=max(sequences), stamp=stamp, status=status,
                   holder_email=_holder_email(master), rrule=rrule.to_ical().decode() if rrule else None,
                   raw=raw, digest=hashlib.sha256(raw.encode()).hexdigest(), occurrences=occurrences)


def _aware(value: datetime, local_zone: tzinfo) -> datetime:
    return (value.replace(tzinfo=local_zone) if value.tzinfo is None else value).astimezone(UTC)


def _occurrences(components: list[icalendar.Event], zones: list[Any], now: datetime,
                 local_zone: tzinfo) -> tuple[Occurrence, ...]:
    one = icalendar.Calendar()
    for zone in zones:
        one.add_component(zone)
    for component in components:
        one.add_component(component)
    start, end = window(now)
    found: list[Occurrence] = []
    try:
        # In start order, so the walk stops at the window's end or one past the bound, whatever the rule.
        for event in islice(recurring_ical_events.of(one).after(start), MAX_OCCURRENCES + 1):
            begins = event.get("DTSTART").dt
            if not isinstance(begins, datetime):
                raise _EventError("an all-day occurrence: a booking needs start and end times")
            begins = _aware(begins, local_zone)
            if begins >= end:
                break
            ends = event.get("DTEND").dt if "DTEND" in event else None
            ends = _aware(ends, local_zone) if isinstance(ends, datetime) else begins
            if not begins < ends <= begins + MAX_DURATION:
                raise _EventError(f"an occurrence must end after it starts and last at most {MAX_DURATION}")
            found.append(Occurrence(begins, ends, str(event.get("STATUS", "CONFIRMED")).upper()))
    except (ValueError, TypeError, OverflowError) as exc:
        if isinstance(exc, _EventError):
            raise
        raise _EventError(f"cannot expand the event: {str(exc)[:200]}") from None
    if len(found) > MAX_OCCURRENCES:
        raise _EventError(f"more than {MAX_OCCURRENCES} occurrences between {start:%Y-%m-%d} and {end:%Y-%m-%d}")
    return tuple(found)


def _holder_email(event: icalendar.Event) -> str | None:
    attendees = event.get("ATTENDEE")
    for attendee in attendees if isinstance(attendees, list) else [attendees] if attendees else []:
        address = str(attendee)
        if address.lower().startswith("mailto:") and _EMAIL.fullmatch(address[7:].strip()):
            return address[7:].strip().lower()
    return None


def _raw(components: Iterable[icalendar.Event]) -> str:
    texts = []
    for component in components:
        copy = icalendar.Event.from_ical(component.to_ical())
        for name in _VOLATILE:
            copy.pop(name, None)
        texts.append(copy.to_ical().decode())
    raw = "".join(sorted(texts))
    if _CONTROL.search(raw):
        raise _EventError("the event holds control characters")
    if len(raw) > MAX_RAW:
        raise _EventError(f"the event is longer than {MAX_RAW} characters of iCalendar text")
    return raw

