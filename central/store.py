"""The campus store on SQLAlchemy Core: one code path for SQLite (default) and PostgreSQL.

Ingest is idempotent on event id: ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` tells exactly which
events were new, on both databases.
"""

from __future__ import annotations

import json

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from onestop.events import Envelope

metadata = sa.MetaData()

events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("site", sa.String(32), nullable=False),
    sa.Column("device", sa.String(64), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ingested", sa.DateTime(timezone=True), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Index("events_site_type_received", "site", "type", "received"),
    sa.Index("events_device_seq", "device", "seq"),
)

gateways = sa.Table(
    "gateways", metadata,
    sa.Column("site", sa.String(32), primary_key=True),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("events", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("duplicates", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("lag_s", sa.Float, nullable=True),
)


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one batch did."""

    new: int
    duplicates: int


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url``; SQLite gets WAL mode and a sane busy timeout."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _insert(engine: sa.Engine, table: sa.Table):  # type: ignore[no-untyped-def]
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


class CentralStore:
    """Events from every gateway, and what central knows about each gateway."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        metadata.create_all(self.engine)

    def ingest(self, site: str, items: Sequence[tuple[datetime, Envelope]]) -> IngestResult:
        """Insert a batch; events already known (by id) are counted as duplicates."""
        now = datetime.now(UTC)
        rows = [{"id": env.id, "site": site, "device": env.device, "seq": env.seq, "type": env.type,
                 "ts": env.ts, "received": received, "ingested": now,
                 "data": json.loads(env.data.model_dump_json())} for received, env in items]
        new = 0
        lag = (now - max(r for r, _ in items)).total_seconds() if items else None
        with self.engine.begin() as conn:
            if rows:
                stmt = _insert(self.engine, events).on_conflict_do_nothing(index_elements=["id"])
                new = len(conn.execute(stmt.returning(events.c.id), rows).all())
            dup = len(rows) - new
            upsert = _insert(self.engine, gateways).values(site=site, last_seen=now, events=new, duplicates=dup,
                                                          lag_s=lag)
            conn.execute(upsert.on_conflict_do_update(index_elements=["site"], set_={
                "last_seen": now, "events": gateways.c.events + new,
                "duplicates": gateways.c.duplicates + dup, "lag_s": lag}))
        return IngestResult(new, dup)

    def stats(self) -> dict[str, int]:
        """Counts for ``/api/v1/stats``."""
        with self.engine.connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
            dup = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(gateways.c.duplicates), 0))).scalar_one()
            sites = conn.execute(sa.select(sa.func.count()).select_from(gateways)).scalar_one()
        return {"events": int(stored), "quarantined": 0, "duplicates": int(dup), "gateways": int(sites)}

    def event_ids(self) -> set[str]:
        """Every stored event id (for reconciliation in tests and audits)."""
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(events.c.id)).scalars())

    def close(self) -> None:
        """Release connections."""
        self.engine.dispose()


def epoch_to_datetime(value: float) -> datetime:
    """A gateway receive time (Unix seconds) as an aware datetime."""
    return datetime.fromtimestamp(value, UTC)


