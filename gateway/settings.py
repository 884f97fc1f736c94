"""The gateway's configuration: one TOML file, validated at start-up with every problem listed."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, HttpUrl, SecretStr, field_validator

from onestop.auth import TokenEntry
from onestop.ids import SITE_PATTERN
from onestop.mqtt import BrokerSettings
from onestop.settings import Section, load_settings
from onestop.http import HttpSettings


class IngestSettings(Section):
    """How the gateway batches commits: bigger batches mean more throughput and later acknowledgements."""

    batch_max: int = Field(2000, ge=1, le=100_000, description="most events committed in one transaction")
    batch_wait_ms: int = Field(20, ge=0, le=5000, description="longest a message waits for its batch")
    receive_maximum: int = Field(10_000, ge=20, le=65_535,
                                 description="un-acknowledged messages the broker may have in flight to us")
    quarantine_max: int = Field(10_000, ge=100, description="rejected messages kept for inspection")


class CentralLinkSettings(Section):
    """Where and how the gateway syncs to the central service."""

    url: HttpUrl | None = Field(None, description="central service base URL; none = stay local")
    token: SecretStr = Field(SecretStr(""), description="bearer token with role 'gateway'")
    batch_max: int = Field(1000, ge=1, le=50_000, description="events per sync batch")
    interval_s: float = Field(1.0, gt=0, description="pause between sync rounds when the backlog is empty")


class GatewaySettings(Section):
    """Everything a building gateway needs."""

    site: str = Field(pattern=SITE_PATTERN, description="this building's site slug")
    data_dir: Path = Field(Path("data/gateway"), description="where the gateway keeps its database")
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    http: HttpSettings = Field(default_factory=lambda: HttpSettings(port=8080))
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    central: CentralLinkSettings = Field(default_factory=CentralLinkSettings)
    tokens: list[TokenEntry] = Field(default_factory=list, description="API tokens (SHA-256 digests)")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def database(self) -> Path:
        return self.data_dir / "gateway.db"


def load(path: str | Path | None) -> GatewaySettings:
    """Load and validate the gateway's TOML file (plus ``ONESTOP_GATEWAY__...`` overrides)."""
    return load_settings(GatewaySettings, path, "ONESTOP_GATEWAY")
