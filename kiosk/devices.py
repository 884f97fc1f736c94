"""The kiosk's serial devices: the card reader and a health station's instruments, through firmware_bridge.

Each configured port gets a ``SerialReader`` with the configured driver (it reconnects on unplug and
suppresses a held card's repeats). Their events, delivered on the readers' own threads, are routed here:

- ``CardRead`` → ``sink.handle_card`` (the tap), by the reader itself: the hub gives it ``handle_card`` as its
  ``on_card``, so a tap goes from the reader's thread straight to the runtime, not through the hub;
- ``MeasurementRead`` → ``sink.measurement`` as the contract's ``Measurement`` (LOINC, UCUM, model);
- ``DeviceStatus`` → ``sink.device_status`` (a finger out of the oximeter, an unstable scale: shown on
  screen, and proof someone is at the station); a PN532 that stops answering counts as a fault;
- ``PortFault`` / ``PortRestored`` → ``sink.fault`` / ``sink.restored`` (one ``fault`` event per outage);
- ``FrameRejected`` is counted by the reader (``stats``) and otherwise ignored: line noise is normal.

The sink is anything with those five methods (``DeviceSink``); the kiosk's runtime is one, a test may pass
a recorder. The hub knows only the reader's and the instruments' settings, not the runtime.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from pydantic import ValidationError

from firmware_bridge.evdev_reader import EvdevWedgeReader
from firmware_bridge.readings import (
    DeviceStatus,
    MeasurementRead,
    PortFault,
    PortRestored,
    RuntimeEvent,
)
from firmware_bridge.serial_port import SerialReader
from kiosk.settings import DeviceSettings, ReaderSettings
from onestop.events import Measurement

log = logging.getLogger(__name__)

CARD_READER = "card-reader"
_READER_FAULTS = {"not-responding", "reader-error"}


EVDEV_PREFIX = "/dev/input/"


class DeviceSink(Protocol):
    """Where the hub routes what the devices say (called on the readers' threads)."""

    def handle_card(self, card: str) -> object:
        """A card was read."""

    def measurement(self, measurement: Measurement) -> object:
        """An instrument measured something."""

    def device_status(self, component: str, status: str | None) -> None:
        """An instrument's state that is not a reading; ``None`` clears it."""

    def fault(self, component: str, error: str) -> None:
        """A reader or instrument stopped working."""

    def restored(self, component: str) -> None:
        """It works again."""


class DeviceHub:
    """Starts, routes and stops the card reader and the instruments it is given."""

    def __init__(self, reader: ReaderSettings, instruments: Sequence[DeviceSettings], sink: DeviceSink) -> None:
        self.sink = sink
        self.readers: list[SerialReader | EvdevWedgeReader] = []
        port = None if reader.absent else reader.port
        if port and port.startswith(EVDEV_PREFIX) and reader.driver == "wedge":
            # A USB keyboard-wedge reader: read through evdev with the device grabbed, so its keystrokes never
            # reach the UI (needs the evdev package on the kiosk: pip install evdev).
            self.readers.append(EvdevWedgeReader(port, self._reader_event, on_card=sink.handle_card,
                                                 repeat_window=reader.repeat_window_s))
        elif port:
            self.readers.append(SerialReader(port, reader.driver, self._reader_event, on_card=sink.handle_card,
                                             repeat_window=reader.repeat_window_s))
        for device in instruments:
            self.readers.append(SerialReader(device.port, device.driver, self._device_event(device.driver)))

    def start(self) -> None:
        """Open every port in the background (a missing device is a fault, retried, never fatal)."""
        for reader in self.readers:
            reader.start()

    def stop(self) -> None:
        """Close every port."""
        for reader in self.readers:
            reader.stop()

    def _reader_event(self, event: RuntimeEvent) -> None:
        """The card reader's other events (its cards go to ``sink.handle_card`` directly)."""
        if isinstance(event, PortFault):
            self.sink.fault(CARD_READER, event.error)
        elif isinstance(event, PortRestored):
            self.sink.restored(CARD_READER)
        elif isinstance(event, DeviceStatus):
            if event.status in _READER_FAULTS:
                self.sink.fault(CARD_READER, event.detail or event.status)
            elif event.status == "ready":
                self.sink.restored(CARD_READER)

    def _device_event(self, component: str) -> Callable[[RuntimeEvent], None]:
        def route(event: RuntimeEvent) -> None:
            if isinstance(event, MeasurementRead):
                try:
                    reading = Measurement(code=event.code, value=event.value, unit=event.unit,
                                          device_model=event.device_model)
                except ValidationError:
                    log.warning("%s: reading outside the contract ignored (%s)", component, event.code)
                    return
                self.sink.device_status(component, None)  # a reading ends "finger out", "unstable"
                self.sink.measurement(reading)
            elif isinstance(event, DeviceStatus):
                self.sink.device_status(component, event.status)
            elif isinstance(event, PortFault):
                self.sink.fault(component, event.error)
            elif isinstance(event, PortRestored):
                self.sink.restored(component)

        return route
