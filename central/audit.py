"""The audit log of reads of health data (screenings, questionnaires, FHIR): who, when, what, whose.

Every such read writes one row before the data is returned; if the row cannot be written the read fails
(fail closed). The reader is the token's holder or, for a person signed in through the campus IdP, the
person: ``principal`` is their e-mail and ``person_sub``/``person_name``/``person_email`` say who exactly.
Subjects are recorded as a keyed pseudonym (``subject_ref``, ``central.pseudonyms``), not the
card number: the log is readable by ``admin``, who may not learn whose health data exists, yet can still
answer "who read card X's records?" by asking with the card, which the route pseudonymises under every
known key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from central.db import Database
from central.schema import audit_log
from web.oidc import Person


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One read to record."""

    principal: str
    role: str
    method: str
    route: str
    subject_ref: str | None
    params: dict[str, Any]
    results: int
    person: Person | None = None  # who signed in (OIDC), when a person rather than a token read


class AuditLog:
    """Writes and lists audit rows."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, entry: AuditEntry, now: datetime | None = None) -> None:
        """Write one row (raises if it cannot: the caller must not return the data then)."""
        with self.db.write() as conn:
            conn.execute(audit_log.insert().values(
                at=now or datetime.now(UTC), principal=entry.principal, role=entry.role, method=entry.method,
                route=entry.route, subject_ref=entry.subject_ref, params=entry.params,
                results=entry.results, person_sub=entry.person and entry.person.sub,
                person_name=entry.person and entry.person.name, person_email=entry.person and entry.person.email))

    def list(self, principal: str | None = None, subject_refs: list[str] | None = None, since: datetime | None = None,
             limit: int = 200) -> list[dict[str, Any]]:
        """Rows, newest first, filtered by reader, by subject (its pseudonyms) or by time."""
        stmt = sa.select(audit_log)
        if principal is not None:
            stmt = stmt.where(audit_log.c.principal == principal)
        if subject_refs is not None:
            stmt = stmt.where(audit_log.c.subject_ref.in_(subject_refs))
        if since is not None:
            stmt = stmt.where(audit_log.c.at >= since)
        with self.db.read() as conn:
            rows = conn.execute(stmt.order_by(audit_log.c.id.desc()).limit(limit)).mappings().all()
        return [dict(r) for r in rows]

    def count(self) -> int:
        """Rows in the log."""
        with self.db.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one())
