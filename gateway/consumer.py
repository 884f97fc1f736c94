"""The ingest shell: MQTT in, batched SQLite commits, acknowledgements out.

paho's network thread only enqueues messages. The ingest thread takes up to ``batch_max`` of them (waiting
at most ``batch_wait_ms`` after the first), classifies them, commits them in one transaction, and only then
sends each message's PUBACK (paho's manual acknowledgement). A crash before the commit means the broker
redelivers the whole batch to our persistent session; the event id makes the redelivery harmless.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable

from prometheus_client import Histogram

from gateway.ingest import Accepted, Rejected, StateSeen, classify
from gateway.settings import GatewaySettings
from gateway.store import BatchResult, Derive, Store
from onestop import topics
from onestop.mqtt import Message, MqttClient, Received

log = logging.getLogger(__name__)


class Consumer:
    """Subscribes to the site's events and makes them durable before acknowledging them."""

    def __init__(self, settings: GatewaySettings, store: Store, *,
                 will: Message | None = None, birth: Callable[[], list[Message]] | None = None,
                 derive: Derive | None = None,
                 on_batch: Callable[[BatchResult, list[StateSeen]], None] | None = None,
                 known_devices: Callable[[], set[str] | None] | None = None) -> None:
        self.settings = settings
        self.store = store
        self._derive = derive
        self._on_batch = on_batch
        self._known = known_devices or (lambda: None)
        # Batch size and commit time: the throughput / acknowledgement-latency trade-off, observable live.
        self.batch_sizes = Histogram("onestop_gateway_batch_size", "Messages per committed batch",
                                     buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000), registry=None)
        self.commit_seconds = Histogram("onestop_gateway_batch_commit_seconds",
                                        "Time to validate, commit and acknowledge one batch",
                                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=None)
        # Bounded: when ingest falls behind, paho's network thread waits here, the socket stops being read,
        # and TCP pushes back on the broker, which keeps the messages (Mosquitto 2.0 does not reliably hold
        # to the MQTT 5 receive maximum once acknowledgements come from another thread).
        self._queue: queue.Queue[Received] = queue.Queue(maxsize=2 * settings.ingest.batch_max)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.client = MqttClient(
            settings.broker, client_id=settings.broker.username or f"{settings.site}-gateway",
            will=will, birth=birth,
            subscriptions=[(topics.events_filter(settings.site), 1), (topics.states_filter(settings.site), 1)],
            on_message=self._queue.put, persistent_session=True, manual_ack=True,
            receive_maximum=settings.ingest.receive_maximum)

    def start(self) -> None:
        """Start the ingest thread, then connect."""
        self._thread = threading.Thread(target=self._run, name="ingest", daemon=True)
        self._thread.start()
        self.client.start()

    def stop(self) -> None:
        """Disconnect first (no new messages), then let the ingest thread commit what it holds."""
        self.client.stop()
        self._stopping.set()
        if self._thread:
            self._thread.join(10)

    def _next_batch(self) -> list[Received]:
        cfg = self.settings.ingest
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + cfg.batch_wait_ms / 1000
        while len(batch) < cfg.batch_max:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=remaining))
                except queue.Empty:
                    break
        return batch

    def _run(self) -> None:
        while not (self._stopping.is_set() and self._queue.empty()):
            batch = self._next_batch()
            if batch:
                self._ingest(batch)

    def _ingest(self, batch: list[Received]) -> None:
        started = time.monotonic()
        now = time.time()
        accepted: list[Accepted] = []
        rejected: list[Rejected] = []
        states: list[StateSeen] = []
        known = self._known()
        for msg in batch:
            verdict = classify(msg.topic, msg.payload, now, self.settings.site, known)
            if isinstance(verdict, Accepted):
                accepted.append(verdict)
            elif isinstance(verdict, StateSeen):
                states.append(verdict)
            else:
                rejected.append(verdict)
        while True:
            try:
                result = self.store.write_batch(accepted, rejected, self._derive)
                break
            except sqlite3.Error as exc:
                # Not acknowledged, so nothing is lost: keep trying while the disk or lock recovers.
                log.error("could not commit a batch of %d messages: %s; retrying", len(batch), exc)
                if self._stopping.wait(1.0):
                    return
        for msg in batch:
            if msg.qos > 0:
                self.client.ack(msg.mid, msg.qos)
        self.batch_sizes.observe(len(batch))
        self.commit_seconds.observe(time.monotonic() - started)
        for bad in rejected:
            # Reason and topic only: the payload may hold a card number or vital signs.
            log.warning("quarantined message on %s: %s", bad.topic[:200], bad.reason)
        if self._on_batch:
            self._on_batch(result, states)
