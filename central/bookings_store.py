"""Bookings in central's database: imported with UID + SEQUENCE semantics, listed as occurrences.

One booking per (site, space, UID). Importing decides per booking, against the stored version:

- not stored: **added**;
- the same content (its iCalendar text without DTSTAMP) and holder: **unchanged**, nothing written, except
  that occurrences which entered the expansion window since the last import are added;
- a higher SEQUENCE, or the same SEQUENCE and a later DTSTAMP (RFC 5546's tie-break): **replaced**, its future
  occurrences (from the window's start) expanded anew;
- a lower SEQUENCE: **stale**, ignored and reported; the same SEQUENCE with other content and no later
  DTSTAMP: **conflict**, ignored and reported (the booking system must raise SEQUENCE to change a booking).

The holder is stored only as a keyed pseudonym of their directory id (``holder_ref``), never the e-mail; an
attendee whose e-mail is not in the directory is stored with no holder and reported. A later import resolves
them once the directory knows them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from central.bookings import Booking, Occurrence, window
from central.db import Database
from central.pseudonyms import Pseudonyms
from central.schema import booking_occurrences, bookings, cardholders

MAX_LISTED = 5000  # occurrences in one listing (a space's 93 days)


@dataclass
class ImportResult:
    """What an import did, booking by booking, and what it could not do."""

    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    occurrences: int = 0  # occurrence rows written
    stale: list[dict[str, object]] = field(default_factory=list)
    conflicts: list[dict[str, object]] = field(default_factory=list)
    unknown_holders: list[dict[str, str | None]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OccurrenceView:
    """One occurrence as listed: UTC times, status, the booking's UID, the holder's pseudonym."""

    start: datetime
    end: datetime
    status: str
    uid: str
    holder: str | None


def holder_ref(pseudonyms: Pseudonyms, holder_id: str) -> str:
    """The holder's keyed pseudonym. A card never contains ``/``, so it never equals a card's pseudonym."""
    return pseudonyms.of("holder/" + holder_id)


class Bookings:
    """Imports and lists the bookings of spaces."""

    def __init__(self, db: Database, pseudonyms: Pseudonyms) -> None:
        self.db = db
        self.pseudonyms = pseudonyms

    def _holders(self, conn: sa.Connection, emails: set[str]) -> dict[str, str]:
        """E-mail (lower case) -> holder id, for those the directory knows."""
        found: dict[str, str] = {}
        wanted = sorted(emails)
        for start in range(0, len(wanted), 500):
            query = sa.select(sa.func.lower(cardholders.c.email), cardholders.c.holder_id) \
                .where(sa.func.lower(cardholders.c.email).in_(wanted[start:start + 500]))
            found.update({email: holder for email, holder in conn.execute(query)})
        return found

    def import_(self, site: str, space: str, items: Sequence[Booking], by: str,
                now: datetime | None = None) -> ImportResult:
        """Store ``items`` for the space in one transaction, by the rules in this module's docstring."""
        now = now or datetime.now(UTC)
        since, _ = window(now)
        result = ImportResult()
        key = (bookings.c.site == site) & (bookings.c.space == space)
        with self.db.write() as conn:
            holders = self._holders(conn, {b.holder_email for b in items if b.holder_email})
            uids = [b.uid for b in items]
            stored = {}
            for start in range(0, len(uids), 500):
                stored.update({r.uid: r for r in conn.execute(
                    sa.select(bookings).where(key & bookings.c.uid.in_(uids[start:start + 500])))})
            for booking in items:
                holder = holders.get(booking.holder_email or "")
                ref = holder_ref(self.pseudonyms, holder) if holder else None
                if holder is None:
                    result.unknown_holders.append({"uid": booking.uid, "email": booking.holder_email})
                old = stored.get(booking.uid)
                row = {"sequence": booking.sequence, "stamp": booking.stamp, "status": booking.status,
                       "holder_ref": ref, "rrule": booking.rrule, "raw": booking.raw, "digest": booking.digest,
                       "imported_at": now, "imported_by": by}
                this = key & (bookings.c.uid == booking.uid)
                occurrence_key = ((booking_occurrences.c.site == site) & (booking_occurrences.c.space == space)
                                  & (booking_occurrences.c.uid == booking.uid))
                if old is None:
                    conn.execute(bookings.insert().values(site=site, space=space, uid=booking.uid, **row))
                    result.added += 1
                elif old.digest == booking.digest and old.holder_ref == ref:
                    result.unchanged += 1
                    have = set(conn.execute(sa.select(booking_occurrences.c.start).where(occurrence_key)).scalars())
                    result.occurrences += self._occur(conn, site, space, booking, ref,
                                                      [o for o in booking.occurrences if o.start not in have])
                    continue
                elif old.digest == booking.digest or _newer(booking, old.sequence, old.stamp):
                    conn.execute(bookings.update().where(this).values(**row))
                    conn.execute(booking_occurrences.delete().where(occurrence_key
                                                                   & (booking_occurrences.c.start >= since)))
                    result.replaced += 1
                else:
                    report = {"uid": booking.uid, "sequence": booking.sequence, "stored_sequence": old.sequence}
                    (result.stale if booking.sequence < old.sequence else result.conflicts).append(report)
                    continue
                have = set(conn.execute(sa.select(booking_occurrences.c.start).where(occurrence_key)).scalars())
                result.occurrences += self._occur(conn, site, space, booking, ref,
                                                  [o for o in booking.occurrences if o.start not in have])
        return result

    @staticmethod
    def _occur(conn: sa.Connection, site: str, space: str, booking: Booking, ref: str | None,
               occurrences: Sequence[Occurrence]) -> int:
        rows = [{"site": site, "space": space, "uid": booking.uid, "start": o.start, "end": o.end,
                 "status": o.status, "holder_ref": ref} for o in occurrences]
        if rows:
            conn.execute(booking_occurrences.insert(), rows)
        return len(rows)

    def occurrences(self, site: str, space: str, start: datetime, end: datetime) -> list[OccurrenceView]:
        """Occurrences of the space overlapping ``[start, end)``, by start (at most ``MAX_LISTED``)."""
        o = booking_occurrences
        query = sa.select(o.c.start, o.c.end, o.c.status, o.c.uid, o.c.holder_ref) \
            .where((o.c.site == site) & (o.c.space == space) & (o.c.start < end) & (o.c.end > start)) \
            .order_by(o.c.start, o.c.uid).limit(MAX_LISTED)
        with self.db.read() as conn:
            return [OccurrenceView(r.start, r.end, r.status, r.uid, r.holder_ref) for r in conn.execute(query)]


def _newer(booking: Booking, sequence: int, stamp: datetime | None) -> bool:
    if booking.sequence != sequence:
        return booking.sequence > sequence
    return booking.stamp is not None and stamp is not None and booking.stamp > stamp
