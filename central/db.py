"""Database plumbing shared by the central store: engines, UTC timestamps, write transactions.

One code path for SQLite and PostgreSQL (SQLAlchemy Core). What differs is confined here:

- SQLite gets WAL mode, ``synchronous=NORMAL`` and a busy timeout; write transactions start with
  ``BEGIN IMMEDIATE`` (so two writers never deadlock upgrading a read lock) and, inside one process, are
  serialised by a lock, which is cheaper than letting threads spin in SQLite's busy handler.
- PostgreSQL writers run concurrently; the pool is sized for a threadpool of request handlers.
- Timestamps are stored as UTC on both (``UtcDateTime``): SQLite keeps naive UTC text that sorts and
  compares correctly, PostgreSQL a ``timestamptz``; both come back as aware UTC datetimes.
- Bulk inserts (``Database.insert_new``) bypass SQLAlchemy's per-value processing: the caller gives values
  already in the driver's form, times through ``Database.stored_time``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from central.errors import StoreError
from onestop.sqlite import check_database


class UtcDateTime(sa.TypeDecorator[datetime]):
    """An aware datetime stored as UTC; naive input is refused rather than guessed."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise StoreError("naive datetime given to the store; times must carry a UTC offset")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def sqlite_time(value: datetime) -> str:
    """An aware datetime as SQLite stores a ``UtcDateTime``: naive UTC text, the form SQLAlchemy writes."""
    return value.astimezone(UTC).isoformat(" ", "microseconds").removesuffix("+00:00")


def postgresql_time(value: datetime) -> datetime:
    """An aware datetime as psycopg binds a ``timestamptz``."""
    return value


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url`` (``sqlite:///PATH`` or ``postgresql+psycopg://...``)."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:" and url.startswith("sqlite:///"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            if Path(path).exists():  # a damaged file stops the start-up, naming it (CorruptDataError)
                with contextlib.closing(sqlite3.connect(path)) as probe:
                    check_database(probe, Path(path))
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Take transaction control from the sqlite3 module, so DDL is transactional too.
            dbapi_conn.isolation_level = None
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")
            dbapi_conn.execute("PRAGMA foreign_keys=ON")

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            immediate = conn.get_execution_options().get("writer", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if url.startswith("postgresql"):
        return sa.create_engine(url, pool_pre_ping=True, pool_size=12, max_overflow=8)
    raise StoreError(f"unsupported database URL scheme: {url.split(':', 1)[0]!r} (sqlite or postgresql)")


class Database:
    """An engine plus the one way to open a write transaction."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        self._write_lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if self.dialect == "sqlite" else contextlib.nullcontext())
        self.stored_time: Callable[[datetime], Any] = sqlite_time if self.is_sqlite else postgresql_time

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextlib.contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction, committed when the block ends without an exception."""
        with self._write_lock, self.engine.connect().execution_options(writer=True) as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read-only connection (one snapshot per statement batch)."""
        with self.engine.connect() as conn:
            yield conn

    def insert(self, table: sa.Table) -> Any:
        """``INSERT`` with ``ON CONFLICT`` support for this dialect."""
        return (postgresql if self.dialect == "postgresql" else sqlite).insert(table)

    def insert_new(self, conn: sa.Connection, table: sa.Table, columns: Sequence[str],
                   rows: Sequence[tuple[Any, ...]]) -> int:
        """Insert ``rows`` (values in the driver's form, in ``columns`` order), skipping rows whose primary key
        exists; returns how many were inserted.

        One ``executemany`` on the driver: psycopg pipelines it as one prepared statement, and both drivers
        count the rows actually inserted, so conflicts are not counted.
        """
        quote = conn.dialect.identifier_preparer.quote
        marker = "?" if self.is_sqlite else "%s"
        keys = ", ".join(quote(c.name) for c in table.primary_key)
        sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
               f"VALUES ({', '.join([marker] * len(columns))}) ON CONFLICT ({keys}) DO NOTHING")
        result = conn.exec_driver_sql(sql, list(rows), execution_options={"preserve_rowcount": True})
        return result.rowcount

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()
