"""Roles and API token entries, the facts every component agrees on (the FastAPI side is ``web.auth``).

Tokens are configured by their SHA-256 digest, so a configuration file never holds a usable secret.
Roles (CONTRACT.md): ``gateway``, ``staff``, ``clinic``, ``counselling``, ``facilities``, ``technician``,
``admin``. ``admin`` may do everything except read screenings, which only ``clinic`` and ``counselling`` may.

A token may carry an ``expires`` time: from then on it is refused (401). A holder's token is rotated by
giving the holder a second entry (same ``name``, a new token) and an ``expires`` to the old one, so the two
overlap while the holder changes over (``onestop central token rotate`` prints both entries).

A ``gateway`` token names the one site it may act for in its own ``site`` field (not by a naming convention
of its holder's name): the entry says so in so many words, and provisioning writes it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

import tomli_w
from pydantic import AwareDatetime, Field, model_validator

from onestop.ids import SITE_PATTERN
from onestop.settings import Section


class Role(StrEnum):
    """What a token holder is allowed to do."""

    GATEWAY = "gateway"
    STAFF = "staff"
    CLINIC = "clinic"
    COUNSELLING = "counselling"
    FACILITIES = "facilities"
    TECHNICIAN = "technician"
    ADMIN = "admin"


HEALTH_ROLES = frozenset({Role.CLINIC, Role.COUNSELLING})

# Which teams' alerts each role sees, at the gateway and at central alike: this is the one statement of the
# rule. A health alert names a rule, a device, a space and a time, which around a clinic says who was
# screened for what: only the clinic, counselling and admin (who runs the system) see those teams; a health
# alert's card (``subject``) only a role in HEALTH_ROLES. The gateway role reads no alerts.
ALERT_TEAMS: dict[Role, tuple[str, ...]] = {
    Role.CLINIC: ("clinic",), Role.COUNSELLING: ("counselling",), Role.FACILITIES: ("facilities",),
    Role.TECHNICIAN: ("technicians",), Role.STAFF: ("facilities", "technicians"),
    Role.ADMIN: ("clinic", "counselling", "facilities", "technicians"), Role.GATEWAY: (),
}


def alert_teams(role: Role) -> tuple[str, ...]:
    """The teams whose alerts ``role`` may see."""
    return ALERT_TEAMS[role]


class TokenEntry(Section):
    """One API token: who holds it, its role, the site a gateway token acts for, and the secret's digest."""

    name: str = Field(min_length=1, max_length=64, description="holder, for audit logs")
    role: Role
    site: str | None = Field(None, pattern=SITE_PATTERN,
                             description="role gateway only: the one site this token may act for")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the bearer token")
    expires: AwareDatetime | None = Field(None, description="when the token stops being accepted (RFC 3339 with "
                                                            "offset); none: never")

    @model_validator(mode="after")
    def _site_only_for_gateways(self) -> TokenEntry:
        if self.site is not None and self.role is not Role.GATEWAY:
            raise ValueError(f"token {self.name!r}: only a gateway token is bound to a site")
        return self


def digest(token: str) -> str:
    """SHA-256 hex digest of a token, as stored in configuration."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(name: str, role: Role, site: str | None = None,
              expires: datetime | None = None) -> tuple[str, TokenEntry]:
    """A fresh random token and the configuration entry that admits it (``site``: a gateway token's site)."""
    token = secrets.token_urlsafe(32)
    return token, TokenEntry(name=name, role=role, site=site, sha256=digest(token), expires=expires)


def rotate(entries: list[TokenEntry], name: str, now: datetime, valid_for: timedelta,
           overlap: timedelta) -> tuple[str, TokenEntry, list[TokenEntry]]:
    """A new token for the holder ``name`` (same role and site), valid for ``valid_for`` from ``now``, and the
    holder's current entries ending ``overlap`` from now (or earlier, if they already did): both are accepted
    while the holder changes over. Raises ``ValueError`` if no entry has that name."""
    current = [e for e in entries if e.name == name]
    if not current:
        raise ValueError(f"no token entry named {name!r}")
    ends = now + overlap
    old = [e.model_copy(update={"expires": min(e.expires, ends) if e.expires else ends}) for e in current]
    token, entry = new_token(name, current[0].role, current[0].site, now + valid_for)
    return token, entry, old


def entry_toml(entry: TokenEntry) -> str:
    """``entry`` as a ``[[tokens]]`` table, as the configuration files hold it."""
    return tomli_w.dumps({"tokens": [entry.model_dump(mode="python", exclude_none=True)]}).strip()
