"""A kiosk's or health station's configuration (TOML plus ``ONESTOP_KIOSK__...`` overrides)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from firmware_bridge.drivers import DRIVERS
from onestop.clinical import Thresholds
from onestop.ids import DEVICE_PATTERN, SITE_PATTERN, SLUG_PATTERN
from onestop.mqtt_settings import BrokerSettings
from onestop.settings import Section, load_settings


def _known_driver(value: str) -> str:
    if value not in DRIVERS:
        raise ValueError(f"unknown driver {value!r}; valid: {', '.join(sorted(DRIVERS))}")
    return value


NO_READER = "none"


class ReaderSettings(Section):
    """The card reader: a serial port with its driver (``onestop bridge drivers`` lists them).

    A kiosk without a reader must say so (``driver = "none"``): ``onestop kiosk run`` refuses a configuration
    that names no port, so a bundle that lost its reader section cannot start a kiosk that records nothing.
    """

    driver: str = Field("em4100", description='driver name, e.g. em4100, pn532, wedge; "none" = no card reader')
    port: str | None = Field(None, description="serial device path, e.g. /dev/onestop-reader")
    repeat_window_s: float = Field(1.0, ge=0, le=10, description="same card within this window = one tap")

    @field_validator("driver")
    @classmethod
    def _known(cls, value: str) -> str:
        return value if value == NO_READER else _known_driver(value)

    @property
    def absent(self) -> bool:
        """True when the kiosk is declared to have no card reader."""
        return self.driver == NO_READER

    def problem(self) -> str | None:
        """Why a kiosk cannot start with this section (None when it can)."""
        if self.absent or self.port:
            return None
        return (f'no card reader configured: set [reader] port (e.g. port = "/dev/onestop-reader", driver = '
                f'"{self.driver}"), or driver = "none" for a kiosk without one')


class DeviceSettings(Section):
    """A health device on a serial port (``onestop bridge drivers`` lists the drivers)."""

    driver: str = Field(description="driver name, e.g. cms50d, and-scale, tanita, gatt-bp, gatt-temp")
    port: str = Field(description="serial device path, e.g. /dev/ttyUSB1")

    _known = field_validator("driver")(_known_driver)


class HealthStationSettings(Section):
    """A health station's devices, time-outs and local threshold overrides (cfg ``thresholds`` wins)."""

    devices: list[DeviceSettings] = Field(default_factory=list, description="the measuring devices")
    idle_timeout_s: float = Field(120, ge=10, le=900, description="privacy time-out with nobody interacting")
    results_timeout_s: float = Field(60, ge=5, le=600, description="how long results stay on screen")
    thresholds: Thresholds = Field(default_factory=Thresholds, description="screening thresholds")


class ScreenSettings(Section):
    """The Kivy screen."""

    language: Literal["en", "zh"] = Field("en", description="language shown at start and after each student")
    font: Path | None = Field(None, description="a font with Chinese glyphs; default: Noto Sans CJK if installed")
    feedback_s: float = Field(3.0, ge=0.5, le=30, description="how long tap feedback stays on screen")
    width: int = Field(800, ge=320, le=7680, description="window width when not full screen")
    height: int = Field(480, ge=240, le=4320, description="window height when not full screen")


class KioskSettings(Section):
    """Everything one kiosk or health station needs."""

    site: str = Field(pattern=SITE_PATTERN)
    device: str = Field(pattern=DEVICE_PATTERN, description="device id = MQTT user name and client id")
    mode: Literal["kiosk", "health-station"] = "kiosk"
    space: str = Field(pattern=SLUG_PATTERN, description="the space this kiosk checks people into")
    capacity: int | None = Field(None, ge=0, description="used until the gateway's configuration arrives")
    direction: Literal["in", "out", "toggle"] = Field(
        "toggle", description="in: only checks in; out: only checks out; toggle: both (the gateway's device "
                              "entry wins when it names one)")
    data_dir: Path = Field(Path("data/kiosk"), description="where the outbox lives")
    data_key: Path | None = Field(None, description="the data key file sealing cards, screenings and presence "
                                                    "at rest (0600, outside data_dir; the bundle writes it): "
                                                    "required to run")
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    reader: ReaderSettings = Field(default_factory=ReaderSettings)
    display_name: str | None = Field(None, max_length=80, description="the space's name until cfg gives one")
    health: HealthStationSettings = Field(default_factory=HealthStationSettings)
    screen: ScreenSettings = Field(default_factory=ScreenSettings)
    heartbeat_s: float = Field(30.0, ge=1, le=60, description="heartbeat period (the contract asks ≤ 60 s)")
    feedback_every: int = Field(5, ge=0, le=1000, description="ask the anonymous feedback question after about "
                                "every Nth checkout, never a card twice in 7 days (0: never ask)")

    @field_validator("data_dir", "data_key")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / f"{self.device}.outbox.db"

    @property
    def presence_path(self) -> Path:
        return self.data_dir / f"{self.device}.presence.db"


def load(path: str | Path | None) -> KioskSettings:
    """Load and validate a kiosk's TOML file."""
    return load_settings(KioskSettings, path, "ONESTOP_KIOSK")
