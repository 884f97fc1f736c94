"""paho-mqtt behind a small adapter, so paho's types never leak into the rest of the code.

Connection behaviour (the Home Assistant / aiomqtt pattern):
- the Last Will is set at connect; on every CONNACK the client resubscribes, then publishes its birth; it
  counts as connected once the broker has acknowledged the subscriptions (nothing can pass it by after that);
- transient failures (broker down, network) are retried by paho with exponential back-off (1 s .. 30 s);
  the first failure of an outage is logged with the host and port dialled ("cannot reach the broker at
  gw:8883"), the retries are not (a broker down for a night would otherwise fill the SD card's journal);
- a refusal for bad credentials or authorisation is logged once and retried only every 5 minutes, since
  hammering the broker cannot fix it;
- a clean ``stop`` publishes the Will payload itself (MQTT sends the Will only on an unclean loss).

Devices and tools speak MQTT 5 with a clean session: what they send waits in their own outbox, so nothing
needs to be queued for them at the broker. The gateway's receiving connection (``gateway.receiver``) is not
this client: it speaks MQTT 5 with a persistent session through the ``mqtt5`` codec; see its docstring.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from onestop.errors import OnestopError

log = logging.getLogger(__name__)

RETRY_MIN_S, RETRY_MAX_S, RETRY_REFUSED_S = 1, 30, 300
_REFUSALS = {134, 135, 138}  # bad user name or password, not authorised, banned


class LinkError(OnestopError):
    """An MQTT operation could not be carried out."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where and as whom a client connects (``BrokerSettings.address()`` makes one from a configuration)."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str = ""
    password: str = field(default="", repr=False)
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    keepalive: int = 30


@dataclass(frozen=True, slots=True)
class Message:
    """An outgoing message."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True, slots=True)
class Received:
    """An incoming message; ``mid`` identifies it for manual acknowledgement."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int


class MqttClient:
    """One MQTT connection with Will, birth, resubscription and reconnection handled."""

    def __init__(self, broker: BrokerAddress, client_id: str, *,
                 will: Message | None = None,
                 birth: Callable[[], Sequence[Message]] | None = None,
                 subscriptions: Sequence[tuple[str, int]] = (),
                 on_message: Callable[[Received], None] | None = None,
                 on_published: Callable[[int], None] | None = None,
                 on_connection: Callable[[bool], None] | None = None) -> None:
        self._broker = broker
        self._will = will
        self._birth = birth
        self._subscriptions = list(subscriptions)
        self._on_message = on_message
        self._on_published = on_published
        self._on_connection = on_connection
        self._connected = threading.Event()
        self._awaiting_suback: set[int] = set()
        self._stopping = False
        self.refused: str | None = None
        self._unreachable_since: float | None = None  # monotonic time of the outage's first failure, logged once
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        if broker.username:
            self._client.username_pw_set(broker.username, broker.password)
        if broker.tls_ca:
            self._client.tls_set(ca_certs=str(broker.tls_ca),
                                 certfile=str(broker.tls_cert) if broker.tls_cert else None,
                                 keyfile=str(broker.tls_key) if broker.tls_key else None,
                                 tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if will:
            self._client.will_set(will.topic, will.payload, will.qos, will.retain)
        self._client.reconnect_delay_set(RETRY_MIN_S, RETRY_MAX_S)
        # paho's own queue is unbounded; callers bound what they hand it (the outbox keeps the rest).
        self._client.max_inflight_messages_set(1000)
        self._client.on_connect = self._handle_connect
        self._client.on_connect_fail = lambda _client, _userdata: self._unreachable()
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_message = self._handle_message
        self._client.on_publish = self._handle_publish
        self._client.on_subscribe = self._handle_subscribe

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background; returns at once, reconnects for ever until ``stop``."""
        self._client.connect_async(self._broker.host, self._broker.port, self._broker.keepalive, clean_start=True)
        self._client.loop_start()

    def stop(self, timeout: float = 3.0) -> None:
        """Publish the Will payload (a clean goodbye), disconnect and stop the network thread."""
        self._stopping = True
        if self._will and self._connected.is_set():
            info = self._client.publish(self._will.topic, self._will.payload, self._will.qos, self._will.retain)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                log.warning("goodbye state could not be published")
        self._client.disconnect()
        self._client.loop_stop()

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected and subscribed (or ``timeout``); returns whether it is."""
        return self._connected.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # -- traffic ---------------------------------------------------------------------------------------
    def publish(self, message: Message) -> int:
        """Queue a message; returns its message id. QoS 1 messages are kept and resent across reconnects."""
        info = self._client.publish(message.topic, message.payload, message.qos, message.retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            raise LinkError(f"publish failed: {paho.error_string(info.rc)}")
        return info.mid

    # -- paho callbacks (network thread) ---------------------------------------------------------------
    def _handle_connect(self, client: paho.Client, _userdata: object, _flags: object,
                        reason: paho.ReasonCode, _props: object) -> None:
        if reason.is_failure:
            if reason.value in _REFUSALS:
                if self.refused is None:
                    log.error("broker refused %s: %s; retrying every %d s", self._broker.username or "<anonymous>",
                              reason, RETRY_REFUSED_S)
                self.refused = str(reason)
                client.reconnect_delay_set(RETRY_REFUSED_S, RETRY_REFUSED_S)
            else:
                self._unreachable(reason)
            return
        self.refused = None
        client.reconnect_delay_set(RETRY_MIN_S, RETRY_MAX_S)
        self._awaiting_suback = set()
        for topic, qos in self._subscriptions:
            _rc, mid = client.subscribe(topic, qos)
            if mid is not None:
                self._awaiting_suback.add(mid)
        if self._birth:
            for msg in self._birth():
                client.publish(msg.topic, msg.payload, msg.qos, msg.retain)
        if not self._awaiting_suback:
            self._ready()

    def _handle_subscribe(self, _client: paho.Client, _userdata: object, mid: int, _reasons: object,
                          _props: object) -> None:
        if mid in self._awaiting_suback:
            self._awaiting_suback.discard(mid)
            if not self._awaiting_suback:
                self._ready()

    def _unreachable(self, detail: object = None) -> None:
        """A connection attempt failed: say so, with where we dial, once per outage (not once per retry)."""
        if self._unreachable_since is not None or self._stopping:
            return
        self._unreachable_since = time.monotonic()
        log.warning("cannot reach the broker at %s:%d as %s%s; retrying every %d..%d s until it answers",
                    self._broker.host, self._broker.port, self._broker.username or "<anonymous>",
                    f" ({detail})" if detail else "", RETRY_MIN_S, RETRY_MAX_S)

    def _ready(self) -> None:
        """Connected and subscribed: from here on nothing published to our filters passes us by."""
        self._connected.set()
        if self._unreachable_since is not None:
            log.warning("broker at %s:%d reachable again after %.0f s", self._broker.host, self._broker.port,
                        time.monotonic() - self._unreachable_since)
            self._unreachable_since = None
        log.info("connected to broker %s:%d", self._broker.host, self._broker.port)
        if self._on_connection:
            self._on_connection(True)

    def _handle_disconnect(self, _client: paho.Client, _userdata: object, _flags: object,
                           reason: paho.ReasonCode, _props: object) -> None:
        self._lost(reason)

    def _lost(self, reason: object) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was:
            log.log(logging.INFO if self._stopping else logging.WARNING, "disconnected from broker: %s", reason)
            if self._on_connection:
                self._on_connection(False)

    def _handle_message(self, _client: paho.Client, _userdata: object, msg: paho.MQTTMessage) -> None:
        if self._on_message:
            self._on_message(Received(msg.topic, msg.payload, msg.qos, bool(msg.retain), msg.mid))

    def _handle_publish(self, _client: paho.Client, _userdata: object, mid: int,
                        _reason: paho.ReasonCode, _props: object) -> None:
        if self._on_published:
            self._on_published(mid)
