"""Recorded schema migrations: a new database ends at the declared schema; old ones are adopted."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from central.db import Database, UtcDateTime
from central.migrations import MIGRATIONS, applied_versions, migrate
from central.schema import metadata
from central.store import CentralStore
from tests.central.factories import T0, checks


def _shape(engine: sa.Engine) -> dict[str, tuple[set[str], set[tuple[str, tuple[str, ...]]]]]:
    inspector = sa.inspect(engine)
    return {table: ({c["name"] for c in inspector.get_columns(table)},
                    {(i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)})
            for table in inspector.get_table_names()}


def test_a_new_database_is_migrated_to_exactly_the_declared_schema(store):
    assert applied_versions(store.db) == [m.key for m in MIGRATIONS]
    declared = {t.name: ({c.name for c in t.columns}, {(i.name, tuple(c.name for c in i.columns)) for i in t.indexes})
                for t in metadata.sorted_tables}
    assert _shape(store.engine) == declared


def test_migrating_again_does_nothing(store):
    assert migrate(store.db) == []


def test_a_database_of_the_first_release_is_adopted_and_backfilled(database_url):
    db = Database(database_url)
    migrate(db, MIGRATIONS[:1])
    legacy = sa.table("events", *(sa.column(c) for c in ("id", "site", "device", "seq", "type")),
                      *(sa.column(c, UtcDateTime) for c in ("ts", "received", "ingested")), sa.column("data", sa.JSON))
    env = checks("kiosk-n-1", "study-24h-2f", 1)[0]
    with db.write() as conn:
        conn.execute(sa.insert(legacy).values(id=env.id, site="north-b3", device=env.device, seq=1, type="checkin",
                                              ts=T0, received=T0, ingested=T0, data=env.data.model_dump(mode="json")))
    db.close()
    store = CentralStore(database_url)
    try:
        (event,) = store.space_events("north-b3", "study-24h-2f", T0.replace(hour=0), T0.replace(hour=23))
        assert event.at == T0 and event.space == "study-24h-2f"
    finally:
        store.close()


def test_every_field_gateways_sync_has_a_column():
    from central.schema import alerts, devices
    from onestop.records import AlertRecord, DeviceHealth

    assert set(AlertRecord.model_fields) <= set(alerts.c.keys())
    assert set(DeviceHealth.model_fields) <= set(devices.c.keys())


def test_a_database_written_by_a_newer_release_is_refused_at_start_up(store):
    """The one runner (onestop/migrations.py) keeps central's rule: an unknown recorded version stops start-up
    with a message saying what to do, rather than running old code on a schema it does not know."""
    from central.errors import MigrationError
    from central.schema import schema_migrations

    with store.db.write() as conn:
        conn.execute(schema_migrations.insert().values(version=99, name="from the future", applied_at=T0))
    with pytest.raises(MigrationError, match="newer release.*99.*upgrade the central service"):
        migrate(store.db)


def test_a_failing_step_names_itself_and_leaves_the_schema_at_the_last_recorded_one(database_url):
    from central.errors import MigrationError
    from onestop.migrations import Migration

    def broken(conn: sa.Connection) -> None:
        conn.exec_driver_sql("CREATE TABLE half_done (x INTEGER)")
        conn.exec_driver_sql("SELECT * FROM no_such_table")

    db = Database(database_url)
    following = MIGRATIONS[-1].key + 1
    try:
        with pytest.raises(MigrationError, match=rf"migration {following} \(broken step\).*failed"):
            migrate(db, (*MIGRATIONS, Migration(following, "broken step", broken)))
        assert applied_versions(db) == [m.key for m in MIGRATIONS]
        assert "half_done" not in sa.inspect(db.engine).get_table_names()
    finally:
        db.close()
