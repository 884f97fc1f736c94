"""Bluetooth health GATT characteristic values, one hex-encoded value per line (``gatt-bp``, ``gatt-temp``).

The serial side is a BLE central (an ESP32 or a ``bleak`` script) that prints each indicated value as hex
on its own line; bytes may be separated by spaces, ``:`` or ``-``.

Blood Pressure Measurement (0x2A35): flags | systolic, diastolic, mean arterial pressure (SFLOAT each) |
then, in flag order, time stamp (7 bytes), pulse rate (SFLOAT), user id (1), measurement status (2).
Flags: bit 0 kPa (else mmHg), bit 1 time stamp, bit 2 pulse, bit 3 user id, bit 4 status.
Example: ``04 78 00 50 00 5D 00 48 00`` -> 120/80 mmHg (MAP 93, not reported), pulse 72/min.

Temperature Measurement (0x2A1C): flags | FLOAT | time stamp (7) | type (1).
Flags: bit 0 Fahrenheit (else Celsius), bit 1 time stamp, bit 2 type.
Example: ``00 70 01 00 FF`` -> 36.8 Cel.

Reading semantics: output is always ``mm[Hg]`` and ``Cel`` (kPa x 7.500616, rounded to 0.1 mmHg; Fahrenheit
converted and rounded to 0.01 Cel). A value whose length does not match its flags is rejected; a special
value (NaN, NRes, INFINITY) in systolic, diastolic or temperature rejects the value as ``special-value``;
a special pulse rate drops only the pulse, with a ``DeviceStatus("pulse-unavailable")``. The device's time
stamp is not used: the kiosk's clock and the gateway's receive time order events.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from datetime import datetime

from firmware_bridge.errors import EncodeError
from firmware_bridge.protocols.framing import LineParser
from firmware_bridge.protocols.ieee11073 import decode_float, decode_sfloat, encode_float, encode_sfloat
from firmware_bridge.readings import (
    BODY_TEMPERATURE,
    DIASTOLIC,
    PULSE_RATE,
    SYSTOLIC,
    DeviceStatus,
    FrameRejected,
    MeasurementRead,
)

MMHG_PER_KPA = 1000 / 133.322387415
_SEPARATORS = re.compile(rb"[ :\-\t]")
_HEX = re.compile(rb"(?:[0-9A-Fa-f]{2})+")
BP_STATUS_WARNINGS = {
    0x01: "body movement",
    0x02: "cuff too loose",
    0x04: "irregular pulse",
    0x20: "improper measurement position",
}


class _HexLineParser(LineParser):
    max_line = 96  # the longest value (BP with every option) is 19 bytes: 57 characters with separators

    def __init__(self, *, device_model: str | None = None) -> None:
        super().__init__()
        self._device_model = device_model

    def _line(self, line: bytes) -> None:
        compact = _SEPARATORS.sub(b"", line)
        if not _HEX.fullmatch(compact):
            self._emit(FrameRejected("malformed", len(line)))
            return
        self._value(bytes.fromhex(compact.decode("ascii")), len(line))

    @abstractmethod
    def _value(self, value: bytes, size: int) -> None:
        """Decode one characteristic value."""

    def _check_length(self, value: bytes, expected: int, size: int) -> bool:
        if len(value) != expected:
            self._emit(FrameRejected("incomplete" if len(value) < expected else "malformed", size))
            return False
        return True


class GattBloodPressureParser(_HexLineParser):
    """Sans-I/O parser of hex lines of Blood Pressure Measurement values."""

    def _value(self, value: bytes, size: int) -> None:
        flags = value[0]
        expected = 7 + (7 if flags & 0x02 else 0) + (2 if flags & 0x04 else 0)
        expected += (1 if flags & 0x08 else 0) + (2 if flags & 0x10 else 0)
        if not self._check_length(value, expected, size):
            return
        systolic, diastolic = decode_sfloat(value[1:3]), decode_sfloat(value[3:5])
        if systolic is None or diastolic is None:
            self._emit(FrameRejected("special-value", size))
            return
        position = 7 + (7 if flags & 0x02 else 0)
        pulse = decode_sfloat(value[position : position + 2]) if flags & 0x04 else None
        position += (2 if flags & 0x04 else 0) + (1 if flags & 0x08 else 0)
        if flags & 0x10:
            status = int.from_bytes(value[position : position + 2], "little")
            warnings = [text for bit, text in BP_STATUS_WARNINGS.items() if status & bit]
            if warnings:
                self._emit(DeviceStatus("measurement-warning", ", ".join(warnings)))
        if flags & 0x01:
            systolic, diastolic = round(systolic * MMHG_PER_KPA, 1), round(diastolic * MMHG_PER_KPA, 1)
        self._emit(MeasurementRead.of(SYSTOLIC, systolic, self._device_model))
        self._emit(MeasurementRead.of(DIASTOLIC, diastolic, self._device_model))
        if flags & 0x04:
            if pulse is None:
                self._emit(DeviceStatus("pulse-unavailable", "pulse rate is a special value"))
            else:
                self._emit(MeasurementRead.of(PULSE_RATE, pulse, self._device_model))


class GattTemperatureParser(_HexLineParser):
    """Sans-I/O parser of hex lines of Temperature Measurement values."""

    def _value(self, value: bytes, size: int) -> None:
        flags = value[0]
        expected = 5 + (7 if flags & 0x02 else 0) + (1 if flags & 0x04 else 0)
        if not self._check_length(value, expected, size):
            return
        temperature = decode_float(value[1:5])
        if temperature is None:
            self._emit(FrameRejected("special-value", size))
            return
        if flags & 0x01:
            temperature = round((temperature - 32) * 5 / 9, 2)
        self._emit(MeasurementRead.of(BODY_TEMPERATURE, temperature, self._device_model))


def _time_stamp(moment: datetime) -> bytes:
    return moment.year.to_bytes(2, "little") + bytes(
        [moment.month, moment.day, moment.hour, moment.minute, moment.second]
    )


def bp_value(
    systolic: float,
    diastolic: float,
    mean: float | None = None,
    pulse: float | None = None,
    *,
    kpa: bool = False,
    time_stamp: datetime | None = None,
    user_id: int | None = None,
    status: int | None = None,
) -> bytes:
    """A Blood Pressure Measurement value; pressures are given in mmHg and sent in kPa if ``kpa``."""
    if mean is None:
        mean = round(diastolic + (systolic - diastolic) / 3)
    flags = (0x01 if kpa else 0) | (0x02 if time_stamp else 0) | (0x04 if pulse is not None else 0)
    flags |= (0x08 if user_id is not None else 0) | (0x10 if status is not None else 0)
    if kpa:
        pressures = b"".join(encode_sfloat(p / MMHG_PER_KPA, 2) for p in (systolic, diastolic, mean))
    else:
        pressures = b"".join(encode_sfloat(p) for p in (systolic, diastolic, mean))
    value = bytes([flags]) + pressures
    value += _time_stamp(time_stamp) if time_stamp else b""
    value += encode_sfloat(pulse) if pulse is not None else b""
    value += bytes([user_id]) if user_id is not None else b""
    value += status.to_bytes(2, "little") if status is not None else b""
    return value


def temperature_value(
    celsius: float, *, fahrenheit: bool = False, time_stamp: datetime | None = None, kind: int | None = None
) -> bytes:
    """A Temperature Measurement value; given in Celsius, sent in Fahrenheit if ``fahrenheit``."""
    flags = (0x01 if fahrenheit else 0) | (0x02 if time_stamp else 0) | (0x04 if kind is not None else 0)
    reading = encode_float(celsius * 9 / 5 + 32 if fahrenheit else celsius, 2)
    value = bytes([flags]) + reading + (_time_stamp(time_stamp) if time_stamp else b"")
    return value + (bytes([kind]) if kind is not None else b"")


def hex_line(value: bytes, *, separator: str = " ") -> bytes:
    """One characteristic value as the bridge line the BLE central prints."""
    if not value:
        raise EncodeError("an empty characteristic value")
    return (separator.join(f"{b:02X}" for b in value) + "\n").encode("ascii")


def encode_gatt_bp(
    systolic: float,
    diastolic: float,
    mean: float | None = None,
    pulse: float | None = None,
    *,
    kpa: bool = False,
) -> bytes:
    """A ``gatt-bp`` line: pressures given in mmHg (sent in kPa if ``kpa``), pulse in /min."""
    return hex_line(bp_value(systolic, diastolic, mean, pulse, kpa=kpa))


def encode_gatt_temp(celsius: float, *, fahrenheit: bool = False) -> bytes:
    """A ``gatt-temp`` line: temperature given in Celsius (sent in Fahrenheit if ``fahrenheit``)."""
    return hex_line(temperature_value(celsius, fahrenheit=fahrenheit))
