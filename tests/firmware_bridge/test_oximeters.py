"""Contec CMS50D+ (5-byte stream) and firmware 4.6 (9-byte packets): examples, statuses, reading rate."""

from __future__ import annotations

import pytest

from firmware_bridge.errors import EncodeError
from firmware_bridge.protocols.cms50d import Cms50dParser, encode_cms50d
from firmware_bridge.protocols.contec_v46 import (
    KEEP_ALIVE,
    START,
    ContecV46Parser,
    ContecV46Session,
    encode_cms50d_v46,
)
from firmware_bridge.readings import DeviceStatus, FrameRejected, MeasurementRead

from .formats import feed, readings

MODEL = "Contec CMS50D+"
SPO2_97 = MeasurementRead("59408-5", 97.0, "%", MODEL)
PULSE_72 = MeasurementRead("8867-4", 72.0, "/min", MODEL)


def test_cms50d_reference_example_gives_spo2_then_pulse() -> None:
    example = bytes.fromhex("85 40 05 48 61")
    assert feed(Cms50dParser(), [example]) == [SPO2_97, PULSE_72]
    assert encode_cms50d(97, 72, signal=5, pleth=0x40) == example


def test_cms50d_pulse_above_127_uses_the_high_bit_in_byte_2() -> None:
    packet = encode_cms50d(95, 180)
    assert packet[2] & 0x40 and packet[3] == 180 - 128
    assert readings(feed(Cms50dParser(), [packet]))[1]["value"] == 180.0


@pytest.mark.parametrize(
    ("flags", "status"),
    [
        ({"finger_in": False}, "finger-out"),
        ({"probe_error": True}, "probe-error"),
        ({"searching": True}, "searching"),
    ],
)
def test_cms50d_packets_without_a_valid_reading_give_a_status_not_a_reading(flags: dict, status: str) -> None:
    assert feed(Cms50dParser(), [encode_cms50d(97, 72, **flags)]) == [DeviceStatus(status)]


def test_cms50d_no_value_markers_are_not_readings() -> None:
    assert feed(Cms50dParser(), [encode_cms50d(127, 255)]) == [DeviceStatus("no-reading")]


def test_cms50d_a_steady_stream_gives_one_reading_per_second_and_statuses_only_on_change() -> None:
    second = encode_cms50d(97, 72) * 60
    finger_out = encode_cms50d(0, 0, finger_in=False) * 90
    events = feed(Cms50dParser(), [finger_out + second * 3 + finger_out])
    assert events == [DeviceStatus("finger-out")] + [SPO2_97, PULSE_72] * 3 + [DeviceStatus("finger-out")]


def test_cms50d_every_change_of_value_is_reported_in_stream_order() -> None:
    stream = (
        encode_cms50d(97, 72) * 5 + encode_cms50d(97, 73) * 5 + encode_cms50d(96, 73) + encode_cms50d(97, 72)
    )
    values = [(r["code"], r["value"]) for r in readings(feed(Cms50dParser(), [stream]))]
    assert values == [
        ("59408-5", 97.0), ("8867-4", 72.0),
        ("59408-5", 97.0), ("8867-4", 73.0),
        ("59408-5", 96.0), ("8867-4", 73.0),
        ("59408-5", 97.0), ("8867-4", 72.0),
    ]  # fmt: skip


def test_cms50d_only_on_change_when_repeat_is_off() -> None:
    assert len(feed(Cms50dParser(repeat_every=0), [encode_cms50d(97, 72) * 500])) == 2


def test_cms50d_a_packet_broken_by_a_sync_byte_is_rejected_and_the_next_is_read() -> None:
    good = encode_cms50d(97, 72)
    assert feed(Cms50dParser(), [good[:3] + good]) == [FrameRejected("incomplete", 3), SPO2_97, PULSE_72]


def test_cms50d_encoder_refuses_values_the_packet_cannot_carry() -> None:
    with pytest.raises(EncodeError):
        encode_cms50d(128, 72)


V46_MODEL = "Contec CMS50D+ v4.6"


def test_v46_packet_gives_spo2_and_pulse() -> None:
    packet = bytes.fromhex("01 E0 80 C0 80 C8 E1 80 80")
    assert encode_cms50d_v46(97, 72) == packet
    assert feed(ContecV46Parser(), [packet]) == [
        MeasurementRead("59408-5", 97.0, "%", V46_MODEL),
        MeasurementRead("8867-4", 72.0, "/min", V46_MODEL),
    ]


def test_v46_waveform_only_and_nothing_valid_packets_are_statuses() -> None:
    stream = encode_cms50d_v46(0, 0, kind=0xE1) + encode_cms50d_v46(0, 0, kind=0xE2)
    assert feed(ContecV46Parser(), [stream]) == [DeviceStatus("searching"), DeviceStatus("no-signal")]


def test_v46_unknown_packet_type_and_broken_packets_are_rejected() -> None:
    good = encode_cms50d_v46(97, 72)
    odd = bytes([0x01, 0xE7]) + good[2:]
    events = feed(ContecV46Parser(), [odd + good[:5] + good])
    assert [e for e in events if isinstance(e, FrameRejected)] == [
        FrameRejected("malformed", 9),
        FrameRejected("incomplete", 5),
    ]
    assert len(readings(events)) == 2


def test_v46_encoder_refuses_a_pulse_above_127() -> None:
    with pytest.raises(EncodeError):
        encode_cms50d_v46(97, 128)


def test_v46_session_starts_then_keeps_alive_every_interval() -> None:
    session = ContecV46Session(keep_alive_interval=5.0, restart_after=10.0)
    assert session.start(100.0) == START
    assert session.poll(101.0) == b""
    session.feed(encode_cms50d_v46(97, 72), 104.0)
    assert session.poll(105.0) == KEEP_ALIVE
    assert session.poll(106.0) == b""
    session.feed(encode_cms50d_v46(97, 72), 109.0)
    assert session.poll(110.0) == KEEP_ALIVE


def test_v46_session_sends_start_again_after_silence() -> None:
    session = ContecV46Session(keep_alive_interval=5.0, restart_after=10.0)
    session.start(0.0)
    assert session.poll(5.0) == KEEP_ALIVE
    assert session.poll(10.0) == START  # nothing came since the start: the device missed it or restarted
    assert session.poll(15.0) == KEEP_ALIVE


def test_v46_session_returns_readings_from_the_stream() -> None:
    session = ContecV46Session()
    session.start(0.0)
    events = session.feed(encode_cms50d_v46(97, 72), 0.1)
    assert [e.code for e in events if isinstance(e, MeasurementRead)] == ["59408-5", "8867-4"]
