import json

import pytest

from device.outbox import Outbox
from onestop.errors import EnvelopeError


def test_sequence_numbers_survive_a_restart(tmp_path):
    box = Outbox(tmp_path / "o.db", "kiosk-1")
    seqs = [box.append("checkin", {"space": "s1", "card": "AA11"}).seq for _ in range(3)]
    box.close()
    again = Outbox(tmp_path / "o.db", "kiosk-1")
    assert seqs == [1, 2, 3]
    assert again.append("checkout", {"space": "s1", "card": "AA11"}).seq == 4


def test_acknowledged_events_stay_for_the_resend_window_then_go_and_numbers_are_not_reused(tmp_path):
    box = Outbox(tmp_path / "o.db", "kiosk-1")
    for _ in range(5):
        box.append("checkin", {"space": "s1", "card": "AA11"})
    box.mark_acked([1, 2, 3], now=1000.0)
    box.mark_acked([4, 5], now=1050.0)
    assert box.depth() == 0 and box.pending() == []
    assert [p.seq for p in box.recently_acked()] == [1, 2, 3, 4, 5]  # what a reconnect resends
    assert box.forget_acked(older_than=1030.0) == 3
    assert [p.seq for p in box.recently_acked()] == [4, 5]
    box.close()
    again = Outbox(tmp_path / "o.db", "kiosk-1")
    assert again.append("checkin", {"space": "s1", "card": "BB22"}).seq == 6
    assert [p.seq for p in again.pending()] == [6]
    assert [p.seq for p in again.recently_acked()] == [4, 5]  # survives a restart too


def test_pending_returns_the_stored_wire_payload_in_order(tmp_path):
    box = Outbox(tmp_path / "o.db", "kiosk-1")
    made = [box.append("checkin", {"space": "s1", "card": f"AA{i:02d}"}) for i in range(4)]
    pending = box.pending(after_seq=1, limit=2)
    assert [p.seq for p in pending] == [2, 3]
    assert [json.loads(p.payload)["id"] for p in pending] == [made[1].id, made[2].id]


def test_an_invalid_event_is_refused_and_uses_no_sequence_number(tmp_path):
    box = Outbox(tmp_path / "o.db", "kiosk-1")
    with pytest.raises(EnvelopeError):
        box.append("checkin", {"space": "s1"})
    assert box.depth() == 0
    assert box.append("checkin", {"space": "s1", "card": "AA11"}).seq == 1


def test_an_append_wakes_the_publisher_and_a_refused_one_does_not(tmp_path):
    # DeviceLink waits on ``appended``: whoever records an event wakes it, with no second call to forget.
    box = Outbox(tmp_path / "o.db", "kiosk-1")
    with pytest.raises(EnvelopeError):
        box.append("checkin", {"space": "s1"})
    assert not box.appended.is_set()
    box.append("checkin", {"space": "s1", "card": "AA11"})
    assert box.appended.is_set()
