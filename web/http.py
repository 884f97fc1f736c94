"""Run a FastAPI app with uvicorn, in the foreground or on a background thread, over HTTPS when configured.

TLS is checked when the settings load, not when the first browser connects: the certificate and key must
both be given or neither, must load as a pair, and the key must be readable by its owner only. Plain HTTP
is served only on a loopback address unless ``insecure_plain_http`` says in so many words that the LAN may
read tokens and card numbers (see docs/decisions.md, "Transport").
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import stat
import threading
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from pydantic import Field, field_validator, model_validator

from onestop.settings import Section

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _tls_problems(cert: Path, key: Path) -> list[str]:
    problems = []
    for name, path in (("tls_cert", cert), ("tls_key", key)):
        if not path.is_file():
            problems.append(f"{name}: no such file {path}")
    if problems:
        return problems
    mode = stat.S_IMODE(key.stat().st_mode)
    if mode & 0o077:
        problems.append(f"tls_key: {key} may be read by others (mode {mode:04o}); chmod 600 it")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        problems.append(f"tls_cert/tls_key: cannot be loaded as a certificate and its key ({exc})")
    return problems


class HttpSettings(Section):
    """Where an HTTP API listens, and its TLS certificate."""

    host: str = Field("127.0.0.1", description="address to bind; a non-loopback address needs TLS "
                                               "(or insecure_plain_http)")
    port: int = Field(8080, ge=0, le=65535, description="TCP port")
    tls_cert: Path | None = Field(None, description="server certificate (PEM, from `onestop provision gateway "
                                                    "cert`); serve HTTPS with tls_key")
    tls_key: Path | None = Field(None, description="the certificate's private key (PEM, mode 0600)")
    insecure_plain_http: bool = Field(False, description="serve plain HTTP on a non-loopback address: anyone on "
                                                         "the network can read tokens and personal data")

    @field_validator("tls_cert", "tls_key")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @model_validator(mode="after")
    def _transport(self) -> HttpSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        if self.tls_cert is not None and self.tls_key is not None:
            problems = _tls_problems(self.tls_cert, self.tls_key)
            if problems:
                raise ValueError("; ".join(problems))
        elif not is_loopback(self.host) and not self.insecure_plain_http:
            raise ValueError(f"plain HTTP on {self.host} would show tokens and personal data to the network: "
                             "set tls_cert and tls_key, bind 127.0.0.1, or set insecure_plain_http = true")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def url(self) -> str:
        """The base URL this server answers on (``https://`` with TLS)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"


class HttpServer:
    """A uvicorn server that can be stopped from another thread."""

    def __init__(self, app: FastAPI, settings: HttpSettings) -> None:
        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None,
                                access_log=False, lifespan="on", timeout_graceful_shutdown=3,
                                ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key)
        if not settings.tls and not is_loopback(settings.host):
            log.warning("serving PLAIN HTTP on %s:%d (insecure_plain_http): tokens and personal data cross the "
                        "network unencrypted", settings.host, settings.port)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def serve(self) -> None:
        """Serve in the calling thread until ``stop``."""
        self._server.run()

    def start(self) -> None:
        """Serve on a background thread; returns once the socket is listening."""
        self._thread = threading.Thread(target=self.serve, name="http", daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("HTTP server failed to start (port in use?)")
            self._thread.join(0.02)

    def stop(self) -> None:
        """Ask the server to finish and wait for it."""
        self._server.should_exit = True
        if self._thread:
            self._thread.join(10)
