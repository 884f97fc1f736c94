"""A headless sensor node's configuration (``onestop bridge run --config FILE``, ``ONESTOP_BRIDGE__...``).

Provisioning writes this file into a sensor node's bundle and validates it with these models, so a bundle
is exactly what ``onestop bridge run`` loads.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from firmware_bridge.drivers import DRIVERS
from onestop.ids import DEVICE_PATTERN, SITE_PATTERN, SLUG_PATTERN
from onestop.mqtt_settings import BrokerSettings
from onestop.settings import Section


class SensorSettings(Section):
    """One serial sensor of the node."""

    name: str = Field(min_length=1, max_length=64, description="sensor name carried in each reading")
    driver: str = Field(description="driver name (onestop bridge drivers)")
    port: str = Field(description="serial device path, e.g. /dev/ttyUSB0")
    space: str | None = Field(None, pattern=SLUG_PATTERN, description="the space the readings describe")

    @field_validator("driver")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in DRIVERS:
            raise ValueError(f"unknown driver {value!r}; valid: {', '.join(DRIVERS)}")
        return value


class SensorNodeSettings(Section):
    """A headless sensor node's configuration."""

    site: str = Field(pattern=SITE_PATTERN)
    device: str = Field(pattern=DEVICE_PATTERN, description="device id = MQTT user name and client id")
    data_dir: Path = Field(Path("data/sensor"), description="where the outbox lives")
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    heartbeat_s: float = Field(30.0, ge=1, le=60)
    sensors: list[SensorSettings] = Field(min_length=1)
