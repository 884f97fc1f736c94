"""IEEE-11073 numbers and the GATT blood-pressure and temperature values: examples, units, special values."""

from __future__ import annotations

import math
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.protocols.gatt import (
    GattBloodPressureParser,
    GattTemperatureParser,
    bp_value,
    encode_gatt_bp,
    encode_gatt_temp,
    hex_line,
    temperature_value,
)
from firmware_bridge.protocols.ieee11073 import (
    decode_float,
    decode_sfloat,
    encode_float,
    encode_sfloat,
    special_float,
    special_sfloat,
)
from firmware_bridge.readings import DeviceStatus, FrameRejected, MeasurementRead

from .formats import feed, readings


def test_sfloat_and_float_examples() -> None:
    assert decode_sfloat(bytes.fromhex("7800")) == 120.0
    assert decode_sfloat(bytes.fromhex("70F1")) == 36.8
    assert decode_float(bytes.fromhex("700100FF")) == 36.8
    assert decode_sfloat(bytes.fromhex("FF0F")) == -1.0  # mantissa -1, exponent 0


@pytest.mark.parametrize("name", ["NaN", "NRes", "+INFINITY", "-INFINITY", "reserved"])
def test_special_values_decode_to_none(name: str) -> None:
    assert decode_sfloat(special_sfloat(name)) is None
    assert decode_float(special_float(name)) is None


@settings(max_examples=200, deadline=None)
@given(st.integers(-20450, 20450))
def test_sfloat_round_trips_tenths_within_the_mantissa_range(tenths: int) -> None:
    value = tenths / 10
    decoded = decode_sfloat(encode_sfloat(value))
    assert decoded is not None
    assert math.isclose(decoded, value, abs_tol=0.5 if abs(tenths) > 2045 else 1e-9)


@settings(max_examples=200, deadline=None)
@given(st.integers(-8_000_000, 8_000_000))
def test_float_round_trips_hundredths(hundredths: int) -> None:
    assert decode_float(encode_float(hundredths / 100)) == hundredths / 100


def test_bp_reference_example() -> None:
    line = b"04 78 00 50 00 5D 00 48 00\r\n"
    assert feed(GattBloodPressureParser(), [line]) == [
        MeasurementRead("8480-6", 120.0, "mm[Hg]"),
        MeasurementRead("8462-4", 80.0, "mm[Hg]"),
        MeasurementRead("8867-4", 72.0, "/min"),
    ]
    assert encode_gatt_bp(120, 80, 93, 72) == b"04 78 00 50 00 5D 00 48 00\n"


@settings(max_examples=100, deadline=None)
@given(st.integers(60, 260), st.integers(30, 150), st.none() | st.integers(30, 220))
def test_bp_in_kpa_is_converted_to_mmhg(systolic: int, diastolic: int, pulse: int | None) -> None:
    got = readings(
        feed(GattBloodPressureParser(), [encode_gatt_bp(systolic, diastolic, None, pulse, kpa=True)])
    )
    assert {r["unit"] for r in got[:2]} == {"mm[Hg]"}
    # Above 204.5 kPa-hundredths the 12-bit mantissa keeps only tenths of a kPa: 0.05 kPa = 0.375 mmHg.
    assert abs(got[0]["value"] - systolic) <= 0.4 and abs(got[1]["value"] - diastolic) <= 0.4
    assert (got[2]["value"] if pulse else None) == pulse


def test_bp_optional_fields_are_skipped_in_flag_order() -> None:
    value = bp_value(128, 82, 97, 66, time_stamp=datetime(2026, 11, 22, 13, 5, 7), user_id=2, status=0)
    assert value[0] == 0x1E
    got = readings(feed(GattBloodPressureParser(), [hex_line(value, separator=":")]))
    assert [r["value"] for r in got] == [128.0, 82.0, 66.0]


def test_bp_measurement_status_warnings_come_as_a_status() -> None:
    value = bp_value(128, 82, status=0x0003)
    events = feed(GattBloodPressureParser(), [hex_line(value)])
    assert events[0] == DeviceStatus("measurement-warning", "body movement, cuff too loose")


def test_bp_special_value_in_a_pressure_rejects_the_value() -> None:
    value = bytes([0x00]) + special_sfloat("NaN") + encode_sfloat(80) + encode_sfloat(93)
    assert feed(GattBloodPressureParser(), [hex_line(value)]) == [FrameRejected("special-value", 20)]


def test_bp_special_pulse_drops_only_the_pulse() -> None:
    value = (
        bytes([0x04]) + encode_sfloat(120) + encode_sfloat(80) + encode_sfloat(93) + special_sfloat("NRes")
    )
    events = feed(GattBloodPressureParser(), [hex_line(value)])
    assert [type(e) for e in events] == [MeasurementRead, MeasurementRead, DeviceStatus]


def test_bp_value_shorter_or_longer_than_its_flags_say_is_rejected() -> None:
    assert feed(GattBloodPressureParser(), [b"04 78 00 50 00 5D 00\n"]) == [FrameRejected("incomplete", 20)]
    assert feed(GattBloodPressureParser(), [b"00 78 00 50 00 5D 00 48\n"]) == [FrameRejected("malformed", 23)]
    assert feed(GattBloodPressureParser(), [b"04 78 0\n"]) == [FrameRejected("malformed", 7)]


def test_temperature_example_and_fahrenheit_conversion() -> None:
    assert feed(GattTemperatureParser(), [b"00 70 01 00 FF\n"]) == [MeasurementRead("8310-5", 36.8, "Cel")]
    fahrenheit = temperature_value(38.5, fahrenheit=True)
    assert fahrenheit[0] & 0x01
    assert readings(feed(GattTemperatureParser(), [hex_line(fahrenheit)]))[0]["value"] == 38.5


@settings(max_examples=100, deadline=None)
@given(st.integers(3000, 4500))
def test_temperature_in_fahrenheit_round_trips_to_celsius_within_a_hundredth(hundredths: int) -> None:
    got = readings(feed(GattTemperatureParser(), [encode_gatt_temp(hundredths / 100, fahrenheit=True)]))
    assert got[0]["unit"] == "Cel" and abs(got[0]["value"] - hundredths / 100) <= 0.01


def test_temperature_with_time_stamp_and_type_and_special_values() -> None:
    value = temperature_value(37.2, time_stamp=datetime(2026, 1, 2, 3, 4, 5), kind=2)
    assert readings(feed(GattTemperatureParser(), [hex_line(value)]))[0]["value"] == 37.2
    nan = bytes([0]) + special_float("+INFINITY")
    assert feed(GattTemperatureParser(), [hex_line(nan)]) == [FrameRejected("special-value", 14)]
