"""The gateway's configuration: one TOML file, validated at start-up with every problem listed."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, HttpUrl, SecretStr, field_validator, model_validator

from onestop.clinical import Thresholds
from onestop.ids import SITE_PATTERN
from onestop.mqtt_settings import BrokerSettings
from onestop.notifications import NotificationSettings, NotifyTarget, named
from onestop.roles import TokenEntry
from onestop.settings import Section, TimeZoneName, load_settings
from onestop.site import DeviceEntry, Reservation, SiteConfig, SpaceConfig
from onestop.work_orders import WorkOrderSettings
from web.http import HttpSettings
from web.oidc import OidcSettings


class IngestSettings(Section):
    """How the gateway batches commits: bigger batches mean more throughput and later acknowledgements."""

    batch_max: int = Field(500, ge=1, le=100_000, description="most events committed in one transaction")
    batch_wait_ms: int = Field(10, ge=0, le=5000, description="longest a message waits for its batch")
    receive_maximum: int = Field(4000, ge=20, le=65_535,
                                 description="messages read and not yet acknowledged (a few batches, so that "
                                             "the next batch is read while one commits)")
    quarantine_max: int = Field(10_000, ge=100, description="rejected messages kept for inspection")


class CentralLinkSettings(Section):
    """Where and how the gateway syncs to the central service."""

    url: HttpUrl | None = Field(None, description="central service base URL; none = stay local")
    token: SecretStr = Field(SecretStr(""), description="bearer token with role 'gateway'")
    batch_max: int = Field(5000, ge=1, le=50_000, description="most events per sync batch")
    batch_max_bytes: int = Field(4 * 1024 * 1024, ge=16 * 1024, description="most payload bytes per sync batch")
    interval_s: float = Field(1.0, gt=0, description="pause between sync rounds when the backlog is empty")
    fleet_interval_s: float = Field(30.0, gt=0, description="how often device health goes to central")
    config_interval_s: float = Field(60.0, gt=0, description="how often the site configuration is pulled")


class StorageSettings(Section):
    """How much disk the gateway may use and how long it keeps each class of data (gateway/retention.py).

    Time limits apply only to what central has confirmed (or, for quarantine, what it never gets): nothing
    waiting for central is removed by age."""

    max_bytes: int = Field(2 * 1024**3, ge=1024 * 1024, description="database size bound in bytes")
    check_interval_s: float = Field(5.0, gt=0, description="how often the bound is checked")
    screenings_days: float = Field(3.0, gt=0, le=366, description="days a screening central has confirmed stays "
                                                                   "on the gateway (health data: a few days)")
    events_days: float = Field(14.0, ge=4, le=366, description="days any other event central has confirmed "
                                                                "stays (at least 4: a restart replays the "
                                                                "longest stay plus a day of presence)")
    quarantine_days: float = Field(7.0, gt=0, le=366, description="days a rejected message stays for inspection")
    resolved_alerts_days: float = Field(30.0, gt=0, le=3660, description="days a resolved alert central has "
                                                                         "confirmed stays, counted from its raise")
    notification_tries_days: float = Field(30.0, gt=0, le=3660, description="days a notification try and a "
                                                                          "finished delivery stay (\"was anyone "
                                                                          "told?\"); pending ones always stay")
    retention_interval_s: float = Field(60.0, gt=0, description="how often the time limits are applied")


class DeviceHealthSettings(Section):
    """When the gateway calls a device offline, and when it tells the technicians."""

    offline_after_s: float = Field(150, ge=10, description="silence (no event, no heartbeat) before offline")
    offline_alert_min: float = Field(10, ge=0, description="minutes offline before technicians are alerted")
    clock_tolerance_s: float = Field(300, ge=1, description="device clock this far off the gateway's is flagged")


class GatewaySettings(Section):
    """Everything a building gateway needs."""

    site: str = Field(pattern=SITE_PATTERN, description="this building's site slug")
    data_dir: Path = Field(Path("data/gateway"), description="where the gateway keeps its database")
    data_key: Path | None = Field(None, description="the data key file sealing events, quarantine, alerts and the "
                                                    "site configuration at rest (0600, outside data_dir; "
                                                    "`onestop gateway data-key new` writes it): required to run")
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    http: HttpSettings = Field(default_factory=lambda: HttpSettings(port=8080))
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    central: CentralLinkSettings = Field(default_factory=CentralLinkSettings)
    tokens: list[TokenEntry] = Field(default_factory=list, description="API tokens (SHA-256 digests); the "
                                                                       "building's break-glass tokens among them")
    oidc: OidcSettings | None = Field(None, description="people sign in through the campus identity provider "
                                                        "(docs/security.md); without it, bearer tokens only")
    timezone: TimeZoneName = Field("UTC", description="the building's time zone (IANA name), for opening hours")
    health: DeviceHealthSettings = Field(default_factory=DeviceHealthSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    thresholds: Thresholds = Field(default_factory=Thresholds, description="screening thresholds (CLINICAL.md)")
    spaces: list[SpaceConfig] = Field(default_factory=list, description="spaces, capacities and opening hours")
    devices: list[DeviceEntry] = Field(default_factory=list,
                                       description="the building's devices: only these may send events, each only "
                                                   "what its kind, space and activity allow")
    reservations: list[Reservation] = Field(default_factory=list)
    notify: list[NotifyTarget] = Field(default_factory=list,
                                       description="where each team's alerts are sent at once (Apprise URLs)")
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    work_orders: WorkOrderSettings = Field(default_factory=WorkOrderSettings,
                                           description="request categories, departments and targets "
                                                       "(docs/work-orders.md)")

    @model_validator(mode="after")
    def _notify_targets(self) -> GatewaySettings:
        named(self.notify)  # names unique
        # Tier 1 at a gateway: overdue work orders' escalation (docs/work-orders.md); alerts' tiers are central's.
        escalating = [t.name or t.team for t in self.notify if t.tier > 1]
        if escalating:
            raise ValueError(f"notify targets with a tier above 1 ({', '.join(escalating)}): alerts' escalation "
                             "is central's; a gateway tells tier 0 at once and tier 1 of overdue work orders")
        return self

    @model_validator(mode="after")
    def _site_consistent(self) -> GatewaySettings:
        self.site_config()  # spaces referenced by devices and reservations must exist
        return self

    def site_config(self) -> SiteConfig:
        """The building configuration from this file (central's copy replaces it when online)."""
        return SiteConfig(spaces=self.spaces, devices=self.devices, reservations=self.reservations,
                          work_orders=self.work_orders)

    @property
    def device_id(self) -> str:
        """The gateway's own device id (its MQTT user), used for the events it creates itself."""
        return self.broker.username or f"{self.site}-gateway"

    @field_validator("data_dir", "data_key")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @property
    def database(self) -> Path:
        return self.data_dir / "gateway.db"

    @property
    def config_copy(self) -> Path:
        """Where the last good site configuration from central is kept."""
        return self.data_dir / "site-config.json"

    @property
    def cards_copy(self) -> Path:
        """Where the last good list of the site's refused and admitted cards from central is kept (keyed hashes)."""
        return self.data_dir / "site-cards.json"


def load(path: str | Path | None) -> GatewaySettings:
    """Load and validate the gateway's TOML file (plus ``ONESTOP_GATEWAY__...`` overrides)."""
    return load_settings(GatewaySettings, path, "ONESTOP_GATEWAY")
