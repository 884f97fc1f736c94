"""Authentication for the gateway and central HTTP APIs (FastAPI dependencies): bearer tokens for machines,
signed-in sessions for people (``web.oidc``).

Who may do what is ``onestop.roles``; this module only turns a bearer token or a session into a ``Principal``
and refuses the wrong role with 401/403. A bearer token wins when a request carries both.

Where people sign in through the campus IdP, a bearer token held by a person's role is a break-glass token
(``break_glass=True``, the gateway's choice: docs/security.md): each use is logged with its holder, method and
path (the same request at most once every ``_BREAK_GLASS_EVERY_S``), so the journal says who opened what.

Tokens may expire (``TokenEntry.expires``): an expired one gets 401 saying so, and one that expires within
``EXPIRY_WARNING`` is logged (at start-up and at most once an hour while in use) and counted
(``expiring_soon``), so its holder's rotation (two entries for one holder overlap) happens in time.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from onestop.roles import Role, TokenEntry, digest
from web.oidc import OidcSignIn, Person, SessionExpiredError

log = logging.getLogger(__name__)

EXPIRY_WARNING = timedelta(days=14)
_WARN_EVERY_S = 3600.0
_BREAK_GLASS_EVERY_S = 300.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a token's holder, or a person signed in through the campus IdP."""

    name: str  # the token's holder, or the person's label (e-mail): what logs and the audit log show
    role: Role
    site: str | None = None  # the site a gateway token is bound to
    person: Person | None = None  # who signed in (OIDC); None for a bearer token


@dataclass(frozen=True, slots=True)
class _Token:
    principal: Principal
    expires: datetime | None


class Authenticator:
    """Turns bearer tokens and sessions into principals; ``require`` builds FastAPI dependencies per route."""

    def __init__(self, entries: Iterable[TokenEntry], sign_in: OidcSignIn | None = None,
                 break_glass: bool = False) -> None:
        self._by_digest = {e.sha256: _Token(Principal(e.name, e.role, e.site), e.expires) for e in entries}
        self._bearer = HTTPBearer(auto_error=False)
        self.sign_in = sign_in
        self._warned: dict[str, float] = {}
        self._break_glass = break_glass and sign_in is not None
        self._glass_logged: dict[tuple[str, str, str], float] = {}
        for known in self._by_digest.values():
            self._warn_if_expiring(known, datetime.now(UTC))

    def authenticate(self, token: str, now: datetime | None = None) -> Principal | None:
        """The principal for ``token``, or ``None``; raises 401 naming the expiry if the token has expired."""
        wanted = digest(token)
        found = None
        for known, entry in self._by_digest.items():
            if hmac.compare_digest(known, wanted):
                found = entry
        if found is None:
            return None
        now = now or datetime.now(UTC)
        if found.expires is not None and found.expires <= now:
            log.warning("expired bearer token of %r refused (expired %s)", found.principal.name,
                        found.expires.isoformat())
            raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                                f"bearer token expired at {found.expires.isoformat()}; ask for its replacement",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        self._warn_if_expiring(found, now)
        return found.principal

    def expiring_soon(self, now: datetime | None = None) -> int:
        """Tokens not yet expired that expire within ``EXPIRY_WARNING``."""
        now = now or datetime.now(UTC)
        soon = now + EXPIRY_WARNING
        return sum(1 for t in self._by_digest.values() if t.expires is not None and now < t.expires <= soon)

    def _warn_if_expiring(self, token: _Token, now: datetime) -> None:
        if token.expires is None or not now < token.expires <= now + EXPIRY_WARNING:
            return
        name = token.principal.name
        if time.monotonic() - self._warned.get(name, -_WARN_EVERY_S) < _WARN_EVERY_S:
            return
        self._warned[name] = time.monotonic()
        log.warning("bearer token of %r expires at %s: rotate it (onestop central token rotate)", name,
                    token.expires.isoformat())

    def _person(self, request: Request) -> Principal | None:
        if self.sign_in is None:
            return None
        try:
            signed_in = self.sign_in.current(request)
        except SessionExpiredError as exc:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from exc
        if signed_in is None:
            return None
        if request.method not in SAFE_METHODS and not self.sign_in.same_origin(request):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "a signed-in change must come from this service's pages")
        return Principal(signed_in.person.label, signed_in.role, None, signed_in.person)

    def _log_break_glass(self, principal: Principal, request: Request) -> None:
        key = (principal.name, request.method, request.url.path)
        now = time.monotonic()
        if now - self._glass_logged.get(key, -_BREAK_GLASS_EVERY_S) < _BREAK_GLASS_EVERY_S:
            return
        self._glass_logged[key] = now
        log.warning("break-glass: token of %r (%s) used for %s %s", principal.name, principal.role.value,
                    request.method, request.url.path)

    def require(self, *roles: Role) -> Callable[..., Principal]:
        """A dependency admitting only the given roles: 401 without a valid token or session, 403 with another
        role."""
        allowed = frozenset(roles)

        def dependency(request: Request,
                       creds: HTTPAuthorizationCredentials | None = Depends(self._bearer)) -> Principal:  # noqa: B008
            principal = self.authenticate(creds.credentials) if creds else self._person(request)
            if creds and principal is not None and self._break_glass and principal.role is not Role.GATEWAY:
                self._log_break_glass(principal, request)
            if principal is None:
                raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid bearer token",
                                    headers={"WWW-Authenticate": "Bearer"})
            if principal.role not in allowed:
                raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role} may not do this")
            return principal

        dependency.roles = tuple(roles)  # type: ignore[attr-defined]  # read by web.openapi
        return dependency
