"""The host side of a PN532 conversation over HSU, as a sans-I/O state machine.

The PN532 says nothing until asked, so the reader must be driven: wake it up (``55 55`` and zeros), send
SAMConfiguration (normal mode), ask GetFirmwareVersion, then poll with InListPassiveTarget (1 target,
106 kbps type A). Every command is acknowledged by an ACK frame before its response arrives.

States and what moves them (``now`` is always passed in; there is no clock inside):

    IDLE ──(poll: due)──▶ AWAIT_ACK ──(ACK)──▶ AWAIT_RESPONSE ──(response)──▶ IDLE
                           │  NACK: resend        │  bad frame, or bytes that make no frame
                           │                      │  followed by quiet_time of silence: send NACK
                           │  time-out: resend,   │  error frame: retry after poll_interval
                           │  then give up        │  InListPassiveTarget time-out (no card): abort with ACK
                           ▼                      ▼
              after max_retries: DeviceStatus("not-responding"), wake-up again after rewake_delay

Without MxRtyPassiveActivation set, InListPassiveTarget waits until a card comes; aborting it after
``list_timeout`` and asking again doubles as a liveness check (a dead reader stops ACKing).

Use: ``start(now)`` after the port opens and write what it returns; then on every loop turn
``feed(data, now)`` (data may be empty; it also returns events raised by time-outs) and write
``poll(now)``. A ``DeviceStatus("ready")`` tells the reader is configured; ``CardRead`` per card found
(repeats while the card stays on the reader: the reader suppresses them, ``firmware_bridge.reconnect``).
"""

from __future__ import annotations

from enum import Enum

from firmware_bridge.protocols.pn532 import (
    ACK,
    GET_FIRMWARE_VERSION,
    IN_LIST_PASSIVE_TARGET,
    NACK,
    PN532_TO_HOST,
    SAM_CONFIGURATION,
    WAKE_UP,
    Ack,
    ErrorFrame,
    InformationFrame,
    Nack,
    Pn532FrameParser,
    encode_command,
    target_events,
)
from firmware_bridge.readings import DeviceStatus, Event, FrameRejected

PARAMETERS = {
    SAM_CONFIGURATION: bytes([0x01, 0x14, 0x01]),  # normal mode, 1 s virtual-card timeout, use IRQ
    GET_FIRMWARE_VERSION: b"",
    IN_LIST_PASSIVE_TARGET: bytes([0x01, 0x00]),  # at most 1 target, 106 kbps type A
}


class Phase(Enum):
    """Where the conversation is."""

    IDLE = "idle"
    AWAIT_ACK = "await-ack"
    AWAIT_RESPONSE = "await-response"


class Pn532Session:
    """Drives a PN532 card reader; see the module docstring for the states."""

    def __init__(
        self,
        *,
        ack_timeout: float = 0.25,
        response_timeout: float = 0.5,
        list_timeout: float = 1.0,
        poll_interval: float = 0.05,
        max_retries: int = 3,
        rewake_delay: float = 1.0,
        quiet_time: float = 0.05,
    ) -> None:
        self._frames = Pn532FrameParser()
        self._ack_timeout = ack_timeout
        self._response_timeout = response_timeout
        self._list_timeout = list_timeout
        self._poll_interval = poll_interval
        self._max_retries = max_retries
        self._rewake_delay = rewake_delay
        self._quiet_time = quiet_time
        self._quiet_at: float | None = None  # when bytes that made no frame count as a damaged response
        self.phase = Phase.IDLE
        self.configured = False
        self._responsive = True
        self._command = SAM_CONFIGURATION
        self._sent = b""
        self._deadline = 0.0
        self._next_at = 0.0
        self._retries = 0
        self._out = bytearray()
        self._events: list[Event] = []

    # -- the interface the runtime drives --------------------------------------------------------------

    def start(self, now: float) -> bytes:
        """Begin (again) with a wake-up; returns the bytes to write."""
        self.configured = False
        self._retries = 0
        self._send(SAM_CONFIGURATION, now, prefix=WAKE_UP)
        return self._take_output()

    def feed(self, data: bytes, now: float) -> list[Event]:
        """Bytes from the reader; returns card reads, statuses and rejected frames (also from time-outs)."""
        self._handle(self._frames.feed(data) if data else [], now)
        if data and self.phase is Phase.AWAIT_RESPONSE and self._frames.unexplained:
            self._quiet_at = now + self._quiet_time
        events, self._events = self._events, []
        return events

    def poll(self, now: float) -> bytes:
        """Act on due work and time-outs; returns the bytes to write now (often ``b""``)."""
        if self.phase is Phase.IDLE and now >= self._next_at:
            if self.configured:
                self._send(IN_LIST_PASSIVE_TARGET, now)
            else:
                self._retries = 0
                self._send(SAM_CONFIGURATION, now, prefix=WAKE_UP)
        elif self._quiet_at is not None and now >= self._quiet_at:
            # Bytes came but made no frame, and the line went quiet: a damaged response. Ask again.
            self._quiet_at = None
            self._handle(self._frames.flush(), now, nack=False)
            if self.phase is Phase.AWAIT_RESPONSE:
                self._retries += 1
                if self._retries <= self._max_retries:
                    self._out += NACK
        elif self.phase is not Phase.IDLE and now >= self._deadline:
            # The line is quiet: a frame still waiting for bytes is broken; what it hid may be the answer.
            self._handle(self._frames.flush(), now, nack=False)
            if self.phase is not Phase.IDLE and now >= self._deadline:
                self._on_timeout(now)
        return self._take_output()

    # -- transitions -------------------------------------------------------------------------------------

    def _handle(self, items: list, now: float, *, nack: bool = True) -> None:
        for item in items:
            if isinstance(item, Ack):
                self._on_ack(now)
            elif isinstance(item, Nack):
                self._resend(now)
            elif isinstance(item, ErrorFrame):
                self._events.append(DeviceStatus("reader-error", "PN532 application error frame"))
                self._idle(now + self._poll_interval)
            elif isinstance(item, InformationFrame):
                self._on_information(item, now)
            elif isinstance(item, FrameRejected):
                self._events.append(item)
                if nack and self.phase is Phase.AWAIT_RESPONSE and item.reason != "garbage":
                    self._retries += 1
                    if self._retries <= self._max_retries:
                        self._out += NACK  # ask the PN532 to send its response again

    def _send(self, command: int, now: float, *, prefix: bytes = b"") -> None:
        self._command = command
        self._sent = encode_command(command, PARAMETERS[command])
        self._out += prefix + self._sent
        self.phase = Phase.AWAIT_ACK
        self._deadline = now + self._ack_timeout

    def _resend(self, now: float) -> None:
        if self.phase is Phase.IDLE:
            return
        self._retries += 1
        if self._retries > self._max_retries:
            self._give_up(now)
            return
        wake = WAKE_UP if self._command == SAM_CONFIGURATION else b""
        self._out += wake + self._sent
        self.phase = Phase.AWAIT_ACK
        self._deadline = now + self._ack_timeout

    def _on_ack(self, now: float) -> None:
        if self.phase is not Phase.AWAIT_ACK:
            return
        self.phase = Phase.AWAIT_RESPONSE
        wait = self._list_timeout if self._command == IN_LIST_PASSIVE_TARGET else self._response_timeout
        self._deadline = now + wait

    def _on_information(self, frame: InformationFrame, now: float) -> None:
        # A response also counts when its ACK was lost on the line.
        if self.phase is Phase.IDLE or frame.tfi != PN532_TO_HOST or frame.code != self._command + 1:
            return
        self._retries = 0
        self._responsive = True
        if self._command == SAM_CONFIGURATION:
            self._send(GET_FIRMWARE_VERSION, now)
        elif self._command == GET_FIRMWARE_VERSION:
            self.configured = True
            self._events.append(DeviceStatus("ready", _firmware(frame.data)))
            self._idle(now)
        else:
            self._events.extend(target_events(frame))
            self._idle(now + self._poll_interval)

    def _on_timeout(self, now: float) -> None:
        if self.phase is Phase.AWAIT_RESPONSE and self._command == IN_LIST_PASSIVE_TARGET:
            self._out += ACK  # no card came: abort the command and ask again
            self._idle(now + self._poll_interval)
        else:
            self._resend(now)

    def _give_up(self, now: float) -> None:
        if self._responsive:
            self._responsive = False
            self._events.append(DeviceStatus("not-responding", "PN532 did not answer; waking it up again"))
        self.configured = False
        self._retries = 0
        self._idle(now + self._rewake_delay)

    def _idle(self, next_at: float) -> None:
        self._quiet_at = None
        self.phase = Phase.IDLE
        self._next_at = next_at

    def _take_output(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out


def _firmware(data: bytes) -> str:
    if len(data) < 3:
        return "PN532"
    return f"PN5{data[0]:02X} firmware {data[1]}.{data[2]}"
