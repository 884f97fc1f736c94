"""Contec CMS50D+ live stream (older firmware): 5-byte packets at 19200 baud, 8 data bits, odd parity.

Packet: byte 0 has bit 7 set, bytes 1-4 have bit 7 clear (that is the only sync; there is no checksum).
- byte 0: bits 0-3 signal strength, bit 4 finger out, bit 5 SpO2 dropping, bit 6 beep;
- byte 1: pleth (0-127);
- byte 2: bits 0-3 bar graph, bit 4 probe error, bit 5 searching, bit 6 = bit 7 of the pulse rate;
- byte 3: pulse rate bits 0-6; byte 4: SpO2 %.

Example: ``85 40 05 48 61`` -> SpO2 97 %, pulse 72/min, finger in.

Invariants: a packet broken by a byte with the wrong bit 7 is rejected as ``incomplete`` at that byte and
the scan resumes there, so at most one packet is lost; readings are throttled by ``OximetryThrottle``.
Without a checksum, a flipped value bit cannot be detected; only the sync pattern is checked.
"""

from __future__ import annotations

import re

from firmware_bridge.errors import EncodeError
from firmware_bridge.protocols.framing import StreamParser
from firmware_bridge.protocols.oximetry import DEFAULT_REPEAT_EVERY, OximetryThrottle, status_of

_SYNC = re.compile(rb"[\x80-\xff]")
PACKET_SIZE = 5


class Cms50dParser(StreamParser):
    """Sans-I/O parser of the CMS50D+ 5-byte live stream."""

    max_frame = PACKET_SIZE

    def __init__(
        self, *, device_model: str | None = "Contec CMS50D+", repeat_every: int = DEFAULT_REPEAT_EVERY
    ) -> None:
        super().__init__()
        self._throttle = OximetryThrottle(device_model, repeat_every)

    def _scan(self) -> None:
        buffer = self._buffer
        while buffer:
            sync = _SYNC.search(buffer)
            if sync is None:
                self._skip(len(buffer))
                return
            self._skip(sync.start())
            for index in range(1, min(len(buffer), PACKET_SIZE)):
                if buffer[index] & 0x80:
                    self._reject("incomplete", index, consume=index)
                    break
            else:
                if len(buffer) < PACKET_SIZE:
                    return
                packet = bytes(buffer[:PACKET_SIZE])
                self._consume(PACKET_SIZE)
                self._packet(packet)

    def _packet(self, packet: bytes) -> None:
        head, _pleth, flags, pulse_low, spo2 = packet
        pulse = (flags & 0x40) << 1 | pulse_low
        status = status_of(
            finger_out=bool(head & 0x10),
            probe_error=bool(flags & 0x10),
            searching=bool(flags & 0x20),
            spo2=spo2,
            pulse=pulse,
        )
        for event in self._throttle.packet(spo2, pulse, status):
            self._emit(event)


def encode_cms50d(
    spo2: int,
    pulse: int,
    *,
    finger_in: bool = True,
    searching: bool = False,
    probe_error: bool = False,
    signal: int = 5,
    pleth: int = 64,
    bar: int = 5,
    beep: bool = False,
) -> bytes:
    """One 5-byte live packet."""
    if not (0 <= spo2 <= 127 and 0 <= pulse <= 255 and 0 <= pleth <= 127):
        raise EncodeError(f"CMS50D cannot carry SpO2 {spo2}, pulse {pulse}, pleth {pleth}")
    head = 0x80 | (signal & 0x0F) | (0 if finger_in else 0x10) | (0x40 if beep else 0)
    flags = (bar & 0x0F) | (0x10 if probe_error else 0) | (0x20 if searching else 0) | (pulse & 0x80) >> 1
    return bytes([head, pleth, flags, pulse & 0x7F, spo2])
