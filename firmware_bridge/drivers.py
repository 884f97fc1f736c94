"""The driver registry: every device the bridge can read, by the names CONTRACT.md fixes.

A ``Driver`` declares what it needs from the serial port (like ESPHome components do) and how to make its
sans-I/O parser, plus a conversation ``Session`` for devices that must be talked to (PN532, Contec v4.6).
The serial runtime and the ``decode`` command look drivers up here; nobody hard-codes serial settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from firmware_bridge.errors import UnknownDriverError
from firmware_bridge.protocols.and_scale import AndScaleParser
from firmware_bridge.protocols.cms50d import Cms50dParser
from firmware_bridge.protocols.contec_v46 import ContecV46Parser, ContecV46Session
from firmware_bridge.protocols.em4100 import Em4100Parser
from firmware_bridge.protocols.gatt import GattBloodPressureParser, GattTemperatureParser
from firmware_bridge.protocols.parallax import ParallaxParser
from firmware_bridge.protocols.pn532 import Pn532Parser
from firmware_bridge.protocols.pn532_session import Pn532Session
from firmware_bridge.protocols.tanita import TanitaParser
from firmware_bridge.protocols.wedge import WedgeParser
from firmware_bridge.readings import Event


class Parser(Protocol):
    """A sans-I/O parser: bytes in any chunking in, events out."""

    @property
    def buffered(self) -> int: ...

    @property
    def max_buffer(self) -> int: ...

    def feed(self, data: bytes) -> list[Event]: ...

    def finish(self) -> list[Event]: ...


class Session(Protocol):
    """The host side of a device conversation: what to write, when, and the events read back."""

    def start(self, now: float) -> bytes: ...

    def feed(self, data: bytes, now: float) -> list[Event]: ...

    def poll(self, now: float) -> bytes: ...


class PassiveSession:
    """The session of a device that only talks: never writes, just parses."""

    def __init__(self, parser: Parser) -> None:
        self.parser = parser

    def start(self, now: float) -> bytes:
        """Nothing to say to a device that streams on its own."""
        return b""

    def feed(self, data: bytes, now: float) -> list[Event]:
        """Parse the bytes; ``now`` is not needed."""
        return self.parser.feed(data) if data else []

    def poll(self, now: float) -> bytes:
        """Nothing to write."""
        return b""


class PeripheralKind(StrEnum):
    """What instrument a driver reads (a peripheral of a kiosk, station or sensor node; not a ``DeviceKind``)."""

    CARD_READER = "card reader"
    PULSE_OXIMETER = "pulse oximeter"
    SCALE = "scale"
    BLOOD_PRESSURE = "blood pressure monitor"
    THERMOMETER = "thermometer"


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Line settings in pyserial's terms: parity ``"N"``, ``"E"`` or ``"O"``; stopbits 1, 1.5 or 2."""

    baudrate: int
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1

    def __str__(self) -> str:
        stop = int(self.stopbits) if float(self.stopbits).is_integer() else self.stopbits
        return f"{self.baudrate} {self.bytesize}{self.parity}{stop}"


@dataclass(frozen=True, slots=True)
class Driver:
    """One device family: its name, what it is, its line settings and how to parse (and drive) it."""

    name: str
    description: str
    kind: PeripheralKind
    serial: SerialSettings
    parser: Callable[[], Parser]
    session: Callable[[], Session] | None = field(default=None)

    @property
    def conversational(self) -> bool:
        """True when the host must send commands for the device to report anything."""
        return self.session is not None

    def new_session(self) -> Session:
        """A fresh conversation (a passive one for streaming devices), one per port opening."""
        return self.session() if self.session else PassiveSession(self.parser())


_ALL = (
    Driver(
        name="em4100",
        description="EM4100 125 kHz UART reader (RDM6300, RDM630); 14-byte frames, XOR checksum",
        kind=PeripheralKind.CARD_READER,
        serial=SerialSettings(9600),
        parser=Em4100Parser,
    ),
    Driver(
        name="parallax",
        description="Parallax-style 125 kHz reader; LF + 10 hex digits + CR, no checksum",
        kind=PeripheralKind.CARD_READER,
        serial=SerialSettings(2400),
        parser=ParallaxParser,
    ),
    Driver(
        name="pn532",
        description="NXP PN532 over HSU, ISO14443A cards (MIFARE, NTAG); polled by the bridge",
        kind=PeripheralKind.CARD_READER,
        serial=SerialSettings(115200),
        parser=Pn532Parser,
        session=Pn532Session,
    ),
    Driver(
        name="wedge",
        description="Keyboard-wedge reader, serial variant: digits then CR and/or LF",
        kind=PeripheralKind.CARD_READER,
        serial=SerialSettings(9600),
        parser=WedgeParser,
    ),
    Driver(
        name="cms50d",
        description="Contec CMS50D+ live stream (older firmware); 5-byte packets, ~60/s",
        kind=PeripheralKind.PULSE_OXIMETER,
        serial=SerialSettings(19200, 8, "O", 1),
        parser=Cms50dParser,
    ),
    Driver(
        name="cms50d-v46",
        description="Contec CMS50D+ firmware 4.6; 9-byte packets after a start command",
        kind=PeripheralKind.PULSE_OXIMETER,
        serial=SerialSettings(115200),
        parser=ContecV46Parser,
        session=ContecV46Session,
    ),
    Driver(
        name="and-scale",
        description="A&D scale or balance, standard format lines (ST/US/OL)",
        kind=PeripheralKind.SCALE,
        serial=SerialSettings(2400, 7, "E", 1),
        parser=AndScaleParser,
    ),
    Driver(
        name="tanita",
        description="Tanita body-composition monitor (SC-330, MC-780); {...} line with CS checksum",
        kind=PeripheralKind.SCALE,
        serial=SerialSettings(9600),
        parser=TanitaParser,
    ),
    Driver(
        name="gatt-bp",
        description="BLE Blood Pressure Measurement (0x2A35) values, one hex line each",
        kind=PeripheralKind.BLOOD_PRESSURE,
        serial=SerialSettings(115200),
        parser=GattBloodPressureParser,
    ),
    Driver(
        name="gatt-temp",
        description="BLE Temperature Measurement (0x2A1C) values, one hex line each",
        kind=PeripheralKind.THERMOMETER,
        serial=SerialSettings(115200),
        parser=GattTemperatureParser,
    ),
)

DRIVERS: dict[str, Driver] = {driver.name: driver for driver in _ALL}


def get_driver(name: str) -> Driver:
    """The driver called ``name``; raises ``UnknownDriverError`` listing the valid names."""
    try:
        return DRIVERS[name]
    except KeyError:
        raise UnknownDriverError(name, sorted(DRIVERS)) from None
