"""Keyboard-wedge card readers: the card number typed as digits, then Enter.

Two ways in, one rule for what a card is:
- the line-oriented serial variant (9600 8N1): ASCII digits then CR, LF or CR LF, parsed by ``WedgeParser``;
- the USB keyboard variant read through evdev: key codes go to ``KeyLineAssembler`` (pure, no evdev
  import), the thin shell is ``firmware_bridge.evdev_reader``.

Example: ``30 30 30 30 34 37 32 32 38 38 0D 0A`` -> ``CardRead("0000472288")``.

A card line is 4 to 32 characters of ``0-9`` (hex letters ``A-F`` are accepted too, uppercased, for readers
set to print the UID in hex); the id is kept exactly as typed, leading zeros included. Any other line is
rejected as ``malformed``; a line longer than 32 characters as ``overlong``.
"""

from __future__ import annotations

import re

from firmware_bridge.errors import EncodeError
from firmware_bridge.protocols.framing import LineParser
from firmware_bridge.readings import CardRead, Event, FrameRejected

MAX_CARD = 32
_CARD_LINE = re.compile(rb"[0-9A-Fa-f]{4,32}")

# Linux input key codes (linux/input-event-codes.h): KEY_1..KEY_9 = 2..10, KEY_0 = 11.
KEY_DIGITS = {code: str(code - 1) for code in range(2, 11)} | {11: "0"}
KEY_ENTER = 28
KEY_KPENTER = 96
KEY_DOWN = 1  # evdev key event values: 0 up, 1 down, 2 auto-repeat


def card_from_line(line: bytes) -> Event:
    """A ``CardRead`` for a well-formed card line, else a ``FrameRejected``."""
    if _CARD_LINE.fullmatch(line):
        return CardRead(line.decode("ascii").upper())
    return FrameRejected("malformed", len(line))


class WedgeParser(LineParser):
    """Sans-I/O parser of the serial wedge variant: one card per line."""

    max_line = MAX_CARD

    def _line(self, line: bytes) -> None:
        self._emit(card_from_line(line))


class KeyLineAssembler:
    """Key presses of a USB wedge reader to card reads; fed ``(code, value)`` of evdev ``EV_KEY`` events.

    Only key-down events count. A key other than a digit or Enter spoils the current line (it is
    rejected at Enter), so a stray key press never turns into someone else's card number.
    """

    def __init__(self) -> None:
        self._line: list[str] = []
        self._spoiled = 0

    def key(self, code: int, value: int) -> Event | None:
        """One key event; returns the event completed by Enter, else None."""
        if value != KEY_DOWN:
            return None
        if code in (KEY_ENTER, KEY_KPENTER):
            return self._finish()
        digit = KEY_DIGITS.get(code)
        if digit is None or len(self._line) >= MAX_CARD:
            self._spoiled += 1
        else:
            self._line.append(digit)
        return None

    def _finish(self) -> Event | None:
        size = len(self._line) + self._spoiled
        line, spoiled = "".join(self._line), self._spoiled
        self._line, self._spoiled = [], 0
        if not size:
            return None  # Enter on its own
        if spoiled:
            return FrameRejected("overlong" if size > MAX_CARD else "malformed", size)
        return card_from_line(line.encode("ascii"))


def encode_wedge(card: str, terminator: bytes = b"\r\n") -> bytes:
    """The bytes a serial wedge reader sends for ``card``."""
    raw = card.encode("ascii", "replace")
    if not _CARD_LINE.fullmatch(raw):
        raise EncodeError(f"a wedge card is 4-32 digits, got {card!r}")
    if terminator not in (b"\r", b"\n", b"\r\n"):
        raise EncodeError("a wedge line ends with CR, LF or CR LF")
    return raw + terminator


def key_codes(card: str) -> list[int]:
    """The key codes a USB wedge reader types for ``card`` (digits only), ending with Enter."""
    codes = {digit: code for code, digit in KEY_DIGITS.items()}
    try:
        return [codes[c] for c in card] + [KEY_ENTER]
    except KeyError as exc:
        raise EncodeError(f"a USB wedge types digits only, got {card!r}") from exc
