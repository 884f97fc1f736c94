"""A&D weighing instruments, "standard format" over RS-232 (default 2400 baud, 7 data bits, even parity).

Line (15 characters + CR LF): 2-char header (``ST`` stable, ``US`` unstable, ``QT`` counting, ``OL``
overload) | ``,`` | 9-char value with sign and decimal point, zero-padded | 3-char unit (``  g``, `` kg``,
`` lb``, `` PC``, ``  %``).

Example: ``ST,+00075.50 kg\\r\\n`` -> ``MeasurementRead(29463-7, 75.5, kg)``.

Reading semantics: only ``ST`` lines with a weight unit are weights, converted to kg. Scales in stream
mode repeat the same line many times a second, so a weight is emitted once per stable period: when the
stable value first appears or changes. States (``unstable``, ``overload``, ``counting``, ``empty`` for a
stable weight of zero or less, ``not-weight`` for PC or %) are ``DeviceStatus`` events, emitted when the
state changes. Without a checksum, a flipped digit cannot be detected; the line shape is checked.
"""

from __future__ import annotations

import re

from firmware_bridge.errors import EncodeError
from firmware_bridge.protocols.framing import LineParser
from firmware_bridge.readings import BODY_WEIGHT, DeviceStatus, FrameRejected, MeasurementRead

LINE_LENGTH = 15
_VALUE = re.compile(r"[+-][0-9 .]{8}")
KG_PER_UNIT = {"kg": 1.0, "g": 0.001, "lb": 0.45359237, "oz": 0.028349523125}
STATES = {"US": "unstable", "OL": "overload", "QT": "counting"}


class AndScaleParser(LineParser):
    """Sans-I/O parser of A&D standard-format lines."""

    max_line = 32  # one line is 15 characters; leave room for noise before rejecting as overlong

    def __init__(self, *, device_model: str | None = "A&D") -> None:
        super().__init__()
        self._device_model = device_model
        self._last: tuple[object, ...] | None = None

    def _line(self, line: bytes) -> None:
        text = line.decode("ascii", "replace")
        header, value, unit = text[:2], text[3:12], text[12:].strip()
        if len(text) != LINE_LENGTH or text[2] != "," or header not in ("ST", *STATES):
            self._emit(FrameRejected("malformed", len(line)))
            return
        if header in STATES:  # the value of an overload line is not a number on every model
            self._state(STATES[header], f"{value.strip()} {unit}")
            return
        number = _number(value)
        if number is None:
            self._emit(FrameRejected("malformed", len(line)))
        elif unit not in KG_PER_UNIT:
            self._state("not-weight", f"{value.strip()} {unit}")
        elif number <= 0:
            self._state("empty", f"{value.strip()} {unit}")
        else:
            kilograms = number if unit == "kg" else round(number * KG_PER_UNIT[unit], 3)
            if self._last != ("weight", kilograms):
                self._last = ("weight", kilograms)
                self._emit(MeasurementRead.of(BODY_WEIGHT, kilograms, self._device_model))

    def _state(self, status: str, detail: str) -> None:
        if self._last != ("status", status):
            self._last = ("status", status)
            self._emit(DeviceStatus(status, detail))


def _number(value: str) -> float | None:
    if not _VALUE.fullmatch(value):
        return None
    try:
        return float(value.replace(" ", ""))
    except ValueError:
        return None


def encode_and_scale(weight: float, *, header: str = "ST", unit: str = "kg", decimals: int = 2) -> bytes:
    """One standard-format line for ``weight`` expressed in ``unit``."""
    value = f"{weight:+0{9}.{decimals}f}"
    if len(value) != 9 or header not in ("ST", *STATES) or len(unit) > 3:
        raise EncodeError(f"A&D standard format cannot carry {header} {weight} {unit}")
    return f"{header},{value}{unit:>3}\r\n".encode("ascii")
