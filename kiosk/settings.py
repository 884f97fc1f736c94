"""A kiosk's or health station's configuration (TOML plus ``ONESTOP_KIOSK__...`` overrides)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from onestop.ids import DEVICE_PATTERN, SITE_PATTERN, SLUG_PATTERN
from onestop.mqtt import BrokerSettings
from onestop.settings import Section, load_settings


class ReaderSettings(Section):
    """The card reader: a serial port with its driver (``onestop bridge drivers`` lists them)."""

    driver: str = Field("em4100", description="driver name, e.g. em4100, pn532, wedge")
    port: str | None = Field(None, description="serial device path, e.g. /dev/ttyUSB0; none = no reader")
    repeat_window_s: float = Field(1.0, ge=0, le=10, description="same card within this window = one tap")


class KioskSettings(Section):
    """Everything one kiosk or health station needs."""

    site: str = Field(pattern=SITE_PATTERN)
    device: str = Field(pattern=DEVICE_PATTERN, description="device id = MQTT user name and client id")
    mode: Literal["kiosk", "health-station"] = "kiosk"
    space: str = Field(pattern=SLUG_PATTERN, description="the space this kiosk checks people into")
    capacity: int | None = Field(None, ge=0, description="used until the gateway's configuration arrives")
    data_dir: Path = Field(Path("data/kiosk"), description="where the outbox lives")
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    reader: ReaderSettings = Field(default_factory=ReaderSettings)
    heartbeat_s: float = Field(30.0, ge=1, le=60, description="heartbeat period (the contract asks ≤ 60 s)")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / f"{self.device}.outbox.db"


def load(path: str | Path | None) -> KioskSettings:
    """Load and validate a kiosk's TOML file."""
    return load_settings(KioskSettings, path, "ONESTOP_KIOSK")
