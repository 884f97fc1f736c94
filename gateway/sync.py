"""Sync to the central service: send the backlog in priority order, mark what central confirms.

Each round takes the most urgent unsynced events, posts them gzip-compressed to ``POST /api/v1/ingest``
and marks them synced only when central answers 200. Central is idempotent on event id, so a batch that is
resent after a lost answer does no harm. While central is unreachable, rounds back off exponentially with
full jitter, capped, so a fleet of gateways does not stampede it when the WAN returns.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import threading
from collections.abc import Callable

import httpx

from gateway.settings import CentralLinkSettings
from gateway.store import Store
from onestop.errors import OnestopError

log = logging.getLogger(__name__)


class SyncError(OnestopError):
    """A sync round failed; ``retry`` says whether trying again later can help."""

    def __init__(self, message: str, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


def backoff_delay(attempt: int, base: float = 0.5, cap: float = 60.0, rng: random.Random | None = None) -> float:
    """Full-jitter exponential back-off: uniform in [0, min(cap, base * 2**attempt)]."""
    return (rng or random).uniform(0, min(cap, base * (2 ** min(attempt, 30))))


def encode_batch(site: str, rows: list[tuple[str, float, bytes]]) -> bytes:
    """The ingest body, gzip-compressed; stored envelopes are spliced in as they were received."""
    items = b",".join(b'{"received":' + json.dumps(received).encode() + b',"envelope":' + payload + b"}"
                      for _id, received, payload in rows)
    body = b'{"site":' + json.dumps(site).encode() + b',"events":[' + items + b"]}"
    return gzip.compress(body, compresslevel=5)


class Syncer:
    """The sync loop on its own thread."""

    def __init__(self, site: str, settings: CentralLinkSettings, store: Store,
                 on_reachability: Callable[[bool], None] | None = None) -> None:
        self.site = site
        self.settings = settings
        self.store = store
        self._on_reachability = on_reachability
        self.reachable: bool | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(
            base_url=str(settings.url) if settings.url else "http://invalid",
            headers={"Authorization": f"Bearer {settings.token.get_secret_value()}",
                     "Content-Type": "application/json", "Content-Encoding": "gzip"},
            timeout=httpx.Timeout(30.0, connect=5.0))

    def start(self) -> None:
        """Start syncing in the background (does nothing without a central URL)."""
        if self.settings.url is None:
            log.info("no central URL configured: events stay on this gateway")
            return
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current round."""
        self._stopping.set()
        if self._thread:
            self._thread.join(35)
        self._client.close()

    def _set_reachable(self, value: bool) -> None:
        if value != self.reachable:
            self.reachable = value
            log.info("central service is %s", "reachable" if value else "unreachable")
            if self._on_reachability:
                self._on_reachability(value)

    def sync_once(self) -> int:
        """Send one batch; returns how many events central confirmed (0 when the backlog is empty)."""
        rows = self.store.unsynced(self.settings.batch_max)
        if not rows:
            self._probe()
            return 0
        try:
            response = self._client.post("/api/v1/ingest", content=encode_batch(self.site, rows))
        except httpx.HTTPError as exc:
            raise SyncError(f"central unreachable: {exc.__class__.__name__}") from exc
        if response.status_code != 200:
            raise SyncError(f"central answered {response.status_code}", retry=response.status_code >= 500)
        self.store.mark_synced([row[0] for row in rows])
        return len(rows)

    def _probe(self) -> None:
        """Nothing to send: check that central answers, so the WAN state shown stays true."""
        try:
            response = self._client.get("/healthz")
        except httpx.HTTPError as exc:
            raise SyncError(f"central unreachable: {exc.__class__.__name__}") from exc
        if response.status_code != 200:
            raise SyncError(f"central health check answered {response.status_code}")

    def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                sent = self.sync_once()
            except SyncError as exc:
                self._set_reachable(False)
                delay = backoff_delay(attempt)
                attempt += 1
                log.warning("sync failed (%s); next try in %.1f s", exc, delay)
                self._stopping.wait(delay)
                continue
            attempt = 0
            self._set_reachable(True)
            if sent == 0:
                self._stopping.wait(self.settings.interval_s)
