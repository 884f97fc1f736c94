"""Wires a gateway together: store, building state, MQTT consumer, sync, local API; runs until stopped."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

from gateway import retention
from gateway.alert_store import GatewayAlerts
from gateway.api import create_app
from gateway.building import Building
from gateway.consumer import Consumer
from gateway.notifier import Notifier
from gateway.notify_queue import NotificationBook
from gateway.read_model import GatewayReads
from gateway.settings import GatewaySettings, load
from gateway.store import Store
from gateway.sync import Syncer
from gateway.work_order_notices import WorkOrderNotices
from onestop import topics
from onestop.cards import SiteCards
from onestop.files import private_dir
from onestop.ids import boot_id
from onestop.mqtt import Message
from onestop.payloads import GatewayState
from onestop.site import SiteConfig
from onestop.sqlite import StorageError
from sealing import open_data_key
from web.http import HttpServer

log = logging.getLogger(__name__)

TICK_S = 1.0
SAVE_DEVICES_EVERY = 10  # ticks


class Gateway:
    """One building gateway."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.boot = boot_id()
        self.started = datetime.now(UTC)
        private_dir(settings.data_dir)
        self.store = Store(settings.database, settings.ingest.quarantine_max,
                           open_data_key(settings.data_key, settings.data_dir))
        self.alerts = GatewayAlerts(self.store)
        self.building = Building(settings, self.store, self._publish)
        will = Message(topics.gateway_state(settings.site),
                       GatewayState(online=False, boot=self.boot).model_dump_json().encode(), retain=True)
        self.consumer = Consumer(settings, self.store, will=will, birth=self._birth,
                                 derive=self.building.derive, on_batch=self.building.after_batch,
                                 devices=lambda: self.building.device_table)
        self._load_config_copy()
        self._load_cards_copy()
        self.syncer = Syncer(settings.site, settings.central, self.store, self.alerts, settings.config_copy,
                             fleet=self.building.fleet, on_config=self.building.apply_config,
                             local_config=lambda: self.building.config,
                             cards_copy=settings.cards_copy, on_cards=self.building.apply_cards,
                             on_reachability=self._reachability, work_orders=self.building.work_orders.orders)
        self.reads = GatewayReads(settings.site, self.store, self.alerts, self.building,
                                  connected=lambda: self.consumer.client.connected,
                                  restarts=lambda: self.consumer.client.restarts,
                                  failures=lambda: self.tick_failures, central=lambda: self.central_state,
                                  last_sync=lambda: self.syncer.last_success)
        self.notifier = Notifier(settings, NotificationBook(self.store), self.alerts,
                                 space_names=lambda: {s.id: s.name for s in self.building.config.spaces if s.name},
                                 work_orders=WorkOrderNotices(settings.site, self.building.work_orders.orders,
                                                              lambda: self.building.work_orders.settings))
        self.http = HttpServer(create_app(self.reads, settings.tokens,
                                          (self.consumer.batch_sizes, self.consumer.commit_seconds),
                                          settings.oidc), settings.http)
        self._stopping = threading.Event()
        self._ticker: threading.Thread | None = None
        # Counted in memory, not in the store: the store is often what fails (a full or read-only disk).
        self.tick_failures = 0

    def _load_config_copy(self) -> None:
        """Central's last good configuration wins over the local file, also when starting offline."""
        if not self.settings.config_copy.exists():
            return
        try:
            config = SiteConfig.model_validate_json(self.store.sealer.open_any(  # type: ignore[union-attr]
                self.settings.config_copy.read_bytes(), b"site-config"))
        except ValueError:
            log.error("ignoring an unreadable copy of the site configuration at %s", self.settings.config_copy)
            return
        self.building.apply_config(config)

    def _load_cards_copy(self) -> None:
        """Central's last good card list: kiosks keep refusing lost cards while the WAN is down."""
        if not self.settings.cards_copy.exists():
            return
        try:
            cards = SiteCards.model_validate_json(self.settings.cards_copy.read_bytes())
        except ValueError:
            log.error("ignoring an unreadable copy of the card list at %s", self.settings.cards_copy)
            return
        self.building.apply_cards(cards)

    def _publish(self, message: Message) -> None:
        self.consumer.client.publish(message)

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
        # On every (re)connect: our state, then every retained cfg and occupancy message we own.
        return [self._state(), *self.building.retained_messages()]

    def _reachability(self, _reachable: bool) -> None:
        self._publish(self._state())

    def _tick_loop(self) -> None:
        ticks = 0
        storage_every = max(1, round(self.settings.storage.check_interval_s / TICK_S))
        retention_every = max(1, round(self.settings.storage.retention_interval_s / TICK_S))
        while not self._stopping.wait(TICK_S):
            ticks += 1
            try:
                self.building.tick()
                if ticks % SAVE_DEVICES_EVERY == 0:
                    self.save_devices()
                if ticks % storage_every == 0:
                    retention.enforce(self.store, self.settings.storage.max_bytes)
                if ticks % retention_every == 0:
                    retention.expire(self.store, self.settings.storage)
            except StorageError as exc:  # the store says what is wrong and where: no traceback every second
                self.tick_failures += 1
                if self.tick_failures == 1 or ticks % 60 == 0:
                    log.error("gateway tick failed: %s (%d failures since start)", exc, self.tick_failures)
            except Exception:  # the ticker must survive anything one tick runs into; it is logged and counted
                self.tick_failures += 1
                log.exception("gateway tick failed (%d failures since start)", self.tick_failures)

    def save_devices(self) -> None:
        """Persist every device's health."""
        self.store.save_devices(self.building.fleet())

    def start(self) -> None:
        """Start every part; returns once the HTTP API listens."""
        self.consumer.start()
        self.syncer.start()
        self.notifier.start()
        self._ticker = threading.Thread(target=self._tick_loop, name="tick", daemon=True)
        self._ticker.start()
        self.http.start()
        log.info("gateway %s listening on %s", self.settings.site, self.settings.http.url)

    def stop(self) -> None:
        """Stop in dependency order: stop taking messages, commit, stop sync, stop serving."""
        self._stopping.set()
        if self._ticker:
            self._ticker.join(5)
        self.consumer.stop()
        self.save_devices()
        self.syncer.stop()
        self.notifier.stop()
        self.http.stop()
        self.store.close()


def run(config: Path) -> None:
    """``onestop gateway run``: run until SIGINT / SIGTERM."""
    gateway = Gateway(load(config))
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    gateway.start()
    print(f"gateway: {gateway.settings.http.url}", flush=True)
    done.wait()
    gateway.stop()
