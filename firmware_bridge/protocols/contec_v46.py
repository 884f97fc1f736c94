"""Contec CMS50D+ firmware 4.6: 9-byte packets at 115200 8N1, streamed only after a start command.

The host sends ``START`` (``7D 81 A1 80 80 80 80 80 80``) and then ``KEEP_ALIVE``
(``7D 81 AF 80 80 80 80 80 80``) every few seconds, or the device stops streaming.

Packet: ``01`` | ``Ex`` | 7 data bytes, each with bit 7 set (value = byte & 0x7F). ``E0``: all values valid,
``E1``: waveform only (still searching), ``E2``: nothing valid. Byte 3 is the pleth, byte 5 the pulse rate,
byte 6 the SpO2; bytes 2, 4, 7 and 8 are not interpreted. The reference gives the pulse rate as 7 bits, so
this format cannot carry rates above 127/min and we do not guess where an eighth bit would be.

Example: ``01 E0 80 C0 80 C8 E1 80 80`` -> SpO2 97 %, pulse 72/min.

Invariants: as for ``cms50d``: a packet broken by a byte without bit 7 is rejected at that byte (which may
be the ``01`` of the next packet); readings are throttled by ``OximetryThrottle``.
"""

from __future__ import annotations

from firmware_bridge.errors import EncodeError
from firmware_bridge.protocols.framing import StreamParser
from firmware_bridge.protocols.oximetry import DEFAULT_REPEAT_EVERY, OximetryThrottle, status_of
from firmware_bridge.readings import Event

START = bytes.fromhex("7D81A1808080808080")
KEEP_ALIVE = bytes.fromhex("7D81AF808080808080")
PACKET_SIZE = 9
HEADER = 0x01
ALL_VALID, WAVEFORM_ONLY, NOTHING_VALID = 0xE0, 0xE1, 0xE2
DEFAULT_KEEP_ALIVE_INTERVAL = 5.0
DEFAULT_RESTART_AFTER = 10.0


class ContecV46Parser(StreamParser):
    """Sans-I/O parser of the firmware 4.6 packet stream (the session sends the commands)."""

    max_frame = PACKET_SIZE

    def __init__(
        self, *, device_model: str | None = "Contec CMS50D+ v4.6", repeat_every: int = DEFAULT_REPEAT_EVERY
    ) -> None:
        super().__init__()
        self._throttle = OximetryThrottle(device_model, repeat_every)
        self.packets = 0  # good packets so far: the session's sign of life

    def _scan(self) -> None:
        buffer = self._buffer
        while buffer:
            begin = buffer.find(HEADER)
            if begin < 0:
                self._skip(len(buffer))
                return
            self._skip(begin)
            if len(buffer) < 2:
                return
            if (buffer[1] & 0xF0) != 0xE0:
                self._skip(1)  # a 01 that does not start a packet
                continue
            for index in range(2, min(len(buffer), PACKET_SIZE)):
                if not buffer[index] & 0x80:
                    self._reject("incomplete", index, consume=index)
                    break
            else:
                if len(buffer) < PACKET_SIZE:
                    return
                packet = bytes(buffer[:PACKET_SIZE])
                if packet[1] not in (ALL_VALID, WAVEFORM_ONLY, NOTHING_VALID):
                    self._reject("malformed", PACKET_SIZE, consume=PACKET_SIZE)
                    continue
                self._consume(PACKET_SIZE)
                self.packets += 1
                self._packet(packet)

    def _packet(self, packet: bytes) -> None:
        pulse, spo2 = packet[5] & 0x7F, packet[6] & 0x7F
        if packet[1] == ALL_VALID:
            status = status_of(finger_out=False, probe_error=False, searching=False, spo2=spo2, pulse=pulse)
        elif packet[1] == WAVEFORM_ONLY:
            status = "searching"
        else:
            status = "no-signal"
        for event in self._throttle.packet(spo2, pulse, status):
            self._emit(event)


def encode_cms50d_v46(spo2: int, pulse: int, *, kind: int = ALL_VALID, pleth: int = 64) -> bytes:
    """One 9-byte packet (``kind`` E0 all valid, E1 waveform only, E2 nothing valid)."""
    if not (0 <= spo2 <= 127 and 0 <= pulse <= 127 and 0 <= pleth <= 127):
        raise EncodeError(f"Contec v4.6 cannot carry SpO2 {spo2}, pulse {pulse}, pleth {pleth}")
    return bytes([HEADER, kind, 0x80, 0x80 | pleth, 0x80, 0x80 | pulse, 0x80 | spo2, 0x80, 0x80])


class ContecV46Session:
    """The host side of a v4.6 conversation: start, keep-alive, and a restart after silence.

    ``start(now)`` gives the start command; ``poll(now)`` gives a keep-alive every
    ``keep_alive_interval`` seconds, or the start command again when no good packet arrived for
    ``restart_after`` seconds (the device was switched off and on, or missed the start).
    """

    def __init__(
        self,
        *,
        keep_alive_interval: float = DEFAULT_KEEP_ALIVE_INTERVAL,
        restart_after: float = DEFAULT_RESTART_AFTER,
        device_model: str | None = "Contec CMS50D+ v4.6",
        repeat_every: int = DEFAULT_REPEAT_EVERY,
    ) -> None:
        self._parser = ContecV46Parser(device_model=device_model, repeat_every=repeat_every)
        self._keep_alive_interval = keep_alive_interval
        self._restart_after = restart_after
        self._last_sent = self._last_start = self._last_packet = 0.0
        self._seen = 0

    def start(self, now: float) -> bytes:
        """The bytes to write once the port is open."""
        self._last_sent = self._last_start = self._last_packet = now
        return START

    def feed(self, data: bytes, now: float) -> list[Event]:
        """Bytes from the device; returns their events."""
        events = self._parser.feed(data)
        if self._parser.packets != self._seen:
            self._seen = self._parser.packets
            self._last_packet = now
        return events

    def poll(self, now: float) -> bytes:
        """The bytes to write now (a keep-alive, a restart), or ``b""``."""
        silent = now - max(self._last_packet, self._last_start)
        if silent >= self._restart_after:
            self._last_sent = self._last_start = now
            return START
        if now - self._last_sent >= self._keep_alive_interval:
            self._last_sent = now
            return KEEP_ALIVE
        return b""
