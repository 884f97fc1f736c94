"""The ingest shell: MQTT in, batched SQLite commits, acknowledgements out.

The receiver (``gateway.receiver``, in this process) hands a batch to ``Consumer._ingest`` on its ingest
thread as soon as that thread is free (or at ``batch_max`` messages, or ``batch_wait_ms`` after the first):
they are classified there, while the store commits the batch before, then committed in one transaction, and
once it is durable the receiver sends each message's PUBACK. A crash before the commit means the broker
redelivers the whole batch to our persistent session; the event id makes the redelivery harmless. At most
``receive_maximum`` messages are read and not yet acknowledged; beyond that the receiver stops reading, and
TCP holds the broker back.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping

from prometheus_client import Histogram

from gateway.errors import is_transient
from gateway.ingest import Accepted, Rejected, StateSeen, classify
from gateway.receiver import Receiver
from gateway.settings import GatewaySettings
from gateway.store import BatchResult, Derive, Store
from gateway.writer import Pending
from onestop import topics
from onestop.mqtt import Message, Received
from onestop.site import DeviceEntry

log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.0005
REPORT_EVERY_S = 60.0  # how often a store that keeps failing is reported again


class Consumer:
    """Subscribes to the site's events and makes them durable before acknowledging them."""

    def __init__(self, settings: GatewaySettings, store: Store, *,
                 will: Message | None = None, birth: Callable[[], list[Message]] | None = None,
                 derive: Derive | None = None,
                 on_batch: Callable[[BatchResult, list[StateSeen]], None] | None = None,
                 devices: Callable[[], Mapping[str, DeviceEntry]] | None = None) -> None:
        self.settings = settings
        self.store = store
        self._derive = derive
        self._on_batch = on_batch
        self._devices = devices or (lambda: {})  # no device table: no device may send anything
        # Topics whose retained event we cleared: the broker passes our empty message back to us once.
        self._clearing: set[str] = set()
        # Batch size and commit time: the throughput / acknowledgement-latency trade-off, observable live.
        self.batch_sizes = Histogram("onestop_gateway_batch_size", "Messages per committed batch",
                                     buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000), registry=None)
        self.commit_seconds = Histogram("onestop_gateway_batch_commit_seconds",
                                        "Time to validate, commit and acknowledge one batch",
                                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=None)
        self._stopping = False
        self._birth = birth
        self.client = Receiver(
            settings.broker.address(), client_id=settings.broker.username or f"{settings.site}-gateway", will=will,
            subscriptions=[(topics.events_filter(settings.site), 1), (topics.states_filter(settings.site), 1)],
            on_batch=self._ingest, on_connection=self._connection, batch_max=settings.ingest.batch_max,
            batch_wait_s=settings.ingest.batch_wait_ms / 1000, receive_maximum=settings.ingest.receive_maximum)

    def start(self) -> None:
        """Connect and start taking messages."""
        # The ingest thread validates (Python, holding the GIL) while the writer commits and the mqtt thread
        # reads, and both of those give the GIL up around every SQLite step and every select: at the default
        # switch interval (5 ms) each of them waits up to 5 ms to get it back, so they barely overlap with
        # validation at all. 0.5 ms lets them (docs/decisions.md, "The receiver on the mqtt5 codec").
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self.client.start()

    def stop(self) -> None:
        """Commit and acknowledge what has been read, then disconnect."""
        self._stopping = True
        self.client.stop()

    def _connection(self, up: bool) -> None:
        if up and self._birth:
            for message in self._birth():
                self.client.publish(message)

    def _ingest(self, batch: list[Received]) -> _Batch:
        """Validate a batch (on the receiver's ingest thread, while the store commits the one before it)."""
        now = time.time()
        accepted: list[Accepted] = []
        rejected: list[Rejected] = []
        states: list[StateSeen] = []
        devices = self._devices()
        site = self.settings.site
        for msg in batch:
            if not msg.payload and msg.topic in self._clearing:
                self._clearing.discard(msg.topic)  # the echo of our own clearing of a retained event
                continue
            verdict = classify(msg.topic, msg.payload, now, site, devices, msg.retain)
            if isinstance(verdict, Accepted):
                accepted.append(verdict)
            elif isinstance(verdict, StateSeen):
                states.append(verdict)
            else:
                rejected.append(verdict)
        return _Batch(self, len(batch), accepted, rejected, states)


class _Batch:
    """A validated batch on its way into the store (``gateway.receiver.Prepared``): ``submit`` hands its write
    to the store's writer, ``wait`` returns when it is durable, ``after`` says and publishes what it changed."""

    __slots__ = ("consumer", "size", "accepted", "rejected", "states", "pending", "result", "submitted")

    def __init__(self, consumer: Consumer, size: int, accepted: list[Accepted], rejected: list[Rejected],
                 states: list[StateSeen]) -> None:
        self.consumer = consumer
        self.size = size
        self.accepted, self.rejected, self.states = accepted, rejected, states
        self.pending: Pending[BatchResult] | None = None
        self.result: BatchResult | None = None
        self.submitted = 0.0

    def submit(self) -> None:
        self.submitted = time.monotonic()
        consumer = self.consumer
        try:
            self.pending = consumer.store.submit_batch(self.accepted, self.rejected, consumer._derive)
        except Exception as exc:
            if not is_transient(exc):
                raise  # no retry helps: the receiver starts over, nothing acknowledged (gateway.errors)
            # left unsubmitted: ``wait`` tries again

    def wait(self) -> None:
        """Return when the batch is durable; a transient failure is retried until the store recovers."""
        consumer = self.consumer
        failing_since = next_report = 0.0
        while True:
            try:
                if self.pending is None:
                    self.pending = consumer.store.submit_batch(self.accepted, self.rejected, consumer._derive)
                self.result = self.pending.wait()
                break
            except Exception as exc:
                self.pending = None
                if not is_transient(exc):
                    raise  # no retry helps: the receiver starts over, nothing acknowledged (gateway.errors)
                # Not acknowledged, so nothing is lost: keep trying while the disk or lock recovers. Said once a
                # minute, not every second, so the log does not fill what space is left.
                failing_since = failing_since or time.monotonic()
                if time.monotonic() >= next_report:
                    next_report = time.monotonic() + REPORT_EVERY_S
                    log.error("could not store a batch of %d messages: %s; not acknowledged, retrying every "
                              "second", self.size, exc)
                if consumer._stopping:
                    raise
                time.sleep(1.0)
        if failing_since:
            log.warning("storing again after %.0f s; the batch held back meanwhile is stored",
                        time.monotonic() - failing_since)
        # Returning is the commit's word: the receiver now acknowledges the batch (gateway.receiver).
        consumer.batch_sizes.observe(self.size)
        consumer.commit_seconds.observe(time.monotonic() - self.submitted)

    def after(self) -> None:
        """After the commit and the acknowledgement: say what was quarantined, publish what changed."""
        consumer = self.consumer
        for bad in self.rejected:
            # Reason and topic only: the payload may hold a card number or vital signs.
            log.warning("quarantined message on %s: %s", bad.topic[:200], bad.reason)
            if bad.reason == "retained":
                # An empty retained message deletes the broker's copy, so it is neither kept in the broker's
                # store nor delivered (and quarantined) again on every resubscription. Sent after the commit:
                # were it lost, the next resubscription brings the message back and it is cleared then.
                consumer._clearing.add(bad.topic)
                consumer.client.publish(Message(bad.topic, b"", qos=1, retain=True))
        if consumer._on_batch and self.result is not None:
            consumer._on_batch(self.result, self.states)
