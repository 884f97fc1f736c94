"""``onestop bridge run``: a headless sensor node.

Each configured sensor is a serial device read through its driver; every measurement becomes a ``reading``
event in the same durable outbox the kiosk uses, published by the same device link (birth, Will,
heartbeat, delete on PUBACK). A port that vanishes raises a ``fault`` event once and is retried.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import onestop
from device.link import DeviceLink
from device.outbox import Outbox
from firmware_bridge.readings import MeasurementRead, PortFault, PortRestored
from firmware_bridge.serial_port import SerialReader
from firmware_bridge.settings import SensorNodeSettings, SensorSettings
from onestop.settings import load_settings

log = logging.getLogger(__name__)


class SensorNode:
    """Serial sensors → outbox → broker."""

    def __init__(self, settings: SensorNodeSettings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(settings.data_dir / f"{settings.device}.outbox.db", settings.device)
        self.link = DeviceLink(settings.broker, settings.site, self.outbox, kind="sensor", fw=onestop.__version__,
                               heartbeat_s=settings.heartbeat_s)
        self.readers = [SerialReader(s.port, s.driver, lambda event, s=s: self._event(s, event))
                        for s in settings.sensors]

    def _event(self, sensor: SensorSettings, event: object) -> None:
        if isinstance(event, MeasurementRead):
            self.outbox.append("reading", {"sensor": sensor.name, "code": event.code, "value": event.value,
                                           "unit": event.unit, "space": sensor.space})
        elif isinstance(event, PortFault):
            log.warning("sensor %s: port fault (%s)", sensor.name, event.error)
            self.outbox.append("fault", {"component": f"sensor:{sensor.name}", "error": event.error[:500]})
        elif isinstance(event, PortRestored):
            log.info("sensor %s: port back", sensor.name)

    def start(self) -> None:
        """Connect and start reading every sensor."""
        self.link.start()
        for reader in self.readers:
            reader.start()

    def stop(self) -> None:
        """Stop reading, then disconnect; unpublished readings stay in the outbox."""
        for reader in self.readers:
            reader.stop()
        self.link.stop()
        self.outbox.close()


def run(config: Path) -> None:
    """Run a sensor node until SIGINT / SIGTERM."""
    node = SensorNode(load_settings(SensorNodeSettings, config, "ONESTOP_BRIDGE"))
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    node.start()
    done.wait()
    node.stop()
