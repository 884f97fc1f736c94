"""Bearer-token authentication for the gateway and central HTTP APIs (FastAPI dependencies).

Who may do what is ``onestop.roles``; this module only turns a bearer token into a ``Principal`` and refuses
the wrong role with 401/403.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from onestop.roles import Role, TokenEntry, digest


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

        dependency.roles = tuple(roles)  # type: ignore[attr-defined]  # read by web.openapi
        return dependency
