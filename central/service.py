"""Runs the central service."""

from __future__ import annotations

from pathlib import Path

from central.api import create_app
from central.settings import load
from central.store import CentralStore
from onestop.http import HttpServer


def run(config: Path | None) -> None:
    """``onestop central run``: serve until SIGINT / SIGTERM (uvicorn handles the signals)."""
    settings = load(config)
    store = CentralStore(settings.database_url)
    print(f"central: http://{settings.http.host}:{settings.http.port}", flush=True)
    try:
        HttpServer(create_app(settings, store), settings.http).serve()
    finally:
        store.close()
