"""The kiosk's serial devices: the card reader and a health station's instruments, through firmware_bridge.

Each configured port gets a ``SerialReader`` with the configured driver (it reconnects on unplug and
suppresses a held card's repeats). Their events, delivered on the readers' own threads, are routed here:

- ``CardRead`` → ``runtime.handle_card`` (the tap);
- ``MeasurementRead`` → ``runtime.measurement`` as the contract's ``Measurement`` (LOINC, UCUM, model);
- ``DeviceStatus`` → ``runtime.device_status`` (a finger out of the oximeter, an unstable scale: shown on
  screen, and proof someone is at the station); a PN532 that stops answering counts as a fault;
- ``PortFault`` / ``PortRestored`` → ``runtime.fault`` / ``runtime.restored`` (one ``fault`` event per outage);
- ``FrameRejected`` is counted by the reader (``stats``) and otherwise ignored: line noise is normal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import ValidationError

from firmware_bridge.evdev_reader import EvdevWedgeReader
from firmware_bridge.readings import (
    CardRead,
    DeviceStatus,
    MeasurementRead,
    PortFault,
    PortRestored,
    RuntimeEvent,
)
from firmware_bridge.serial_port import SerialReader
from onestop.events import Measurement

if TYPE_CHECKING:
    from kiosk.runtime import KioskRuntime

log = logging.getLogger(__name__)

CARD_READER = "card-reader"
_READER_FAULTS = {"not-responding", "reader-error"}


EVDEV_PREFIX = "/dev/input/"


class DeviceHub:
    """Starts, routes and stops every serial device a kiosk's settings name."""

    def __init__(self, runtime: KioskRuntime) -> None:
        self.runtime = runtime
        self.readers: list[SerialReader | EvdevWedgeReader] = []
        settings = runtime.settings
        port = None if settings.reader.absent else settings.reader.port
        if port and port.startswith(EVDEV_PREFIX) and settings.reader.driver == "wedge":
            # A USB keyboard-wedge reader: read through evdev with the device grabbed, so its keystrokes never
            # reach the UI (needs the evdev package on the kiosk: pip install evdev).
            self.readers.append(EvdevWedgeReader(port, self._card_event, repeat_window=settings.reader.repeat_window_s))
        elif port:
            self.readers.append(SerialReader(port, settings.reader.driver, self._card_event,
                                             repeat_window=settings.reader.repeat_window_s))
        if runtime.health_station:
            for device in settings.health.devices:
                self.readers.append(SerialReader(device.port, device.driver, self._device_event(device.driver)))

    def start(self) -> None:
        """Open every port in the background (a missing device is a fault, retried, never fatal)."""
        for reader in self.readers:
            reader.start()

    def stop(self) -> None:
        """Close every port."""
        for reader in self.readers:
            reader.stop()

    def _card_event(self, event: RuntimeEvent) -> None:
        if isinstance(event, CardRead):
            self.runtime.handle_card(event.card)
        elif isinstance(event, PortFault):
            self.runtime.fault(CARD_READER, event.error)
        elif isinstance(event, PortRestored):
            self.runtime.restored(CARD_READER)
        elif isinstance(event, DeviceStatus):
            if event.status in _READER_FAULTS:
                self.runtime.fault(CARD_READER, event.detail or event.status)
            elif event.status == "ready":
                self.runtime.restored(CARD_READER)

    def _device_event(self, component: str) -> Callable[[RuntimeEvent], None]:
        def route(event: RuntimeEvent) -> None:
            if isinstance(event, MeasurementRead):
                try:
                    reading = Measurement(code=event.code, value=event.value, unit=event.unit,
                                          device_model=event.device_model)
                except ValidationError:
                    log.warning("%s: reading outside the contract ignored (%s)", component, event.code)
                    return
                self.runtime.device_status(component, None)  # a reading ends "finger out", "unstable"
                self.runtime.measurement(reading)
            elif isinstance(event, DeviceStatus):
                self.runtime.device_status(component, event.status)
            elif isinstance(event, PortFault):
                self.runtime.fault(component, event.error)
            elif isinstance(event, PortRestored):
                self.runtime.restored(component)

        return route
