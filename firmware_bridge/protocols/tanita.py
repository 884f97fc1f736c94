"""Tanita body-composition monitors (SC-330, MC-780 and similar): 9600 8N1, one frame per measurement.

Frame: ``{`` | comma-separated key,value pairs | ``}``, usually followed by CR LF. The last pair is ``CS``
with a 2-hex-digit checksum: the sum of all bytes from ``{`` through the comma before ``CS``, modulo 256.
Keys used here: ``Wk`` weight (kg), ``Hm`` height (cm), ``MI`` BMI, ``MO`` model (quoted).

Example: ``{0,16,~0,1,~1,1,~2,1,MO,"SC-330",Wk,89.2,MI,24.5,CS,XX}`` -> weight 89.2 kg, BMI 24.5, model
SC-330 (XX being the checksum of that frame).

Invariants: a frame is at most ``MAX_FRAME`` bytes; a ``{`` inside a frame means the frame was cut short
(rejected as ``incomplete``, the new frame is read); CR, LF and spaces between frames are not garbage.
A frame whose checksum does not match, or is missing, yields no reading.
"""

from __future__ import annotations

import re

from firmware_bridge.errors import EncodeError
from firmware_bridge.protocols.framing import StreamParser
from firmware_bridge.readings import BMI, BODY_HEIGHT, BODY_WEIGHT, Event, FrameRejected, MeasurementRead

OPEN, CLOSE = ord("{"), ord("}")
MAX_FRAME = 1024  # an MC-780 frame with segmental analysis is about 600 bytes
QUANTITIES = {"Wk": BODY_WEIGHT, "Hm": BODY_HEIGHT, "MI": BMI}
_BETWEEN_FRAMES = frozenset(b"\r\n \t")
_CHECKSUM = re.compile(rb"[0-9A-F]{2}")
_RUN = re.compile(rb"[\r\n \t]+|[^\r\n \t]+")


class TanitaParser(StreamParser):
    """Sans-I/O parser of Tanita ``{...}`` frames."""

    max_frame = MAX_FRAME

    def __init__(self, *, device_model: str | None = "Tanita") -> None:
        super().__init__()
        self._device_model = device_model

    def _scan(self) -> None:
        buffer = self._buffer
        while buffer:
            begin = buffer.find(OPEN)
            self._between(len(buffer) if begin < 0 else begin)
            if begin < 0:
                return
            # Decide from the first MAX_FRAME bytes only, so the outcome does not depend on chunking.
            limit = min(len(buffer), MAX_FRAME)
            close = buffer.find(CLOSE, 0, limit)
            reopen = buffer.find(OPEN, 1, close if close >= 0 else limit)
            if reopen > 0:
                self._reject("incomplete", reopen, consume=reopen)
            elif close >= 0:
                frame = bytes(buffer[: close + 1])
                self._consume(close + 1)
                self._frame(frame)
            elif len(buffer) >= MAX_FRAME:
                self._reject("overlong", MAX_FRAME, consume=MAX_FRAME)
            else:
                return

    def _between(self, count: int) -> None:
        """Drop bytes before a frame; line ends and spaces there are normal, the rest is garbage."""
        position = 0
        while position < count:
            run = _RUN.match(self._buffer, 0, count - position)
            assert run is not None  # one of the two alternatives always matches a non-empty buffer
            if self._buffer[0] in _BETWEEN_FRAMES:
                self._ignore(run.end())
            else:
                self._skip(run.end())
            position += run.end()

    def _frame(self, frame: bytes) -> None:
        marker = frame.rfind(b",CS,")
        if marker < 0 or len(frame) != marker + 7:
            self._emit_rejected("malformed", len(frame))
            return
        digits = frame[marker + 4 : marker + 6]
        if not _CHECKSUM.fullmatch(digits):  # uppercase only: "d9" for "D9" would hide a flipped bit
            self._emit_rejected("malformed", len(frame))
            return
        expected = int(digits, 16)
        if sum(frame[: marker + 1]) & 0xFF != expected:
            self._emit_rejected("bad-checksum", len(frame))
            return
        fields = frame[1:marker].decode("ascii", "replace").split(",")
        if len(fields) % 2:
            self._emit_rejected("malformed", len(frame))
            return
        pairs = list(zip(fields[::2], fields[1::2], strict=True))
        model = next((value.strip('"') for key, value in pairs if key == "MO"), None) or self._device_model
        readings: list[Event] = []
        for key, value in pairs:
            if key in QUANTITIES:
                try:
                    number = float(value)
                except ValueError:
                    self._emit_rejected("malformed", len(frame))
                    return
                readings.append(MeasurementRead.of(QUANTITIES[key], number, model))
        for reading in readings:
            self._emit(reading)

    def _emit_rejected(self, reason: str, size: int) -> None:
        self._emit(FrameRejected(reason, size))


def encode_tanita(
    *,
    weight: float,
    height: float | None = None,
    bmi: float | None = None,
    model: str = "SC-330",
    body_fat: float | None = None,
) -> bytes:
    """One Tanita frame with a correct checksum, followed by CR LF."""
    if weight <= 0 or weight >= 1000:
        raise EncodeError(f"Tanita weight out of range: {weight}")
    pairs = ["0,16", "~0,1", "~1,1", "~2,1", f'MO,"{model}"', "DT,22/11/2026", "Bt,0", "GE,1", "AG,21"]
    if height is not None:
        pairs.append(f"Hm,{height:.1f}")
    pairs.append(f"Wk,{weight:.1f}")
    if body_fat is not None:
        pairs.append(f"FW,{body_fat:.1f}")
    if bmi is not None:
        pairs.append(f"MI,{bmi:.1f}")
    body = ("{" + ",".join(pairs) + ",").encode("ascii")
    return body + f"CS,{sum(body) & 0xFF:02X}}}\r\n".encode("ascii")
