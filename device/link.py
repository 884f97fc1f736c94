"""A device's link to its building: drains the outbox to the broker, announces itself, listens for its
configuration, for occupancy and for presence.

The publisher thread wakes when the outbox takes an event (``Outbox.appended``), hands paho at most
``window`` events at a time, in sequence order, and marks each in the outbox when its PUBACK arrives. paho
resends unacknowledged QoS 1 messages itself after a reconnect; after a restart everything unacknowledged is
sent again. After every reconnect the events acknowledged within the resend window are sent again too, in
case the broker crashed before writing them to disk (see ``device.outbox``). The event id makes every such
copy harmless.

Events leave only once the building's gateway is known to exist: its retained ``gateway/state`` (birth or
Will) has arrived on this connection. The gateway publishes its first birth after its persistent session has
subscribed, so from then on the broker keeps every event for it, even while it is down. Before a building's
gateway has ever run, a PUBACK would only mean that the broker dropped the event for want of a subscriber, so
events wait in the outbox instead. (Sparkplug's edge nodes wait for their primary host's STATE the same way.)
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from device.outbox import Outbox
from onestop import topics
from onestop.errors import TopicError
from onestop.ids import boot_id
from onestop.mqtt import Message, MqttClient, Received
from onestop.mqtt_settings import BrokerSettings
from onestop.payloads import DeviceState

log = logging.getLogger(__name__)


class DeviceLink:
    """Birth / Will / heartbeat plus the outbox publisher for one device."""

    def __init__(self, broker: BrokerSettings, site: str, outbox: Outbox, *, kind: str, fw: str,
                 heartbeat_s: float = 30.0, window: int = 100, resend_window_s: float = 60.0,
                 on_config: Callable[[dict], None] | None = None,
                 on_occupancy: Callable[[dict], None] | None = None,
                 on_presence: Callable[[dict], None] | None = None,
                 counters: Callable[[], dict[str, int]] | None = None) -> None:
        self.site = site
        self.device = outbox.device
        self.outbox = outbox
        self.boot = boot_id()
        self._kind, self._fw = kind, fw
        self._started = datetime.now(UTC)
        self._t0 = time.monotonic()
        self._heartbeat_s = heartbeat_s
        self._window = window
        self._resend_window_s = resend_window_s
        self._resend = False  # set on every (re)connect
        self._gateway_known = threading.Event()  # the gateway's retained state has arrived on this connection
        self._on_config, self._on_occupancy, self._on_presence = on_config, on_occupancy, on_presence
        self._counters = counters  # the device's own counters, sent in every heartbeat
        self._inflight: dict[int, int] = {}  # mid -> seq
        # PUBACKs arrive on paho's thread while paho holds its own lock: the callback only queues the mid and
        # sets an Event, and the publisher thread alone maps mids to events. No lock of ours is ever held
        # while calling paho, so the two threads cannot wait on each other.
        self._pubacks: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._handed_upto = 0
        self._wake = outbox.appended  # every append wakes the publisher; so do connections, PUBACKs and stop
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        will = Message(topics.state(site, self.device),
                       DeviceState(online=False, boot=self.boot).model_dump_json(exclude_none=True).encode(),
                       qos=1, retain=True)
        self.client = MqttClient(
            broker.address(), client_id=self.device, will=will, birth=self._birth,
            subscriptions=[(topics.cfg(site, self.device), 1), (topics.occupancy_filter(site), 1),
                           (topics.gateway_state(site), 1)]
            + ([(topics.presence_filter(site), 1)] if on_presence else []),
            on_message=self._message, on_published=self._published, on_connection=self._connection)

    def _connection(self, up: bool) -> None:
        if up:
            self._resend = True
        else:
            self._gateway_known.clear()  # a new connection learns it again, from the retained state
        self._wake.set()

    def _birth(self) -> list[Message]:
        state = DeviceState(online=True, boot=self.boot, kind=self._kind, fw=self._fw,  # type: ignore[arg-type]
                            started=self._started)
        return [Message(topics.state(self.site, self.device), state.model_dump_json(exclude_none=True).encode(),
                        qos=1, retain=True)]

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect and start publishing in the background."""
        self.client.start()
        self._thread = threading.Thread(target=self._pump, name=f"outbox-{self.device}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop publishing, say goodbye, disconnect; whatever is unacknowledged stays in the outbox."""
        self._stopping.set()
        self._wake.set()
        if self._thread:
            self._thread.join(5)  # it marks the last PUBACKs before it ends
        self.client.stop()

    def heartbeat_now(self) -> None:
        """Record a heartbeat now (the device's state changed, e.g. a fault cleared); the append wakes the
        publisher."""
        self._heartbeat()

    @property
    def connected(self) -> bool:
        return self.client.connected

    @property
    def uptime_s(self) -> float:
        return time.monotonic() - self._t0

    # -- the publisher thread --------------------------------------------------------------------------
    def _pump(self) -> None:
        next_heartbeat = time.monotonic() + self._heartbeat_s
        next_sweep = 0.0  # forgetting what left the resend window needs no more than one sweep a second
        while True:
            self._wake.wait(timeout=0.5)
            self._wake.clear()
            acked = []  # PUBACKs queued by paho's thread; only this thread maps their mids to events
            while not self._pubacks.empty():
                seq = self._inflight.pop(self._pubacks.get_nowait(), None)
                if seq is not None:  # resent copies are not tracked
                    acked.append(seq)
            self.outbox.mark_acked(acked)
            if self._stopping.is_set():
                return
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + 1.0
                self.outbox.forget_acked(time.time() - self._resend_window_s)
            if time.monotonic() >= next_heartbeat:
                next_heartbeat = time.monotonic() + self._heartbeat_s
                self._heartbeat()
            if self.client.connected and self._gateway_known.is_set():
                self._hand_over()

    def _heartbeat(self) -> None:
        try:
            self.outbox.append("heartbeat", {"uptime_s": round(self.uptime_s, 1), "outbox": self.outbox.depth(),
                                             "boot": self.boot, **(self._counters() if self._counters else {})})
        except sqlite3.Error as exc:  # a full disk or a locked file must not stop the publisher thread
            log.error("heartbeat not recorded: outbox at %s failed (%s)", self.device, exc)

    def _hand_over(self) -> None:
        if self._resend:
            self._resend = False
            for item in self.outbox.recently_acked():
                self.client.publish(Message(topics.event(self.site, self.device, item.type), item.payload, qos=1))
        room = self._window - len(self._inflight)
        if room <= 0:
            return
        for item in self.outbox.pending(after_seq=self._handed_upto, limit=room):
            topic = topics.event(self.site, self.device, item.type)
            mid = self.client.publish(Message(topic, item.payload, qos=1))
            self._inflight[mid] = item.seq  # its PUBACK waits in the queue until this thread reads it
            self._handed_upto = item.seq

    # -- paho callbacks (network thread) ---------------------------------------------------------------
    def _published(self, mid: int) -> None:
        self._pubacks.put(mid)
        self._wake.set()

    def _message(self, msg: Received) -> None:
        try:
            parsed = topics.parse(msg.topic)
            body = json.loads(msg.payload) if msg.payload else None
        except (ValueError, TopicError) as exc:
            log.warning("ignored malformed message on %s: %s", msg.topic, exc.__class__.__name__)
            return
        if not isinstance(body, dict):
            return  # an empty retained payload only clears a topic
        if parsed.kind == "gateway-state":
            self._gateway_known.set()
            self._wake.set()
        elif parsed.kind == "cfg" and self._on_config:
            self._on_config(body)
        elif parsed.kind == "occupancy" and self._on_occupancy:
            self._on_occupancy(body)
        elif parsed.kind == "presence" and self._on_presence:
            self._on_presence(body)
