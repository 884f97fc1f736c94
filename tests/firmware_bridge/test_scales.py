"""A&D standard format and Tanita frames: examples, stability semantics, checksum."""

from __future__ import annotations

from firmware_bridge.protocols.and_scale import AndScaleParser, encode_and_scale
from firmware_bridge.protocols.tanita import TanitaParser, encode_tanita
from firmware_bridge.readings import DeviceStatus, FrameRejected, MeasurementRead

from .formats import feed, readings

WEIGHT_75_5 = MeasurementRead("29463-7", 75.5, "kg", "A&D")


def test_and_reference_example_gives_the_stable_weight() -> None:
    assert encode_and_scale(75.5) == b"ST,+00075.50 kg\r\n"
    assert feed(AndScaleParser(), [b"ST,+00075.50 kg\r\n"]) == [WEIGHT_75_5]


def test_and_unstable_lines_are_a_status_and_a_stable_weight_is_reported_once_per_stable_period() -> None:
    stream = (
        encode_and_scale(60.3, header="US") * 4
        + encode_and_scale(75.5) * 10
        + encode_and_scale(0.0, header="US")
        + encode_and_scale(75.5) * 3
    )
    assert feed(AndScaleParser(), [stream]) == [
        DeviceStatus("unstable", "+00060.30 kg"),
        WEIGHT_75_5,
        DeviceStatus("unstable", "+00000.00 kg"),
        WEIGHT_75_5,
    ]


def test_and_grams_and_pounds_are_converted_to_kilograms() -> None:
    stream = b"ST,+00075500  g\r\n" + b"ST,+00170.00 lb\r\n"
    assert [r["value"] for r in readings(feed(AndScaleParser(), [stream]))] == [75.5, 77.111]


def test_and_overload_empty_counting_and_non_weight_units_are_statuses() -> None:
    stream = b"OL,+9999E+19 kg\r\nST,+00000.00 kg\r\nQT,+00000012 PC\r\nST,+00000012 PC\r\n"
    assert [e.status for e in feed(AndScaleParser(), [stream])] == [
        "overload",
        "empty",
        "counting",
        "not-weight",
    ]


def test_and_malformed_lines_are_rejected_and_do_not_disturb_the_next() -> None:
    stream = b"ST;+00075.50 kg\r\nST,+0007x.50 kg\r\nXX,+00075.50 kg\r\n" + encode_and_scale(75.5)
    events = feed(AndScaleParser(), [stream])
    assert events == [FrameRejected("malformed", 15)] * 3 + [WEIGHT_75_5]


def test_tanita_frame_gives_weight_height_and_bmi_with_the_model() -> None:
    frame = encode_tanita(weight=89.2, height=180.0, bmi=27.5, model="SC-330")
    assert feed(TanitaParser(), [frame]) == [
        MeasurementRead("8302-2", 180.0, "cm", "SC-330"),
        MeasurementRead("29463-7", 89.2, "kg", "SC-330"),
        MeasurementRead("39156-5", 27.5, "kg/m2", "SC-330"),
    ]


def test_tanita_checksum_is_the_byte_sum_up_to_the_comma_before_cs() -> None:
    body = b'{0,16,~0,1,~1,1,~2,1,MO,"SC-330",Wk,89.2,MI,24.5,'
    frame = body + b"CS," + f"{sum(body) % 256:02X}".encode() + b"}\r\n"
    assert readings(feed(TanitaParser(), [frame])) == [
        {"kind": "measurement", "code": "29463-7", "value": 89.2, "unit": "kg", "device_model": "SC-330"},
        {"kind": "measurement", "code": "39156-5", "value": 24.5, "unit": "kg/m2", "device_model": "SC-330"},
    ]
    wrong = frame.replace(b"89.2", b"89.3")
    assert feed(TanitaParser(), [wrong]) == [FrameRejected("bad-checksum", len(wrong) - 2)]


def test_tanita_frame_without_checksum_or_with_odd_fields_is_malformed() -> None:
    assert feed(TanitaParser(), [b"{0,16,Wk,89.2}\r\n"]) == [FrameRejected("malformed", 14)]
    body = b"{0,16,Wk,"
    odd = body + b"CS," + f"{sum(body) % 256:02X}".encode() + b"}"
    assert feed(TanitaParser(), [odd]) == [FrameRejected("malformed", len(odd))]


def test_tanita_frame_interrupted_by_a_new_frame_is_incomplete() -> None:
    frame = encode_tanita(weight=70.0)
    events = feed(TanitaParser(), [frame[:30] + frame])
    assert events[0] == FrameRejected("incomplete", 30)
    assert readings(events)[0]["value"] == 70.0


def test_tanita_overlong_frame_is_rejected_and_the_parser_recovers() -> None:
    events = feed(TanitaParser(), [b"{" + b"1," * 800 + b"}\r\n" + encode_tanita(weight=70.0)])
    assert FrameRejected("overlong", 1024) in events
    assert readings(events)[0]["value"] == 70.0
