"""The central service's configuration (TOML plus ``ONESTOP_CENTRAL__...`` overrides)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from onestop.auth import TokenEntry
from onestop.http import HttpSettings
from onestop.settings import Section, load_settings


class CentralSettings(Section):
    """Everything the central service needs."""

    database_url: str = Field("sqlite:///data/central/central.db",
                              description="SQLAlchemy URL: sqlite:///PATH (default) or postgresql+psycopg://...")
    http: HttpSettings = Field(default_factory=lambda: HttpSettings(port=8000))
    tokens: list[TokenEntry] = Field(default_factory=list, description="API tokens (SHA-256 digests)")
    max_batch_bytes: int = Field(64 * 1024 * 1024, ge=1024,
                                 description="largest ingest body accepted after decompression")


def load(path: str | Path | None) -> CentralSettings:
    """Load and validate the central service's TOML file."""
    return load_settings(CentralSettings, path, "ONESTOP_CENTRAL")
