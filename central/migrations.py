"""Schema migrations, registered here and recorded in the database (table ``schema_migrations``).

Why not Alembic: the schema is small, both dialects are driven through SQLAlchemy Core already, and a
list of numbered Python steps that run in one transaction each is easy to read and to test. They are run by
the runner every store shares (``onestop/migrations.py``: each step once, in order, in one transaction with
the row that records it; a database from a newer release refused); this module says only where central
records them and that on PostgreSQL an advisory lock makes workers starting together wait for each other.

Rules for new steps: append, never edit a released step; a step that changes a table declared in
``central.schema`` writes the DDL explicitly (as step 2 does) and updates the declaration, and
``tests/central/test_migrations.py`` checks that the two agree.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa

from central import schema
from central.db import Database, UtcDateTime
from central.errors import MigrationError
from central.ingest import derived_columns
from onestop.migrations import Migration
from onestop.migrations import MigrationError as BaseMigrationError
from onestop.migrations import migrate as run_migrations

log = logging.getLogger(__name__)
_ADVISORY_LOCK = 0x6F6E6573  # "ones": any constant shared by every central worker


def _initial(conn: sa.Connection) -> None:
    # The tables as the first release created them (frozen copy). ``checkfirst`` adopts databases that
    # were made by that release before migrations were recorded.
    legacy = sa.MetaData()
    sa.Table("events", legacy,
             sa.Column("id", sa.String(36), primary_key=True),
             sa.Column("site", sa.String(32), nullable=False),
             sa.Column("device", sa.String(64), nullable=False),
             sa.Column("seq", sa.BigInteger, nullable=False),
             sa.Column("type", sa.String(32), nullable=False),
             sa.Column("ts", UtcDateTime, nullable=False),
             sa.Column("received", UtcDateTime, nullable=False),
             sa.Column("ingested", UtcDateTime, nullable=False),
             sa.Column("data", sa.JSON, nullable=False),
             sa.Index("events_site_type_received", "site", "type", "received"),
             sa.Index("events_device_seq", "device", "seq"))
    sa.Table("gateways", legacy,
             sa.Column("site", sa.String(32), primary_key=True),
             sa.Column("last_seen", UtcDateTime, nullable=False),
             sa.Column("events", sa.BigInteger, nullable=False, server_default="0"),
             sa.Column("duplicates", sa.BigInteger, nullable=False, server_default="0"),
             sa.Column("lag_s", sa.Float, nullable=True))
    legacy.create_all(conn, checkfirst=True)


def _add_column(conn: sa.Connection, table: str, column: sa.Column) -> None:
    ddl = f"ALTER TABLE {table} ADD COLUMN {column.name} {column.type.compile(dialect=conn.dialect)}"
    if column.server_default is not None:
        ddl += f" NOT NULL DEFAULT {column.server_default.arg}"  # type: ignore[attr-defined]
    conn.exec_driver_sql(ddl)


def _analytics_and_records(conn: sa.Connection) -> None:
    events, gateways = schema.events, schema.gateways
    for name in ("at", "space", "subject"):
        _add_column(conn, "events", events.c[name])
    for name in ("max_lag_s", "quarantined"):
        _add_column(conn, "gateways", gateways.c[name])
    # Backfill the derived columns of events stored before this step, in chunks.
    pending = sa.select(events.c.id, events.c.type, events.c.ts, events.c.received, events.c.data) \
        .where(events.c.at.is_(None)).limit(5000)
    while rows := conn.execute(pending).all():
        updates = [{"key": row.id, **derived_columns(row.type, row.ts, row.received, row.data)} for row in rows]
        conn.execute(events.update().where(events.c.id == sa.bindparam("key")), updates)
    conn.exec_driver_sql("DROP INDEX IF EXISTS events_site_type_received")
    for index in events.indexes:
        if index.name != "events_device_seq":
            index.create(conn, checkfirst=True)
    for table in (schema.counters, schema.site_configs):
        table.create(conn, checkfirst=True)
    # ``devices``, ``alerts`` and ``audit_log`` as this step made them (steps 3, 5 and 8 added columns since).
    frozen = sa.MetaData()
    sa.Table("audit_log", frozen,
             sa.Column("id", schema.AutoId, primary_key=True, autoincrement=True),
             sa.Column("at", UtcDateTime, nullable=False),
             sa.Column("principal", sa.String(64), nullable=False),
             sa.Column("role", sa.String(16), nullable=False),
             sa.Column("method", sa.String(8), nullable=False),
             sa.Column("route", sa.String(200), nullable=False),
             sa.Column("subject_ref", sa.String(32), nullable=True),
             sa.Column("params", sa.JSON, nullable=False),
             sa.Column("results", sa.Integer, nullable=False),
             sa.Index("audit_log_at", "at"),
             sa.Index("audit_log_subject", "subject_ref"))
    sa.Table("alerts", frozen,
             sa.Column("id", sa.String(36), primary_key=True),
             sa.Column("site", sa.String(32), nullable=False),
             sa.Column("rule", sa.String(64), nullable=False),
             sa.Column("severity", sa.String(16), nullable=False),
             sa.Column("team", sa.String(16), nullable=False),
             sa.Column("status", sa.String(16), nullable=False),
             sa.Column("summary", sa.String(300), nullable=False),
             sa.Column("raised_at", UtcDateTime, nullable=False),
             sa.Column("updated_at", UtcDateTime, nullable=False),
             sa.Column("device", sa.String(64), nullable=True),
             sa.Column("space", sa.String(64), nullable=True),
             sa.Column("event_id", sa.String(36), nullable=True),
             sa.Column("subject", sa.String(32), nullable=True),
             sa.Column("acknowledged_by", sa.String(64), nullable=True),
             sa.Column("acknowledged_at", UtcDateTime, nullable=True),
             sa.Column("resolved_by", sa.String(64), nullable=True),
             sa.Column("resolved_at", UtcDateTime, nullable=True),
             sa.Column("synced_at", UtcDateTime, nullable=False),
             sa.Index("alerts_team_status", "team", "status"),
             sa.Index("alerts_site_raised", "site", "raised_at"))
    sa.Table("devices", frozen,
             sa.Column("device", sa.String(64), primary_key=True),
             sa.Column("site", sa.String(32), nullable=False),
             sa.Column("kind", sa.String(32), nullable=True),
             sa.Column("online", sa.Boolean, nullable=False),
             sa.Column("fw", sa.String(64), nullable=True),
             sa.Column("boot", sa.String(64), nullable=True),
             sa.Column("space", sa.String(64), nullable=True),
             sa.Column("last_seen", UtcDateTime, nullable=True),
             sa.Column("outbox", sa.Integer, nullable=True),
             sa.Column("updated_at", UtcDateTime, nullable=False),
             sa.Column("synced_at", UtcDateTime, nullable=False),
             sa.Index("devices_site", "site"))
    frozen.create_all(conn, checkfirst=True)


def _device_clock_skew(conn: sa.Connection) -> None:
    _add_column(conn, "devices", schema.devices.c.clock_skew_s)


def _event_conflicts(conn: sa.Connection) -> None:
    schema.event_conflicts.create(conn, checkfirst=True)


def _alert_lifecycle(conn: sa.Connection) -> None:
    for name in ("assigned_to", "history", "responded_at"):
        _add_column(conn, "alerts", schema.alerts.c[name])
    schema.alert_actions.create(conn, checkfirst=True)


SETTLED_TIER = 99  # notify_state.tier of alerts central held before it notified: never told, never escalated


def _notifications(conn: sa.Connection) -> None:
    for table in (schema.notify_state, schema.notifications, schema.notify_attempts):
        table.create(conn, checkfirst=True)
    # Alerts already here were dealt with without notifications: an upgrade must not page anyone about them.
    conn.execute(schema.notify_state.insert().from_select(
        ["alert_id", "tier", "updated_at"],
        sa.select(schema.alerts.c.id, sa.literal(SETTLED_TIER), schema.alerts.c.synced_at)))


def _erased_subjects(conn: sa.Connection) -> None:
    schema.erased_subjects.create(conn, checkfirst=True)


def _audit_person(conn: sa.Connection) -> None:
    for column in ("person_sub", "person_name", "person_email"):
        _add_column(conn, "audit_log", schema.audit_log.c[column])
def _work_orders(conn: sa.Connection) -> None:
    schema.work_orders.create(conn, checkfirst=True)


def _card_directory(conn: sa.Connection) -> None:
    schema.cardholders.create(conn, checkfirst=True)
    schema.directory_cards.create(conn, checkfirst=True)


def _bookings(conn: sa.Connection) -> None:
    schema.bookings.create(conn, checkfirst=True)
    schema.booking_occurrences.create(conn, checkfirst=True)


Step = Migration[sa.Connection, int]
MIGRATIONS: tuple[Step, ...] = (
    Migration(1, "events and gateways", _initial),
    Migration(2, "analytics columns, alerts, fleet, site configurations, audit log", _analytics_and_records),
    Migration(3, "device clock skew", _device_clock_skew),
    Migration(4, "event conflicts", _event_conflicts),
    Migration(5, "alert lifecycle at central: assignment, history, actions for the gateways", _alert_lifecycle),
    Migration(6, "notifications: state per alert, deliveries, attempts", _notifications),
    Migration(7, "erased subjects (tombstones)", _erased_subjects),
    Migration(8, "audit log names the person who read", _audit_person),
    Migration(9, "card directory: cardholders and their cards (keyed and sealed)", _card_directory),
    Migration(10, "work orders", _work_orders),
    Migration(11, "bookings from the booking system and their occurrences", _bookings),
)


class _Ledger:
    """Versions recorded in ``schema_migrations``; on PostgreSQL each transaction first takes an advisory lock,
    so workers starting together wait for each other instead of racing."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        with self.db.write() as conn:
            if self.db.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
            yield conn

    def applied(self, conn: sa.Connection) -> set[int]:
        schema.schema_migrations.create(conn, checkfirst=True)
        return set(conn.execute(sa.select(schema.schema_migrations.c.version)).scalars())

    def record(self, conn: sa.Connection, step: Step) -> None:
        conn.execute(schema.schema_migrations.insert().values(
            version=step.key, name=step.name, applied_at=datetime.now(UTC)))


def applied_versions(db: Database) -> list[int]:
    """Versions recorded in the database, oldest first (empty for a new database)."""
    with db.read() as conn:
        if not sa.inspect(conn).has_table("schema_migrations"):
            return []
        return list(conn.execute(sa.select(schema.schema_migrations.c.version)
                                 .order_by(schema.schema_migrations.c.version)).scalars())


def migrate(db: Database, migrations: tuple[Step, ...] = MIGRATIONS) -> list[int]:
    """Apply every step not yet recorded (``onestop/migrations.py``); returns the versions applied now."""
    try:
        done = run_migrations(_Ledger(db), migrations, database="central's database")
    except BaseMigrationError as exc:
        raise MigrationError(f"{exc}: upgrade the central service") from exc
    except sa.exc.SQLAlchemyError as exc:
        raise MigrationError(f"{'; '.join(getattr(exc, '__notes__', ()))} failed: {exc}") from exc
    for version in done:
        log.info("applied schema migration %d: %s", version, next(m.name for m in migrations if m.key == version))
    return done
