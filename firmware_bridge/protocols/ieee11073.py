"""IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit), as used by the Bluetooth health GATT services.

SFLOAT: 4-bit signed exponent (high nibble), 12-bit signed mantissa; value = mantissa * 10**exponent.
FLOAT: 8-bit signed exponent (high byte), 24-bit signed mantissa. Both little-endian on the wire.
Special values (exponent 0): NaN, NRes (not at this resolution), +INFINITY, -INFINITY and a reserved one.
They mean "no valid reading", so decoding returns None for them instead of a number.

Example: SFLOAT ``78 00`` -> 120; SFLOAT ``70 F1`` -> 368 * 10**-1 = 36.8; FLOAT ``70 01 00 FF`` -> 36.8.
"""

from __future__ import annotations

from firmware_bridge.errors import EncodeError

SFLOAT_SPECIAL = {0x07FF: "NaN", 0x0800: "NRes", 0x07FE: "+INFINITY", 0x0802: "-INFINITY", 0x0801: "reserved"}
FLOAT_SPECIAL = {
    0x007FFFFF: "NaN",
    0x00800000: "NRes",
    0x007FFFFE: "+INFINITY",
    0x00800002: "-INFINITY",
    0x00800001: "reserved",
}


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _scale(mantissa: int, exponent: int) -> float:
    # Dividing by a power of ten keeps 368e-1 at 36.8 where multiplying by 0.1 gives 36.800000000000004.
    return mantissa / 10 ** (-exponent) if exponent < 0 else float(mantissa * 10**exponent)


def decode_sfloat(raw: bytes) -> float | None:
    """The value of a little-endian SFLOAT, or None for a special value."""
    word = int.from_bytes(raw[:2], "little")
    if word in SFLOAT_SPECIAL:
        return None
    return _scale(_signed(word & 0x0FFF, 12), _signed(word >> 12, 4))


def decode_float(raw: bytes) -> float | None:
    """The value of a little-endian 32-bit FLOAT, or None for a special value."""
    word = int.from_bytes(raw[:4], "little")
    if word in FLOAT_SPECIAL:
        return None
    return _scale(_signed(word & 0xFFFFFF, 24), _signed(word >> 24, 8))


def _fit(value: float, decimals: int, mantissa_limit: int, exponent_range: range) -> tuple[int, int]:
    exponent = -decimals
    mantissa = round(value * 10**decimals)
    # Avoid the top of the range: its largest magnitudes are the special values.
    while abs(mantissa) > mantissa_limit - 2:
        mantissa = round(mantissa / 10)
        exponent += 1
    while mantissa and mantissa % 10 == 0 and exponent < 0:  # the shortest form: 120 is 120e0, not 1200e-1
        mantissa //= 10
        exponent += 1
    if exponent not in exponent_range:
        raise EncodeError(f"{value} does not fit an IEEE-11073 number")
    return mantissa, exponent


def encode_sfloat(value: float, decimals: int = 1) -> bytes:
    """``value`` as a little-endian SFLOAT with up to ``decimals`` decimal places."""
    mantissa, exponent = _fit(value, decimals, 0x7FF, range(-8, 8))
    return ((exponent & 0xF) << 12 | (mantissa & 0xFFF)).to_bytes(2, "little")


def encode_float(value: float, decimals: int = 2) -> bytes:
    """``value`` as a little-endian 32-bit FLOAT with up to ``decimals`` decimal places."""
    mantissa, exponent = _fit(value, decimals, 0x7FFFFF, range(-128, 128))
    return ((exponent & 0xFF) << 24 | (mantissa & 0xFFFFFF)).to_bytes(4, "little")


def special_sfloat(name: str) -> bytes:
    """The SFLOAT special value called ``name`` (``NaN``, ``NRes``, ``+INFINITY``, ``-INFINITY``)."""
    word = next(code for code, label in SFLOAT_SPECIAL.items() if label == name)
    return word.to_bytes(2, "little")


def special_float(name: str) -> bytes:
    """The FLOAT special value called ``name``."""
    word = next(code for code, label in FLOAT_SPECIAL.items() if label == name)
    return word.to_bytes(4, "little")
