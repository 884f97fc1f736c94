"""People sign in as themselves through the campus identity provider (OpenID Connect), at central and at
each gateway alike.

- The flow: authorization code with PKCE (S256), ``state`` and ``nonce`` (``authlib``'s Starlette client
  keeps them in the signed session until the callback). The ID token is checked against the provider's JWKS,
  its ``iss`` against the configured issuer (which the discovery document must repeat), its ``aud`` against
  our client id, its ``nonce`` against ours.
- The role: the ``group_claim`` of the ID token (or, when the ID token lacks it, of the userinfo answer),
  mapped by ``groups`` (group name -> role). No mapped group: refused. Several: see ``role_for``.
- The session: a cookie signed with a key derived from the client secret and the service's URL (every worker
  shares it, it changes with the secret, and no other service's cookie passes), HttpOnly, SameSite=Lax,
  Secure when the service's public URL is https. It holds the person (``sub``, name, e-mail), the role, when
  they signed in and when they were last seen: refused past ``session_lifetime`` after sign-in or
  ``idle_timeout`` after the last request. Logging out clears it from the
  browser; the cookie is not recorded anywhere, so a copy taken before stays valid until one of those limits.
- A request that a session (not a bearer token) authenticates and that changes something must come from our
  own origin (``Origin`` header): SameSite=Lax already keeps other sites' forms out, this keeps out sibling
  sites of the campus domain too.

The pure parts (``role_for``, ``SignedIn``) decide; ``OidcSignIn`` only moves requests to and from the IdP.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field, field_validator, model_validator
from starlette.middleware.sessions import SessionMiddleware

from onestop.roles import HEALTH_ROLES, Role
from onestop.settings import Section
from web.http import is_loopback

log = logging.getLogger(__name__)

SESSION_COOKIE = "onestop_session"
SESSION_KEY = "person"  # where the signed-in person lives in the session (authlib's state keys sit beside it)
LOGIN_PATH, CALLBACK_PATH, LOGOUT_PATH, ME_PATH = "/auth/login", "/auth/callback", "/auth/logout", "/auth/me"


def _web_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{what} must be an absolute http(s) URL without query or fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(f"{what} must be https (plain http only on a loopback address)")
    return value.rstrip("/")


class OidcSettings(Section):
    """The ``[oidc]`` section: how people sign in through the campus identity provider."""

    issuer: str = Field(description="the provider's issuer URL (its /.well-known/openid-configuration is read)")
    client_id: str = Field(min_length=1, max_length=255, description="this service's client id at the provider")
    client_secret_file: Path = Field(description="file holding the client secret (never the secret inline); "
                                                 "also keys the session cookies")
    redirect_base_url: str = Field(description="this service's public URL as browsers reach it; the provider "
                                               "must allow REDIRECT_BASE_URL/auth/callback")
    scope: str = Field("openid profile email", description="scopes asked for (add the one that releases the "
                                                           "group claim, if the provider needs one)")
    group_claim: str = Field("groups", min_length=1, description="the claim listing the person's groups")
    groups: dict[str, Role] = Field(min_length=1, description="group name -> role; a person in none is refused; "
                                                              "several: see docs/security.md")
    session_lifetime: int = Field(8 * 3600, ge=1, le=7 * 86400, description="seconds a sign-in lasts at most")
    idle_timeout: int = Field(1800, ge=1, description="seconds without a request after which the session ends")
    timeout: float = Field(10.0, gt=0, le=60, description="seconds to wait for the provider")

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        return _web_url(value, "issuer")

    @field_validator("redirect_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _web_url(value, "redirect_base_url")

    @field_validator("groups")
    @classmethod
    def _no_gateway_role(cls, value: dict[str, Role]) -> dict[str, Role]:
        if Role.GATEWAY in value.values():
            raise ValueError("the gateway role is for machines (bearer tokens), not for people")
        return value

    @model_validator(mode="after")
    def _idle_within_lifetime(self) -> OidcSettings:
        if self.idle_timeout > self.session_lifetime:
            raise ValueError("idle_timeout is longer than session_lifetime")
        return self

    @field_validator("client_secret_file")
    @classmethod
    def _secret_readable(cls, value: Path) -> Path:
        read_secret(value)
        mode = value.stat().st_mode & 0o077
        if mode:
            raise ValueError(f"{value} may be read by others (mode {value.stat().st_mode & 0o777:04o}); chmod 600 it")
        return value

    @property
    def secure_cookies(self) -> bool:
        return self.redirect_base_url.startswith("https://")

    @property
    def origin(self) -> str:
        parts = urlsplit(self.redirect_base_url)
        return f"{parts.scheme}://{parts.netloc}"


class SignInRefusedError(Exception):
    """The provider vouched for the person, but this service does not admit them (the message says why)."""


class SessionExpiredError(Exception):
    """The session was valid once and is not any more (lifetime or idle timeout)."""


def role_for(groups: Iterable[str], mapping: Mapping[str, Role]) -> Role:
    """The one role a person's groups give, by ``mapping`` (in its declared order).

    A person in no mapped group is refused. In groups of several roles: a health role (clinic, counselling)
    together with any other role is refused, since which of them a read was made as must never be a guess
    (minimum necessary: the IdP's administrators split such people); among non-health roles the first in the
    configuration's declared order wins, so declare the broader roles first.
    """
    mine = set(groups)
    roles = list(dict.fromkeys(role for group, role in mapping.items() if group in mine))
    if not roles:
        raise SignInRefusedError("your campus account is in none of the groups that may use this service")
    if len(roles) > 1 and any(r in HEALTH_ROLES for r in roles):
        names = ", ".join(r.value for r in roles)
        raise SignInRefusedError(f"your campus account's groups give several roles ({names}), one of them a health "
                                 "role; ask the identity team to leave you in one")
    return roles[0]


@dataclass(frozen=True, slots=True)
class Person:
    """Who signed in: the provider's stable subject and what it says about them."""

    sub: str
    name: str
    email: str

    @property
    def label(self) -> str:
        """How logs and the audit log's ``principal`` column name the person (64 characters at most)."""
        return (self.email or self.name or self.sub)[:64]


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A session's content: the person, their role, when they signed in and when they were last seen."""

    person: Person
    role: Role
    since: float
    seen: float

    def check(self, now: float, lifetime: int, idle: int) -> SignedIn:
        """This session seen at ``now``; raises ``SessionExpiredError`` past the lifetime or the idle timeout."""
        if now - self.since > lifetime:
            raise SessionExpiredError("your sign-in has expired; sign in again")
        if now - self.seen > idle:
            raise SessionExpiredError("your session ended after a while without use; sign in again")
        return SignedIn(self.person, self.role, self.since, now)

    def dump(self) -> dict[str, Any]:
        return {"person": asdict(self.person), "role": self.role.value, "since": self.since, "seen": self.seen}

    @classmethod
    def load(cls, data: Any) -> SignedIn | None:
        """The session's content, or ``None`` if it holds none (or something else: the cookie is ours and
        signed, so that is an older version's, treated as signed out)."""
        try:
            return cls(Person(**data["person"]), Role(data["role"]), float(data["since"]), float(data["seen"]))
        except (KeyError, TypeError, ValueError):
            return None


def session_key(secret: str, service_url: str) -> str:
    """The session cookies' signing key: derived from the client secret, so every worker has it, and from the
    service's URL, so a cookie of one service (a gateway) is worthless at another (central) sharing the client."""
    return hmac.new(secret.encode(), f"onestop session cookie|{service_url}".encode(), hashlib.sha256).hexdigest()


def read_secret(path: Path) -> str:
    """The client secret from its file (first line, stripped); a clear error when it is missing or empty."""
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    if not secret:
        raise ValueError(f"{path} is empty")
    return secret


def _page(title: str, message: str, status: int, link: tuple[str, str] | None = None) -> HTMLResponse:
    """A small self-contained page (no script, no style sheet) for sign-in outcomes."""
    action = f'<p><a href="{html.escape(link[0])}">{html.escape(link[1])}</a></p>' if link else ""
    body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
            f'<body style="font-family:sans-serif;max-width:40rem;margin:3rem auto">'
            f'<h1>{html.escape(title)}</h1><p id="message">{html.escape(message)}</p>{action}</body></html>')
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


class OidcSignIn:
    """The sign-in routes and session handling of one service (central or a gateway)."""

    def __init__(self, settings: OidcSettings, home: str = "/dashboard") -> None:
        with warnings.catch_warnings():
            # authlib >= 1.9 would rather have httpx2 and says so on every start (with a filter of its own that
            # overrides everyone's, hence imported first); this project's HTTP client is httpx (docs/decisions.md,
            # "Sign-in").
            import authlib.deprecate  # noqa: F401

            warnings.filterwarnings("ignore", message="The httpx module is deprecated")
            from authlib.integrations.starlette_client import OAuth

        self.settings = settings
        self.home = home
        self._secret = read_secret(settings.client_secret_file)
        oauth = OAuth()
        oauth.register("campus", client_id=settings.client_id, client_secret=self._secret,
                       server_metadata_url=f"{settings.issuer}/.well-known/openid-configuration",
                       client_kwargs={"scope": settings.scope, "code_challenge_method": "S256",
                                      "timeout": settings.timeout})
        self._client = oauth.create_client("campus")

    # -- sessions -------------------------------------------------------------------------------------------
    def current(self, request: Request) -> SignedIn | None:
        """The signed-in person of this request (their ``seen`` refreshed), or ``None``; raises
        ``SessionExpiredError`` (and forgets the session) when it has expired."""
        session = request.scope.get("session")
        if not session:
            return None
        signed_in = SignedIn.load(session.get(SESSION_KEY))
        if signed_in is None:
            return None
        try:
            signed_in = signed_in.check(time.time(), self.settings.session_lifetime, self.settings.idle_timeout)
        except SessionExpiredError:
            session.pop(SESSION_KEY, None)
            raise
        session[SESSION_KEY] = signed_in.dump()
        return signed_in

    def same_origin(self, request: Request) -> bool:
        """Whether a state-changing request comes from this service's own pages."""
        return request.headers.get("origin") == self.settings.origin

    # -- the application ------------------------------------------------------------------------------------
    def install(self, app: FastAPI) -> None:
        """Add the session middleware and the ``/auth/...`` routes to ``app``."""
        key = session_key(self._secret, self.settings.redirect_base_url)
        app.add_middleware(SessionMiddleware, secret_key=key, session_cookie=SESSION_COOKIE,
                           max_age=self.settings.session_lifetime, same_site="lax",
                           https_only=self.settings.secure_cookies)
        app.include_router(self.router())

    def router(self) -> APIRouter:
        api = APIRouter(tags=["sign-in"])
        callback_url = self.settings.redirect_base_url + CALLBACK_PATH

        @api.get(LOGIN_PATH, include_in_schema=False)
        async def login(request: Request) -> Response:
            try:
                await self._check_issuer()
                return await self._client.authorize_redirect(request, callback_url)
            except SignInRefusedError as exc:
                log.error("sign-in: campus identity provider misconfigured: %s", exc)
                return _page("Campus sign-in misconfigured", f"This service cannot use the campus sign-in: {exc}.",
                             502)
            except Exception as exc:  # noqa: BLE001 - whatever the provider or the network did, say so plainly
                return self._unreachable(exc)

        @api.get(CALLBACK_PATH, include_in_schema=False)
        async def callback(request: Request) -> Response:
            return await self._callback(request)

        @api.get(LOGOUT_PATH, include_in_schema=False)
        def logout(request: Request) -> Response:
            signed_in = SignedIn.load(request.session.get(SESSION_KEY))
            request.session.clear()
            if signed_in:
                log.info("sign-out: %s (%s)", signed_in.person.label, signed_in.role.value)
            return _page("Signed out", "You are signed out of this service.", 200, (LOGIN_PATH, "Sign in again"))

        return api

    def me(self, request: Request) -> dict[str, Any]:
        """``/auth/me``'s answer for this request."""
        try:
            signed_in = self.current(request)
        except SessionExpiredError as exc:
            return {"signed_in": False, "sign_in": LOGIN_PATH, "detail": str(exc)}
        if signed_in is None:
            return {"signed_in": False, "sign_in": LOGIN_PATH, "detail": ""}
        return {"signed_in": True, "sign_in": LOGIN_PATH, "sub": signed_in.person.sub, "name": signed_in.person.name,
                "email": signed_in.person.email, "role": signed_in.role.value,
                "expires": signed_in.since + self.settings.session_lifetime, "sign_out": LOGOUT_PATH}

    async def _check_issuer(self) -> None:
        metadata = await self._client.load_server_metadata()
        if metadata.get("issuer", "").rstrip("/") != self.settings.issuer:
            raise SignInRefusedError(f"the provider calls itself {metadata.get('issuer')!r}, "
                                     f"not {self.settings.issuer!r}")

    async def _callback(self, request: Request) -> Response:
        from authlib.integrations.base_client.errors import OAuthError

        try:
            await self._check_issuer()
            token = await self._client.authorize_access_token(request)
            claims = dict(token.get("userinfo") or {})
            if not claims:
                raise SignInRefusedError("the provider returned no ID token")
            if self.settings.group_claim not in claims:
                claims.update(await self._client.userinfo(token=token))
            person = Person(sub=str(claims["sub"])[:255], name=str(claims.get("name") or "")[:200],
                            email=str(claims.get("email") or "")[:254])
            role = role_for(_groups(claims.get(self.settings.group_claim)), self.settings.groups)
        except SignInRefusedError as exc:
            log.warning("sign-in refused: %s", exc)
            return _page("Sign-in refused", str(exc), 403, (LOGOUT_PATH, "Start again"))
        except OAuthError as exc:
            # A forged or replayed callback, a state or nonce that does not match, a bad ID token.
            log.warning("sign-in failed: %s", exc.error)
            return _page("Sign-in failed", f"The sign-in could not be completed ({exc.error}).", 400,
                         (LOGIN_PATH, "Try again"))
        except Exception as exc:  # noqa: BLE001 - the provider unreachable or answering nonsense
            return self._unreachable(exc)
        now = time.time()
        request.session.clear()
        request.session[SESSION_KEY] = SignedIn(person, role, now, now).dump()
        log.info("sign-in: %s (sub %s) as %s", person.label, person.sub, role.value)
        return RedirectResponse(self.home, status_code=303)

    def _unreachable(self, exc: Exception) -> Response:
        log.warning("sign-in: campus identity provider unusable: %s: %s", type(exc).__name__, exc)
        return _page("Campus sign-in unavailable",
                     "The campus identity provider cannot be reached. Sessions already open go on until they "
                     "expire; in an emergency use the building's break-glass token.", 503, (LOGIN_PATH, "Try again"))


def install_sign_in(app: FastAPI, settings: OidcSettings | None, home: str) -> OidcSignIn | None:
    """Campus sign-in for ``app`` when ``settings`` configure it (``home``: where a signed-in person lands);
    ``/auth/me`` either way, so a page can ask whether it may offer sign-in (200 and no console noise)."""
    sign_in = OidcSignIn(settings, home) if settings is not None else None
    if sign_in is not None:
        sign_in.install(app)

    @app.get(ME_PATH, tags=["sign-in"], summary="Who is signed in: the person and role, or how to sign in")
    def me(request: Request) -> dict[str, Any]:
        if sign_in is None:
            return {"signed_in": False, "sign_in": None, "detail": ""}
        return sign_in.me(request)

    return sign_in


def _groups(value: Any) -> list[str]:
    """The group claim as a list of names (a provider may send one name as a plain string)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []
