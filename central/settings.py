"""The central service's configuration (TOML plus ``ONESTOP_CENTRAL__...`` overrides)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from onestop.auth import TokenEntry
from onestop.http import HttpSettings
from onestop.settings import Section, TimeZoneName, load_settings


class ExamPeriod(Section):
    """Days of an exam period (both ends included); the forecast expects more demand then."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> ExamPeriod:
        if self.end < self.start:
            raise ValueError("exam period ends before it starts")
        return self


class CentralSettings(Section):
    """Everything the central service needs."""

    database_url: str = Field("sqlite:///data/central/central.db",
                              description="SQLAlchemy URL: sqlite:///PATH (default) or postgresql+psycopg://...")
    http: HttpSettings = Field(default_factory=lambda: HttpSettings(port=8000))
    tokens: list[TokenEntry] = Field(default_factory=list,
                                     description="API tokens (SHA-256 digests); a gateway token named "
                                                 "'gateway:<site>' may act only for that site")
    max_batch_bytes: int = Field(64 * 1024 * 1024, ge=1024,
                                 description="largest request body accepted, counted while it is read and "
                                             "again after decompression")
    timezone: TimeZoneName = Field("UTC", description="IANA time zone of the campus: hours, days and opening hours")
    exam_periods: list[ExamPeriod] = Field(default_factory=list,
                                           description="the academic calendar's exam periods (forecast)")


    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load(path: str | Path | None) -> CentralSettings:
    """Load and validate the central service's TOML file."""
    return load_settings(CentralSettings, path, "ONESTOP_CENTRAL")
