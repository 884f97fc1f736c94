"""The response headers both web services send, in one place: framing, sniffing, referrer, content policy,
and no caching of anything a token was needed for.

- Every response: ``X-Frame-Options: DENY`` and ``frame-ancestors 'none'`` (no clickjacking of the
  acknowledge and resolve buttons), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``.
- A response that sets no ``Content-Security-Policy`` of its own gets ``default-src 'none'``: JSON and
  metrics never need to load anything. A dashboard page gets ``page_policy`` instead: its own inline
  scripts by hash (so script injected through the page's data would not run), no other origin.
- A request that carries ``Authorization`` or a signed-in session's cookie gets ``Cache-Control: no-store``
  on its answer, whatever the route set: screenings, alerts with their subject, quarantine, FHIR bundles,
  anything with a card is behind a token or a session, and no browser or proxy should keep a copy on disk
  (see docs/decisions.md, "Transport").

A plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``: it only edits the response's
start message and adds no task or copy per request on central's ingest path.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.oidc import SESSION_COOKIE

ALWAYS = {b"x-frame-options": b"DENY", b"x-content-type-options": b"nosniff", b"referrer-policy": b"no-referrer"}
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
NO_STORE = b"no-store"
_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_SESSION = SESSION_COOKIE.encode() + b"="


def page_policy(html: str, scripts_from_self: bool = False) -> str:
    """The Content-Security-Policy for a self-contained page: its inline ``<script>`` blocks by SHA-256,
    inline styles (the pages colour bars with ``style=``), data: images, requests to its own origin only.
    ``scripts_from_self`` also admits script files and style sheets from the page's own origin (``/docs``)."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
                      for s in _SCRIPT.findall(html))
    scripts = " ".join(filter(None, ("'self'" if scripts_from_self else "", hashes))) or "'none'"
    styles = "'self' 'unsafe-inline'" if scripts_from_self else "'unsafe-inline'"
    return (f"default-src 'none'; script-src {scripts}; style-src {styles}; "
            "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class Page:
    """A static dashboard page served with its own content policy; read once at start-up."""

    def __init__(self, html: str, scripts_from_self: bool = False) -> None:
        self.html = html
        self.headers = {"Content-Security-Policy": page_policy(html, scripts_from_self), "Cache-Control": "no-cache"}

    def response(self) -> HTMLResponse:
        """The page with its policy; the middleware adds the headers every response gets."""
        return HTMLResponse(self.html, headers=self.headers)


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = any(name == b"authorization" or (name == b"cookie" and _SESSION in value)
                      for name, value in scope["headers"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = secure_headers(list(message.get("headers", [])), private)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def secure_headers(headers: list[tuple[bytes, bytes]], private: bool) -> list[tuple[bytes, bytes]]:
    """``headers`` (raw ASGI pairs, lower-case names) with the security headers added or enforced."""
    present = {name.lower() for name, _ in headers}
    if private:
        headers = [(n, v) for n, v in headers if n.lower() != b"cache-control"]
        headers.append((b"cache-control", NO_STORE))
    headers.extend((name, value) for name, value in ALWAYS.items() if name not in present)
    if b"content-security-policy" not in present:
        headers.append((b"content-security-policy", API_POLICY.encode()))
    return headers


def install_security_headers(app: FastAPI) -> None:
    """Send the security headers on every response of ``app``."""
    app.add_middleware(SecurityHeaders)
