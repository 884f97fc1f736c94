"""EM4100 125 kHz readers with a UART (RDM6300, RDM630, Seeed): 9600 8N1.

Frame (14 bytes): ``02`` | 10 ASCII hex chars (version byte + 4 tag bytes) | 2 ASCII hex checksum | ``03``.
The checksum is the XOR of the 5 data bytes. The reader repeats the frame while the card stays in the
field; repeats are the business of the reader (``firmware_bridge.reconnect``), not of this parser.

Example: ``02 36 32 45 33 30 38 36 43 45 44 30 38 03`` ("62E3086CED" + "08") -> ``CardRead("62E3086CED")``
(0x62 ^ 0xE3 ^ 0x08 ^ 0x6C ^ 0xED == 0x08).

Invariants: see ``hexframe``; a frame whose checksum does not match is rejected as ``bad-checksum`` and
never yields a card.
"""

from __future__ import annotations

from functools import reduce
from operator import xor

from firmware_bridge.errors import EncodeError
from firmware_bridge.protocols.hexframe import HexFrameParser
from firmware_bridge.readings import CardRead, FrameRejected

STX = 0x02
ETX = 0x03


class Em4100Parser(HexFrameParser):
    """Sans-I/O parser of RDM6300-style frames; ``CardRead.card`` is the 10 data hex chars."""

    start = STX
    end = ETX
    digits = 12

    def _frame(self, text: str, size: int) -> None:
        data = bytes.fromhex(text[:10])
        if reduce(xor, data) != int(text[10:], 16):
            self._emit(FrameRejected("bad-checksum", size))
            return
        self._emit(CardRead(text[:10]))


def encode_em4100(card: str) -> bytes:
    """The frame an RDM6300 sends for ``card`` (10 hex chars: version byte + 4 tag bytes)."""
    try:
        data = bytes.fromhex(card)
    except ValueError as exc:
        raise EncodeError(f"EM4100 card must be 10 hex characters, got {card!r}") from exc
    if len(data) != 5:
        raise EncodeError(f"EM4100 card must be 10 hex characters, got {len(card)}")
    checksum = reduce(xor, data)
    return bytes([STX]) + f"{data.hex().upper()}{checksum:02X}".encode("ascii") + bytes([ETX])
