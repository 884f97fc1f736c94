"""NXP PN532 frames over HSU (UART, 115200 8N1), and the cards in InListPassiveTarget responses.

Frame formats (PN532 user manual, section 6.2):
- information frame: ``00`` | ``00 FF`` | LEN | LCS | TFI | PD0..PDn | DCS | ``00`` where LEN counts TFI and
  the data, ``(LEN + LCS) & 0xFF == 0`` and ``(TFI + sum(PD) + DCS) & 0xFF == 0``; TFI ``D4`` host to PN532,
  ``D5`` PN532 to host; a response code is the command code + 1;
- extended information frame: ``00 00 FF FF FF`` LENM LENL LCS TFI ... (LCS over LENM + LENL);
- ACK ``00 00 FF 00 FF 00``; NACK ``00 00 FF FF 00 00``; application error ``00 00 FF 01 FF 7F 81 00``.

Example, a MIFARE Classic with UID 92 2E 58 32 answering InListPassiveTarget:
``00 00 FF 0C F4 D5 4B 01 01 00 04 08 04 92 2E 58 32 84 00`` -> ``CardRead("922E5832")``.

Invariants: the scan looks for the start code ``00 FF`` (the leading preamble byte is optional on the
wire); a frame failing a check is rejected and the scan resumes right after its start code, so a good
frame hidden inside a bad one (lost bytes) is still found. Frames longer than ``MAX_DATA`` are rejected
as ``overlong`` before they are buffered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from firmware_bridge.errors import EncodeError
from firmware_bridge.protocols.framing import StreamParser
from firmware_bridge.readings import CardRead, DeviceStatus, Event, FrameRejected

HOST_TO_PN532 = 0xD4
PN532_TO_HOST = 0xD5
START_CODE = b"\x00\xff"
MAX_DATA = 265  # the PN532's largest frame: TFI + 264 data bytes

ACK = bytes.fromhex("0000FF00FF00")
NACK = bytes.fromhex("0000FFFF0000")
ERROR_FRAME = bytes.fromhex("0000FF01FF7F8100")
WAKE_UP = bytes([0x55, 0x55]) + bytes(14)  # HSU wake-up: the 0x55s, then zeros while the chip boots

GET_FIRMWARE_VERSION = 0x02
SAM_CONFIGURATION = 0x14
IN_LIST_PASSIVE_TARGET = 0x4A


@dataclass(frozen=True, slots=True)
class Ack:
    """The PN532 (or the host) accepted the last frame."""


@dataclass(frozen=True, slots=True)
class Nack:
    """Request to send the last frame again."""


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    """The PN532 reports an application-level error (syntax error in the host's command)."""


@dataclass(frozen=True, slots=True)
class InformationFrame:
    """A command (``tfi == 0xD4``) or a response (``0xD5``): ``code`` is the command/response code."""

    tfi: int
    code: int
    data: bytes


Frame = Ack | Nack | ErrorFrame | InformationFrame


def encode_frame(tfi: int, payload: bytes) -> bytes:
    """A normal information frame carrying ``tfi`` and ``payload`` (code + parameters)."""
    body = bytes([tfi]) + payload
    if len(body) > 255:
        raise EncodeError("PN532 normal frames carry at most 254 data bytes")
    length = len(body)
    return b"\x00\x00\xff" + bytes([length, (-length) & 0xFF]) + body + bytes([(-sum(body)) & 0xFF, 0x00])


def encode_command(code: int, params: bytes = b"") -> bytes:
    """A host-to-PN532 command frame."""
    return encode_frame(HOST_TO_PN532, bytes([code]) + params)


def encode_response(code: int, data: bytes = b"") -> bytes:
    """A PN532-to-host response frame; ``code`` is the response code (command + 1)."""
    return encode_frame(PN532_TO_HOST, bytes([code]) + data)


def encode_pn532(card: str, *, sens_res: bytes = b"\x00\x04", sel_res: int = 0x08) -> bytes:
    """The InListPassiveTarget response for one type A target with UID ``card`` (4, 7 or 10 bytes hex)."""
    try:
        uid = bytes.fromhex(card)
    except ValueError as exc:
        raise EncodeError(f"PN532 card must be hex, got {card!r}") from exc
    if len(uid) not in (4, 7, 10):
        raise EncodeError(f"a type A UID has 4, 7 or 10 bytes, got {len(uid)}")
    target = bytes([0x01]) + sens_res + bytes([sel_res, len(uid)]) + uid
    return encode_response(IN_LIST_PASSIVE_TARGET + 1, bytes([0x01]) + target)


def encode_no_target() -> bytes:
    """The InListPassiveTarget response when no card answered (NbTg = 0)."""
    return encode_response(IN_LIST_PASSIVE_TARGET + 1, b"\x00")


class Pn532FrameParser(StreamParser):
    """Sans-I/O parser of PN532 HSU frames in either direction; returns ``Frame`` objects.

    Rejected frames come out as ``FrameRejected`` like in every other parser.
    """

    max_frame = 2 + 6 + MAX_DATA + 2  # start code, extended header, body, DCS + postamble

    def feed(self, data: bytes) -> list[Frame | Event]:  # type: ignore[override]
        return super().feed(data)  # type: ignore[return-value]

    def _scan(self) -> None:
        buffer = self._buffer
        while buffer:
            begin = buffer.find(START_CODE)
            if begin < 0:
                # Keep trailing zeros (at most two): the start of a start code and its preamble.
                keep = 2 if buffer.endswith(b"\x00\x00") else 1 if buffer[-1] == 0x00 else 0
                self._skip(len(buffer) - keep)
                return
            if begin and buffer[begin - 1] == 0x00:
                self._skip(begin - 1)
                self._consume(1)  # the preamble belongs to the frame, it is not garbage
            elif begin:
                self._skip(begin)
            if not self._frame():
                return

    def _frame(self) -> bool:
        """Decide the frame at the start of the buffer; False when more bytes are needed."""
        buffer = self._buffer
        if len(buffer) < 4:
            return False
        length, check = buffer[2], buffer[3]
        if (length, check) == (0x00, 0xFF):
            return self._short(Ack(), 4)
        if (length, check) == (0xFF, 0x00):
            return self._short(Nack(), 4)
        header = 4
        if (length, check) == (0xFF, 0xFF):  # extended frame: LENM LENL LCS follow
            if len(buffer) < 7:
                return False
            length = buffer[4] << 8 | buffer[5]
            check = (buffer[4] + buffer[5] + buffer[6]) & 0xFF
            header = 7
            if check != 0:
                self._reject("bad-checksum", header, consume=2)
                return True
        elif (length + check) & 0xFF:
            self._reject("bad-checksum", header, consume=2)
            return True
        if length == 0 or length > MAX_DATA:
            self._reject("overlong" if length else "malformed", header, consume=2)
            return True
        size = header + length + 2
        if len(buffer) < size:
            return False
        body = bytes(buffer[header : header + length])
        if (sum(body) + buffer[header + length]) & 0xFF:
            self._reject("bad-checksum", size, consume=2)
        elif buffer[size - 1] != 0x00:
            self._reject("malformed", size, consume=2)
        elif body == b"\x7f":
            self._consume(size)
            self._emit(ErrorFrame())  # type: ignore[arg-type]
        elif body[0] not in (HOST_TO_PN532, PN532_TO_HOST) or len(body) < 2:
            self._reject("malformed", size, consume=2)
        else:
            self._consume(size)
            self._emit(InformationFrame(body[0], body[1], body[2:]))  # type: ignore[arg-type]
        return True

    def _short(self, frame: Frame, header: int) -> bool:
        if len(self._buffer) < header + 1:
            return False
        if self._buffer[header] != 0x00:
            self._reject("malformed", header + 1, consume=2)
        else:
            self._consume(header + 1)
            self._emit(frame)  # type: ignore[arg-type]
        return True


def cards_in_target_list(data: bytes) -> list[str] | None:
    """The UIDs in InListPassiveTarget response data (after the 4B code); None if malformed.

    Each 106 kbps type A target is Tg, SENS_RES (2), SEL_RES, NFCIDLength, NFCID, and for ISO-DEP cards
    (SEL_RES bit 5) an ATS whose first byte is its own length.
    """
    if not data:
        return None
    count, position, cards = data[0], 1, []
    for _ in range(count):
        if position + 5 > len(data):
            return None
        sel_res, uid_length = data[position + 3], data[position + 4]
        uid = data[position + 5 : position + 5 + uid_length]
        if uid_length not in (4, 7, 10) or len(uid) != uid_length:
            return None
        cards.append(uid.hex().upper())
        position += 5 + uid_length
        if sel_res & 0x20 and position < len(data):
            position += max(data[position], 1)
    return cards


class Pn532Parser:
    """Sans-I/O decoder of a captured PN532-to-host stream: InListPassiveTarget responses -> CardRead.

    ACK, NACK and other responses are protocol traffic, not readings, and produce nothing; an error
    frame produces ``DeviceStatus("reader-error")``. Host-to-PN532 frames in the capture are ignored.
    """

    def __init__(self) -> None:
        self._frames = Pn532FrameParser()

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return self._frames.buffered

    @property
    def max_buffer(self) -> int:
        """Upper bound of ``buffered``."""
        return self._frames.max_buffer

    def feed(self, data: bytes) -> list[Event]:
        """Take the next bytes of the stream; return the events they complete."""
        return self._translate(self._frames.feed(data))

    def finish(self) -> list[Event]:
        """End of stream: report a frame cut short and trailing garbage."""
        return self._translate(self._frames.finish())

    @staticmethod
    def _translate(frames: Sequence[Frame | Event]) -> list[Event]:
        events: list[Event] = []
        for frame in frames:
            if isinstance(frame, ErrorFrame):
                events.append(DeviceStatus("reader-error", "PN532 application error frame"))
            elif isinstance(frame, InformationFrame):
                events.extend(target_events(frame))
            elif not isinstance(frame, Ack | Nack):
                events.append(frame)
        return events


def target_events(frame: InformationFrame) -> list[Event]:
    """Card reads (or a rejection) for an InListPassiveTarget response; nothing for other frames."""
    if frame.tfi != PN532_TO_HOST or frame.code != IN_LIST_PASSIVE_TARGET + 1:
        return []
    cards = cards_in_target_list(frame.data)
    if cards is None:
        return [FrameRejected("malformed", len(frame.data) + 9)]
    return [CardRead(card) for card in cards]
