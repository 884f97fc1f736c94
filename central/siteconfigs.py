"""Building configurations managed centrally: the downlink each gateway pulls.

An administrator stores a site's ``SiteConfig`` (``PUT /api/v1/gateways/{site}/config``); the gateway
fetches it (``GET``) with ``If-None-Match`` and gets ``304 Not Modified`` while nothing changed. The ETag
is a digest of the canonical JSON, so equal configurations have equal tags whoever stored them.

The stored configuration is also what central knows of a site's spaces: events naming any other space are
kept but never make a space appear in occupancy or analytics (``ConfigStore.spaces``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from central.db import Database
from central.schema import site_configs
from onestop.site import SiteConfig


@dataclass(frozen=True, slots=True)
class StoredConfig:
    """A site's configuration as stored: canonical JSON and its entity tag."""

    site: str
    json: str
    etag: str
    updated_at: datetime
    updated_by: str

    def model(self) -> SiteConfig:
        return SiteConfig.model_validate_json(self.json)


def canonical_json(config: SiteConfig) -> str:
    """The one JSON form of a configuration (field order fixed by the model)."""
    return config.model_dump_json()


def entity_tag(text: str) -> str:
    """A strong HTTP entity tag for ``text``."""
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` / ``If-Match`` header value names ``etag`` (or ``*``)."""
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


class ConfigStore:
    """Per-site configurations."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._spaces: dict[str, tuple[str, frozenset[str]]] = {}  # site -> (etag, space ids), parsed once per etag

    def put(self, site: str, config: SiteConfig, by: str, now: datetime | None = None) -> StoredConfig:
        """Store (create or replace) a site's configuration."""
        now = now or datetime.now(UTC)
        text = canonical_json(config)
        row = {"site": site, "config": text, "etag": entity_tag(text), "updated_at": now, "updated_by": by}
        with self.db.write() as conn:
            stmt = self.db.insert(site_configs).values(**row)
            conn.execute(stmt.on_conflict_do_update(index_elements=["site"],
                                                    set_={k: v for k, v in row.items() if k != "site"}))
        return StoredConfig(site, text, row["etag"], now, by)

    def get(self, site: str) -> StoredConfig | None:
        """The stored configuration of ``site``, or ``None``."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(site_configs).where(site_configs.c.site == site)).mappings().first()
        if row is None:
            return None
        return StoredConfig(row["site"], row["config"], row["etag"], row["updated_at"], row["updated_by"])

    def spaces(self, site: str) -> frozenset[str]:
        """The ids of the spaces ``site``'s stored configuration declares (none when it has no configuration)."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(site_configs.c.etag, site_configs.c.config)
                               .where(site_configs.c.site == site)).first()
        if row is None:
            return frozenset()
        cached = self._spaces.get(site)
        if cached is None or cached[0] != row.etag:
            cached = (row.etag, frozenset(s.id for s in SiteConfig.model_validate_json(row.config).spaces))
            self._spaces[site] = cached
        return cached[1]

    def all(self) -> dict[str, SiteConfig]:
        """Every site's configuration, parsed."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(site_configs.c.site, site_configs.c.config)).all()
        return {site: SiteConfig.model_validate_json(text) for site, text in rows}
