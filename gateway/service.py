"""Wires a gateway together: store, MQTT consumer, sync, local API; runs until stopped."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from gateway.api import create_app
from gateway.consumer import Consumer
from gateway.settings import GatewaySettings, load
from gateway.store import Store
from gateway.sync import Syncer
from onestop import topics
from onestop.http import HttpServer
from onestop.ids import boot_id
from onestop.mqtt import Message
from onestop.payloads import GatewayState

log = logging.getLogger(__name__)


class Gateway:
    """One building gateway."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.boot = boot_id()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(settings.database, settings.ingest.quarantine_max)
        will = Message(topics.gateway_state(settings.site),
                       GatewayState(online=False, boot=self.boot).model_dump_json().encode(), retain=True)
        self.consumer = Consumer(settings, self.store, will=will, birth=self._birth)
        self.syncer = Syncer(settings.site, settings.central, self.store, on_reachability=self._reachability)
        self.http = HttpServer(create_app(self), settings.http)

    @property
    def central_state(self) -> str:
        if self.settings.central.url is None:
            return "not-configured"
        return {None: "unknown", True: "reachable", False: "unreachable"}[self.syncer.reachable]

    def _state(self) -> Message:
        central = self.central_state if self.central_state in ("reachable", "unreachable") else "unknown"
        state = GatewayState(online=True, boot=self.boot, central=central)  # type: ignore[arg-type]
        return Message(topics.gateway_state(self.settings.site), state.model_dump_json().encode(), retain=True)

    def _birth(self) -> list[Message]:
        return [self._state()]

    def _reachability(self, _reachable: bool) -> None:
        if self.consumer.client.connected:
            self.consumer.client.publish(self._state())

    def start(self) -> None:
        """Start every part; returns once the HTTP API listens."""
        self.consumer.start()
        self.syncer.start()
        self.http.start()
        log.info("gateway %s listening on http://%s:%d", self.settings.site, self.settings.http.host,
                 self.settings.http.port)

    def stop(self) -> None:
        """Stop in dependency order: stop taking messages, commit, stop sync, stop serving."""
        self.consumer.stop()
        self.syncer.stop()
        self.http.stop()
        self.store.close()


def run(config: Path) -> None:
    """``onestop gateway run``: run until SIGINT / SIGTERM."""
    gateway = Gateway(load(config))
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    gateway.start()
    print(f"gateway: http://{gateway.settings.http.host}:{gateway.settings.http.port}", flush=True)
    done.wait()
    gateway.stop()
