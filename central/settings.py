"""The central service's configuration (TOML plus ``ONESTOP_CENTRAL__...`` overrides)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from onestop.notifications import NotificationSettings, NotifyTarget, named
from onestop.roles import Role, TokenEntry
from onestop.settings import Section, TimeZoneName, load_settings
from web.http import HttpSettings
from web.oidc import OidcSettings


class ExamPeriod(Section):
    """Days of an exam period (both ends included); the forecast expects more demand then."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> ExamPeriod:
        if self.end < self.start:
            raise ValueError("exam period ends before it starts")
        return self


class RetentionSettings(Section):
    """How long central keeps each class of data (central/retention.py); the university's policy sets these."""

    screenings_days: float = Field(1825, gt=0, description="screenings (vital signs, questionnaire answers, "
                                                           "consent), from when they happened")
    presence_days: float = Field(730, gt=0, description="check-ins, check-outs and attendance (occupancy "
                                                        "history and forecast)")
    telemetry_days: float = Field(365, gt=0, description="sensor readings, heartbeats, faults, event conflicts")
    alerts_days: float = Field(730, gt=0, description="resolved alerts, from their raise")
    audit_days: float = Field(3650, gt=0, description="the audit log and erasure tombstones: keep longer than "
                                                      "what they audit")
    interval_s: float = Field(3600, gt=0, description="how often the limits are applied (the first time one "
                                                      "interval after start)")


class CentralSettings(Section):
    """Everything the central service needs."""

    database_url: str = Field("sqlite:///data/central/central.db",
                              description="SQLAlchemy URL: sqlite:///PATH (default) or postgresql+psycopg://...")
    http: HttpSettings = Field(default_factory=lambda: HttpSettings(port=8000))
    tokens: list[TokenEntry] = Field(default_factory=list,
                                     description="API tokens (SHA-256 digests); a gateway token must name "
                                                 "its one site in `site`")
    pseudonym_key_file: Path = Field(Path("data/central/keys/pseudonym.key"),
                                     description="file of the keys of students' pseudonyms (hex, one a line, "
                                                 "current first); created 0600 at first start. Keep it out "
                                                 "of database backups")
    test_rig: bool = Field(False, description="this central is a test rig or benchmark: gateway tokens "
                                              "without `site` are accepted and act for every site. Never on a "
                                              "campus")
    max_batch_bytes: int = Field(64 * 1024 * 1024, ge=1024,
                                 description="largest request body accepted, counted while it is read and "
                                             "again after decompression")
    oidc: OidcSettings | None = Field(None, description="people sign in through the campus identity provider "
                                                        "(docs/security.md); without it, bearer tokens only")
    timezone: TimeZoneName = Field("UTC", description="IANA time zone of the campus: hours, days and opening hours")
    exam_periods: list[ExamPeriod] = Field(default_factory=list,
                                           description="the academic calendar's exam periods (forecast)")
    notify: list[NotifyTarget] = Field(default_factory=list,
                                       description="campus-wide notification targets (Apprise URLs): tier 0 is "
                                                   "told when an alert arrives, tiers 1, 2 ... when an urgent "
                                                   "one stays unacknowledged")
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)

    @model_validator(mode="after")
    def _notify_names(self) -> CentralSettings:
        named(self.notify)  # names unique
        return self
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @model_validator(mode="after")
    def _gateway_tokens_bound(self) -> CentralSettings:
        # An unbound gateway token may ingest, sync alerts and fleet data for every site: one mis-issued
        # token would let one building write another's records. Refuse to start rather than warn.
        unbound = [e.name for e in self.tokens if e.role is Role.GATEWAY and e.site is None]
        if unbound and not self.test_rig:
            raise ValueError("gateway tokens not bound to a site: " + ", ".join(map(repr, unbound))
                             + "; give each its `site` (onestop provision gateway register prints it), or set "
                               "`test_rig = true` if this central is a test rig")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load(path: str | Path | None) -> CentralSettings:
    """Load and validate the central service's TOML file."""
    return load_settings(CentralSettings, path, "ONESTOP_CENTRAL")
