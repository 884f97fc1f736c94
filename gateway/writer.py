"""The one owner of the gateway database's write connection, fed through a queue.

Modelled on datasette's ``Database.execute_write_fn``: every write — an ingest batch, a tick's automatic
check-outs, sync marking what central confirmed, an alert acknowledged over HTTP, a retention chunk — is a
function handed to one writer thread, which runs it on the only write connection inside ``BEGIN IMMEDIATE``
… ``COMMIT`` and hands back its result or its exception. No lock guards the connection, because only that
thread touches it; readers have their own connections (WAL) and never wait for it.

Ingest stays one queued call per batch (not per event): the batch's events, quarantine, counters and alerts
are written by one function in one transaction, then the caller acknowledges.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from gateway.errors import StoreClosedError
from onestop.sqlite import storage_error

T = TypeVar("T")


class Pending(Generic[T]):
    """A write handed to the writer: ``wait`` for its result."""

    __slots__ = ("fn", "transaction", "done", "result", "error")

    def __init__(self, fn: Callable[[sqlite3.Connection], T], transaction: bool) -> None:
        self.fn = fn
        self.transaction = transaction
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None

    def wait(self) -> T:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class Writer:
    """Runs write functions one at a time on ``conn``, on a thread of its own."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        # Guards only "closed?" and the hand-over to the queue, so no write is queued behind the end mark.
        self._accepting = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="db-writer", daemon=True)
        self._thread.start()

    def write(self, fn: Callable[[sqlite3.Connection], T], *, transaction: bool = True) -> T:
        """Run ``fn(conn)`` on the write connection and return what it returns (or raise what it raised).

        With ``transaction`` the call is one transaction, rolled back if ``fn`` raises; a full disk or a
        read-only file raises ``StorageError`` naming the file, and nothing of it is kept, so the caller may
        retry it as it was. Called from inside a write function, ``fn`` runs at once, in that transaction.
        """
        if threading.current_thread() is self._thread:
            return fn(self._conn)
        return self.submit(fn, transaction=transaction).wait()

    def submit(self, fn: Callable[[sqlite3.Connection], T], *, transaction: bool = True) -> Pending[T]:
        """Queue ``fn`` as ``write`` does and return at once; ``wait()`` on the result gives what ``write``
        would have returned or raised. Writes run in the order they were submitted."""
        task = Pending(fn, transaction)
        with self._accepting:
            if self._closed:
                raise StoreClosedError(f"{self.path} is closed")
            self._queue.put(task)
        return task

    def close(self) -> None:
        """Finish the writes already queued, then close the write connection."""
        with self._accepting:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join()
        self._conn.close()

    def _run(self) -> None:
        while (task := self._queue.get()) is not None:
            try:
                task.result = self._transaction(task.fn) if task.transaction else task.fn(self._conn)
            except BaseException as exc:  # handed to the caller, who decides; the writer goes on
                task.error = exc
            finally:
                task.done.set()

    def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                # SQLite rolls back by itself after some errors (SQLITE_FULL among them); a second ROLLBACK
                # would fail and hide the first error.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            mapped = storage_error(self.path, exc)
            if mapped is None:
                raise
            raise mapped from exc
        return result
