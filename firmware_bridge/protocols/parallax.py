"""Parallax-style 125 kHz readers: 2400 8N1 (the Parallax #28140 default).

Frame (12 bytes): ``0A`` (LF) | 10 ASCII hex chars | ``0D`` (CR). There is no checksum, so a corrupted
digit cannot be detected; only the frame shape is checked.

Example: ``0A 36 32 45 33 30 38 36 43 45 44 0D`` -> ``CardRead("62E3086CED")``.
"""

from __future__ import annotations

from firmware_bridge.errors import EncodeError
from firmware_bridge.protocols.hexframe import HEX_DIGITS, HexFrameParser

START = 0x0A
END = 0x0D


class ParallaxParser(HexFrameParser):
    """Sans-I/O parser of Parallax frames; ``CardRead.card`` is the 10 hex chars, uppercase."""

    start = START
    end = END
    digits = 10


def encode_parallax(card: str) -> bytes:
    """The frame a Parallax reader sends for ``card`` (10 hex chars)."""
    raw = card.upper().encode("ascii", "replace")
    if len(raw) != 10 or any(c not in HEX_DIGITS for c in raw):
        raise EncodeError(f"Parallax card must be 10 hex characters, got {card!r}")
    return bytes([START]) + raw + bytes([END])
