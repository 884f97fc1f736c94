"""Bearer-token authentication with roles, shared by the gateway and central HTTP APIs.

Tokens are configured by their SHA-256 digest, so a configuration file never holds a usable secret.
Roles (CONTRACT.md): ``gateway``, ``staff``, ``clinic``, ``counselling``, ``facilities``, ``technician``,
``admin``. ``admin`` may do everything except read screenings, which only ``clinic`` and ``counselling`` may.

A ``gateway`` token names the one site it may act for in its own ``site`` field (not by a naming convention
of its holder's name): the entry says so in so many words, and provisioning writes it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field, model_validator

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

    @model_validator(mode="after")
    def _site_only_for_gateways(self) -> TokenEntry:
        if self.site is not None and self.role is not Role.GATEWAY:
            raise ValueError(f"token {self.name!r}: only a gateway token is bound to a site")
        return self


def digest(token: str) -> str:
    """SHA-256 hex digest of a token, as stored in configuration."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(name: str, role: Role, site: str | None = None) -> tuple[str, TokenEntry]:
    """A fresh random token and the configuration entry that admits it (``site``: a gateway token's site)."""
    token = secrets.token_urlsafe(32)
    return token, TokenEntry(name=name, role=role, site=site, sha256=digest(token))


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    name: str
    role: Role
    site: str | None = None  # the site a gateway token is bound to


class Authenticator:
    """Turns bearer tokens into principals; ``require`` builds FastAPI dependencies per route."""

    def __init__(self, entries: Iterable[TokenEntry]) -> None:
        self._by_digest = {e.sha256: Principal(e.name, e.role, e.site) for e in entries}
        self._bearer = HTTPBearer(auto_error=False)

    def authenticate(self, token: str) -> Principal | None:
        """The principal for ``token``, or ``None``."""
        wanted = digest(token)
        for known, principal in self._by_digest.items():
            if hmac.compare_digest(known, wanted):
                return principal
        return None

    def require(self, *roles: Role) -> Callable[..., Principal]:
        """A dependency admitting only the given roles: 401 without a valid token, 403 with another role."""
        allowed = frozenset(roles)

        def dependency(creds: HTTPAuthorizationCredentials | None = Depends(self._bearer)) -> Principal:  # noqa: B008
            principal = self.authenticate(creds.credentials) if creds else None
            if principal is None:
                raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid bearer token",
                                    headers={"WWW-Authenticate": "Bearer"})
            if principal.role not in allowed:
                raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role} may not do this")
            return principal

        return dependency
