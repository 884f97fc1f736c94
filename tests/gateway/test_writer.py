"""The gateway database has one writer fed through a queue; readers never wait for it."""

import threading
import time

import pytest

from gateway.errors import StoreClosedError
from gateway.store import Store
from tests.gateway.test_store import accepted


def test_a_reader_on_a_new_thread_answers_while_a_long_write_is_in_progress(tmp_path):
    # Before, a thread's first read registered its connection under the write lock, so the API's first
    # request on a fresh worker thread waited for whatever write (a retention chunk, a slow batch) was running.
    store = Store(tmp_path / "g.db")
    store.write_batch([accepted(1)], [])
    inside, release = threading.Event(), threading.Event()

    def slow(conn):
        inside.set()
        release.wait(10)

    writer = threading.Thread(target=store.write_fn, args=(slow,))
    writer.start()
    try:
        assert inside.wait(5)
        answers: list[int] = []
        reader = threading.Thread(target=lambda: answers.append(store.stats()["events"]))
        started = time.monotonic()
        reader.start()
        reader.join(5)
        assert answers == [1] and time.monotonic() - started < 2
    finally:
        release.set()
        writer.join(10)
        store.close()


def test_writes_from_many_threads_all_land_and_a_failing_one_changes_nothing(tmp_path):
    store = Store(tmp_path / "g.db")

    def batch(start: int) -> None:
        for seq in range(start, start + 50):
            store.write_batch([accepted(seq)], [])

    threads = [threading.Thread(target=batch, args=(n * 1000,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    def half_then_fail(conn):
        Store.bump(conn, "stored", 1000)
        raise ValueError("a bug in the write function")

    with pytest.raises(ValueError, match="a bug"):
        store.write_fn(half_then_fail)  # the caller gets the error; the transaction is rolled back
    assert store.stats()["events"] == 200  # and the writer goes on
    store.write_batch([accepted(9999)], [])
    assert store.stats()["events"] == 201
    store.close()
    with pytest.raises(StoreClosedError):
        store.write_batch([accepted(1)], [])  # a late caller is told, not left waiting
