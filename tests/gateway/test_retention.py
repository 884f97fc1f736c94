"""The storage bound: synced data goes first, then low-priority unsynced events, urgent health events last."""

from __future__ import annotations

import time

from gateway import retention
from gateway.ingest import Accepted
from gateway.store import Store
from onestop.events import new_event

SESSION = "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11"
DATA = {
    "heartbeat": {"uptime_s": 1, "outbox": 0, "note": "x" * 400},
    "checkin": {"space": "s1", "card": "AB12"},
    "screening": {"subject": "AB12", "session": SESSION, "complete": False},
}


def fill(store: Store, kind: str, n: int) -> list[str]:
    items = []
    for seq in range(n):
        env = new_event("kiosk-1", seq, kind, DATA[kind])
        items.append(Accepted(env, env.to_json() + b" " * 600, time.time()))
    store.write_batch(items, [])
    return [i.envelope.id for i in items]


def count(store: Store, where: str) -> int:
    with store.reader() as conn:
        return conn.execute(f"SELECT count(*) FROM events WHERE {where}").fetchone()[0]


def test_the_policy_drops_in_order_and_counts_exactly(tmp_path):
    store = Store(tmp_path / "g.db")
    synced = fill(store, "checkin", 3000)
    store.mark_synced(synced)
    fill(store, "heartbeat", 3000)
    fill(store, "checkin", 3000)
    fill(store, "screening", 1000)
    full = store.write_fn(retention.used_bytes)

    # A bound that the synced rows and some heartbeats cover.
    dropped = retention.enforce(store, int(full * 0.6))
    assert dropped["synced"] == 3000
    assert 0 < dropped["unsynced-low"] <= 3000
    assert "unsynced-presence" not in dropped and "unsynced-urgent" not in dropped
    assert count(store, "type = 'screening'") == 1000 and count(store, "synced = 0 AND type = 'checkin'") == 3000
    assert store.write_fn(retention.used_bytes) <= int(full * 0.6)
    assert store.stats()["dropped"] == dropped

    # A tighter bound: all telemetry goes, then only as much presence as needed; no urgent event yet.
    more = retention.enforce(store, int(full * 0.15))
    assert count(store, "type = 'heartbeat'") == 0
    assert 0 < count(store, "type = 'checkin'") < 3000 and count(store, "type = 'screening'") == 1000
    # Tighter still: presence is gone before the first screening is.
    more_still = retention.enforce(store, int(full * 0.05))
    stats = store.stats()
    assert count(store, "type = 'checkin'") == 0 and stats["dropped"]["unsynced-presence"] == 3000
    assert 0 < count(store, "type = 'screening'") < 1000
    assert store.write_fn(retention.used_bytes) <= int(full * 0.05)
    more = {k: more.get(k, 0) + more_still.get(k, 0) for k in {*more, *more_still}}
    total_dropped = sum(stats["dropped"].values())
    assert total_dropped + stats["events"] == 10_000
    assert sum(more.values()) + sum(dropped.values()) == total_dropped


def test_nothing_is_dropped_under_the_bound(tmp_path):
    store = Store(tmp_path / "g.db")
    fill(store, "heartbeat", 100)
    assert retention.enforce(store, 100 * 1024 * 1024) == {}
    assert store.stats()["events"] == 100


def test_the_retention_pass_never_counts_the_events_table(tmp_path):
    # Every chunk runs in the writer that acknowledgements wait for: no full scan of events in it.
    store = Store(tmp_path / "g.db")
    store.mark_synced(fill(store, "checkin", 3000))
    fill(store, "heartbeat", 3000)
    full = store.write_fn(retention.used_bytes)
    statements: list[str] = []
    store.write_fn(lambda conn: conn.set_trace_callback(statements.append), transaction=False)
    try:
        dropped = retention.enforce(store, int(full * 0.5))
    finally:
        store.write_fn(lambda conn: conn.set_trace_callback(None), transaction=False)
    assert dropped["synced"] == 3000 and statements
    assert not [s for s in statements if "count(" in s.lower() and "events" in s.lower()]
    # The counter it uses instead stays exact.
    assert store.stats()["events"] == count(store, "1 = 1")
