"""Schema migrations for every database we keep: registered in order, each applied once, recorded in the database.

One runner, three kinds of store: the SQLite stores of ``onestop/sqlite.py`` (gateway, kiosk outbox and
presence: steps of SQL), the provisioning registry (steps that take a ``sqlite_utils.Database``) and
central's SQLAlchemy database (SQLite or PostgreSQL). What differs between them is only where the record is
kept and how a write transaction is opened; that is the ``Ledger`` each passes in. The runner states the
rules once:

- steps run in the order given; each runs at most once, inside one transaction together with the row that
  records it, so a crash leaves the database at a recorded step (SQLite and PostgreSQL both have
  transactional DDL);
- what is recorded is re-read inside each step's transaction, so two processes starting together (central's
  workers, under an advisory lock its ledger takes) do not apply a step twice;
- a database that records a step this code does not know was written by a newer release: central refuses
  it; the devices' stores (``allow_newer``) run on, since their steps only ever add and a kiosk rolled back
  to the previous release must keep working.

A failing step's exception propagates unchanged, with a note naming the step; the caller maps it once.
Why not sqlite-utils 4's ``Migrations``: it covers the SQLite stores only, and central would keep a runner
of its own; see docs/decisions.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from onestop.errors import OnestopError

log = logging.getLogger(__name__)

C = TypeVar("C")
K = TypeVar("K", bound=Hashable)


class MigrationError(OnestopError):
    """The database cannot be brought to this code's schema (it was written by a newer release)."""


@dataclass(frozen=True)
class Migration(Generic[C, K]):
    """One registered step: ``key`` is what the database records (a name or a version number)."""

    key: K
    name: str
    apply: Callable[[C], None]


class Ledger(Protocol[C, K]):
    """Where one database records its applied steps, and how a write transaction is opened on it."""

    def transaction(self) -> AbstractContextManager[C]:
        """One write transaction; committed when the block ends, rolled back when it raises."""
        ...

    def applied(self, conn: C) -> set[K]:
        """The keys recorded so far (the ledger creates its table when missing)."""
        ...

    def record(self, conn: C, step: Migration[C, K]) -> None:
        """Record ``step`` as applied, in the current transaction."""
        ...


def migrate(ledger: Ledger[C, K], steps: Sequence[Migration[C, K]], *, database: str,
            allow_newer: bool = False) -> list[K]:
    """Apply every step not yet recorded, in order; returns the keys applied now."""
    keys = [step.key for step in steps]
    if len(set(keys)) != len(keys):
        raise ValueError(f"migrations of {database} repeat a key: {keys}")
    done: list[K] = []
    for step in steps:
        with ledger.transaction() as conn:
            applied = ledger.applied(conn)
            unknown = applied - set(keys)
            if unknown and not allow_newer:
                raise MigrationError(f"{database} was written by a newer release (it records migration(s) "
                                     f"{', '.join(map(str, sorted(unknown, key=str)))} this one does not know); "
                                     "upgrade this program")
            if step.key in applied:
                continue
            try:
                step.apply(conn)
            except Exception as exc:
                exc.add_note(f"migration {step.key} ({step.name}) of {database}")
                raise
            ledger.record(conn, step)
        log.debug("%s: applied migration %s (%s)", database, step.key, step.name)
        done.append(step.key)
    return done
