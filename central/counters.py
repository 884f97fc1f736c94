"""Named counters kept in the database (table ``counters``): what central refused or corrected, persisted
across restarts and shared by every worker, read back by ``/api/v1/stats`` and ``/metrics``."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from central.db import Database
from central.schema import counters

QUARANTINED = "quarantined_batches"  # ingest batches refused as invalid (422)
FUTURE_DATED = "future_dated_records"  # alert / fleet records dated after their arrival, clamped to it
UNKNOWN_SPACE = "unknown_space_events"  # events naming a space the site's configuration does not have
CONFLICTS = "conflicting_events"  # events whose id central holds with other content
ERASED = "erased_subject_events"  # events dropped at ingest: they name a student erased at central


def bump(db: Database, conn: sa.Connection, name: str, by: int = 1) -> None:
    """Add ``by`` to counter ``name`` inside the caller's write transaction."""
    if by:
        stmt = db.insert(counters).values(name=name, value=by)
        conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"value": counters.c.value + by}))


def read(conn: sa.Connection, names: Iterable[str]) -> dict[str, int]:
    """The values of ``names`` (zero for a counter never bumped)."""
    wanted = list(names)
    found = dict(conn.execute(sa.select(counters.c.name, counters.c.value).where(counters.c.name.in_(wanted))).all())
    return {name: int(found.get(name) or 0) for name in wanted}
