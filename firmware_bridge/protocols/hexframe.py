"""Fixed-length frames of ASCII hex between a start and an end byte (EM4100 and Parallax readers).

Invariants: a frame is ``START`` + exactly ``digits`` uppercase ASCII hex characters + ``END``. The scan
rejects a candidate at the first byte that breaks this shape and resumes *at* that byte, so a frame cut
short by a new start byte is reported as ``incomplete`` and the new frame is still read.
"""

from __future__ import annotations

from firmware_bridge.protocols.framing import StreamParser
from firmware_bridge.readings import CardRead

# Uppercase only, as the readers send it: accepting "a" for "A" would let a flipped bit (0x20) pass unseen.
HEX_DIGITS = frozenset(b"0123456789ABCDEF")


class HexFrameParser(StreamParser):
    """Parser for ``START hex... END`` frames; subclasses check the digits and build the card id."""

    start: int
    end: int
    digits: int

    @property
    def max_frame(self) -> int:  # type: ignore[override]
        return self.digits + 2

    def _scan(self) -> None:
        buffer = self._buffer
        while buffer:
            begin = buffer.find(self.start)
            if begin < 0:
                self._skip(len(buffer))
                return
            if begin:
                self._skip(begin)
            for index in range(1, min(len(buffer), self.digits + 1)):
                if buffer[index] not in HEX_DIGITS:
                    self._reject("incomplete", index, consume=index)
                    break
            else:
                if len(buffer) < self.digits + 2:
                    return  # a good prefix so far: wait for the rest
                size = self.digits + 2
                if buffer[size - 1] != self.end:
                    self._reject("malformed", size - 1, consume=size - 1)
                    continue
                text = bytes(buffer[1 : size - 1]).decode("ascii")
                self._consume(size)
                self._frame(text, size)

    def _frame(self, text: str, size: int) -> None:
        """Handle the hex text of a well-shaped frame of ``size`` bytes."""
        self._emit(CardRead(text))
