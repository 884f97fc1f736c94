"""Run a FastAPI app with uvicorn, in the foreground or on a background thread."""

from __future__ import annotations

import threading

import uvicorn
from fastapi import FastAPI
from pydantic import Field

from onestop.settings import Section


class HttpSettings(Section):
    """Where an HTTP API listens."""

    host: str = Field("127.0.0.1", description="address to bind (0.0.0.0 for the whole LAN)")
    port: int = Field(8080, ge=0, le=65535, description="TCP port")


class HttpServer:
    """A uvicorn server that can be stopped from another thread."""

    def __init__(self, app: FastAPI, settings: HttpSettings) -> None:
        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None,
                                access_log=False, lifespan="on", timeout_graceful_shutdown=3)
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
