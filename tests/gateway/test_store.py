import time

from gateway.ingest import Accepted, Rejected
from gateway.store import COUNTER_MAX, Store
from onestop.events import new_event
from tests.helpers import query


def accepted(seq: int) -> Accepted:
    env = new_event("kiosk-1", seq, "checkin", {"space": "s1", "card": "AB12"})
    return Accepted(env, env.to_json(), time.time())


def test_redelivered_events_are_stored_once_and_counted(tmp_path):
    store = Store(tmp_path / "g.db")
    batch = [accepted(i) for i in range(10)]
    first = store.write_batch(batch, [])
    again = store.write_batch(batch[:4] + [accepted(10)], [])
    assert len(first.new) == 10 and first.duplicates == 0
    assert len(again.new) == 1 and again.duplicates == 4
    stats = store.stats()
    assert stats["events"] == 11 and stats["duplicates"] == 4


def test_quarantine_is_bounded_but_every_rejection_is_counted(tmp_path):
    store = Store(tmp_path / "g.db", quarantine_max=100)
    for _ in range(3):
        store.write_batch([], [Rejected("t", b"x" * 20_000, "invalid-json", "", 1.0) for _ in range(60)])
    assert store.stats()["quarantined_by_reason"] == {"invalid-json": 180}
    rows = query(tmp_path / "g.db", "SELECT count(*), max(length(payload)), max(size) FROM quarantine")
    assert rows == [(100, 16 * 1024, 20_000)]


def test_counts_survive_a_restart(tmp_path):
    store = Store(tmp_path / "g.db")
    one = accepted(1)
    store.write_batch([one, one], [Rejected("t", b"{", "invalid-json", "", 1.0)])
    store.close()
    stats = Store(tmp_path / "g.db").stats()
    assert (stats["events"], stats["duplicates"], stats["quarantined"]) == (1, 1, 1)


def test_unsynced_events_come_most_urgent_first_and_leave_once_synced(tmp_path):
    store = Store(tmp_path / "g.db")
    hb = new_event("kiosk-1", 1, "heartbeat", {"uptime_s": 1, "outbox": 0})
    sc = new_event("hs-1-x", 1, "screening", {"subject": "AB12", "session": "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11",
                                            "complete": False})
    store.write_batch([Accepted(hb, hb.to_json(), 1.0), accepted(2), Accepted(sc, sc.to_json(), 3.0)], [])
    order = [row[0] for row in store.unsynced(10)]
    assert order[0] == sc.id and order[-1] == hb.id
    store.mark_synced(order[:2])
    assert [row[0] for row in store.unsynced(10)] == [hb.id]
    assert store.stats()["backlog"] == 1


def test_counters_saturate_instead_of_failing_the_batch(tmp_path):
    store = Store(tmp_path / "g.db")
    def bump_three(conn):
        for _ in range(3):  # three sequence gaps of the largest size a device could claim before the bound
            Store.bump(conn, "seq-gaps", 2**63 - 1)
    store.write_fn(bump_three)
    assert store.counters()["seq-gaps"] == COUNTER_MAX
    store.write_batch([accepted(1)], [])  # the store goes on working
    assert store.stats()["events"] == 1


def test_the_same_id_with_other_content_is_a_conflict_and_the_first_version_stays(tmp_path):
    store = Store(tmp_path / "g.db")
    first = accepted(1)
    other_env = first.envelope.model_copy(update={"data": first.envelope.data.model_copy(update={"card": "CD34"})})
    other = Accepted(other_env, other_env.to_json(), time.time(), "onestop/v1/x/dev/kiosk-1/evt/checkin")
    respaced = Accepted(first.envelope, first.payload.replace(b",", b", "), time.time())  # same event, other bytes
    store.write_batch([first], [])
    result = store.write_batch([other, first, respaced], [])
    assert (len(result.new), result.duplicates, result.conflicts) == (0, 2, 1)
    stats = store.stats()
    assert stats["conflicts"] == 1 and stats["duplicates"] == 2 and stats["quarantined"] == 0
    assert query(tmp_path / "g.db", "SELECT payload FROM events") == [(first.payload,)]
    assert query(tmp_path / "g.db", "SELECT reason, topic FROM quarantine") == [
        ("conflict", "onestop/v1/x/dev/kiosk-1/evt/checkin")]


def test_a_database_of_the_previous_version_loses_the_unread_published_column_and_keeps_its_alerts(tmp_path):
    from gateway.store import MIGRATIONS
    from onestop.sqlite import open_database

    path = tmp_path / "g.db"
    old = open_database(path, MIGRATIONS[:4])
    old.conn.execute("INSERT INTO alerts (id, key, status, urgency, team, raised_at, record, published) "
                     "VALUES ('a1', 'k', 'open', 0, 'clinic', '2026-01-01T00:00:00Z', '{}', 1)")
    old.conn.close()
    store = Store(path)
    store.close()
    columns = [row[1] for row in query(path, "PRAGMA table_info(alerts)")]
    assert "published" not in columns and "synced" in columns
    assert query(path, "SELECT id, status FROM alerts") == [("a1", "open")]


def test_a_quarantined_screening_keeps_why_but_not_its_vitals_answers_or_card(tmp_path):
    screening = new_event("hs-1", 1, "screening", {
        "subject": "922E5832", "session": "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11", "complete": True,
        "measurements": [{"code": "8480-6", "value": 187, "unit": "mm[Hg]"}]}).to_json()
    store = Store(tmp_path / "g.db")
    store.write_batch([], [
        Rejected("onestop/v1/s/dev/hs-1/evt/screening", screening, "not-permitted", "kind kiosk", 1.0),
        Rejected("onestop/v1/s/dev/k-1/evt/checkin", screening, "type-mismatch", "type", 1.0),  # wrong topic
        Rejected("onestop/v1/s/dev/k-1/evt/checkin", b'{"card": "AB12"', "invalid-json", "", 1.0)])
    store.close()
    rows = query(tmp_path / "g.db", "SELECT reason, detail, size, payload FROM quarantine ORDER BY id")
    assert rows == [("not-permitted", "kind kiosk", len(screening), b""),
                    ("type-mismatch", "type", len(screening), b""),
                    ("invalid-json", "", 15, b'{"card": "AB12"')]
    assert b"922E5832" not in (tmp_path / "g.db").read_bytes() + (tmp_path / "g.db-wal").read_bytes()
