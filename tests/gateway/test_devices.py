from datetime import UTC, datetime, timedelta

from gateway.devices import DeviceBook
from onestop.payloads import DeviceState

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_a_late_will_from_an_old_connection_does_not_mark_a_restarted_device_offline():
    book = DeviceBook(timedelta(seconds=90))
    book.state_message("k1", DeviceState(online=True, boot="old", kind="kiosk", fw="1.0"), T0)
    book.state_message("k1", DeviceState(online=True, boot="new", kind="kiosk", fw="1.1"), T0)
    changed = book.state_message("k1", DeviceState(online=False, boot="old"), T0 + timedelta(seconds=5))
    status = book.devices["k1"]
    assert changed is False and status.online and status.fw == "1.1" and status.boot == "new"


def test_the_will_of_the_current_connection_marks_the_device_offline():
    book = DeviceBook(timedelta(seconds=90))
    book.state_message("k1", DeviceState(online=True, boot="b1"), T0)
    assert book.state_message("k1", DeviceState(online=False, boot="b1"), T0) is True
    assert book.offline_for("k1", T0 + timedelta(minutes=11)) == timedelta(minutes=11)


def test_silence_longer_than_the_limit_marks_a_device_offline_and_an_event_brings_it_back():
    book = DeviceBook(timedelta(seconds=90))
    book.seen("k1", T0, outbox=3)
    assert book.silent(T0 + timedelta(seconds=60)) == []
    assert book.silent(T0 + timedelta(seconds=91)) == ["k1"]
    assert book.devices["k1"].online is False
    assert book.seen("k1", T0 + timedelta(seconds=100)) is True
    assert book.devices["k1"].online and book.devices["k1"].outbox == 3


def test_sequence_gaps_are_counted_once_and_late_arrivals_do_not_count():
    book = DeviceBook(timedelta(seconds=90), last_seq={"restored": 4})
    for seq in (1, 2, 5, 3, 6, 10):
        book.seen("k", T0, seq=seq)
    assert book.anomalies["seq-gaps"] == 5 and book.last_seq["k"] == 10
    book.seen("other", T0, seq=7)  # the first number seen from a device is not a gap
    book.seen("restored", T0, seq=6)  # one skipped since the number restored from the store
    assert book.anomalies["seq-gaps"] == 6


def test_an_event_stamped_far_from_its_receipt_counts_as_an_implausible_clock():
    book = DeviceBook(timedelta(seconds=90), clock_tolerance_s=300)
    book.seen("k", T0, sent=T0 - timedelta(seconds=200))
    assert book.anomalies["clock-implausible"] == 0 and book.devices["k"].clock_skew_s is None
    book.seen("k", T0, sent=T0 + timedelta(seconds=400))
    assert book.anomalies["clock-implausible"] == 1 and book.devices["k"].clock_skew_s == 400.0
