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
needs to be queued for them at the broker. The gateway's receiving connection (``BatchReceiver``) speaks MQTT
3.1.1 with a persistent session; see its docstring for why.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
        self._client = self._new_paho(client_id)
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

    @staticmethod
    def _new_paho(client_id: str) -> paho.Client:
        return paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)

    def _connect_async(self) -> None:
        self._client.connect_async(self._broker.host, self._broker.port, self._broker.keepalive, clean_start=True)

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background; returns at once, reconnects for ever until ``stop``."""
        self._connect_async()
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


class _GatheringSocket:
    """A socket that reads in large chunks and gathers writes until ``flush``.

    paho reads each packet's fixed header a byte at a time and writes each packet with its own ``send``: a
    system call per byte of header and per acknowledgement, which for a busy subscriber costs more than the
    rest of its work, on both ends of the connection. Everything else is the wrapped socket's.
    """

    CHUNK = 65536

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._in = memoryview(b"")
        self._out = bytearray()

    def recv(self, size: int) -> bytes:
        if not self._in:
            data = self._sock.recv(self.CHUNK)  # BlockingIOError when nothing is waiting, b"" at the end
            if not data:
                return data
            self._in = memoryview(data)
        chunk = bytes(self._in[:size])
        self._in = self._in[size:]
        return chunk

    def pending(self) -> int:
        """Bytes read from the network and not yet taken by paho (``select`` cannot see them)."""
        return len(self._in) + (self._sock.pending() if hasattr(self._sock, "pending") else 0)

    def send(self, data: bytes | bytearray) -> int:
        self._out += data
        return len(data)

    @property
    def unsent(self) -> int:
        return len(self._out)

    def flush(self) -> None:
        """Send what has been gathered, as far as the socket takes it now (``OSError`` if it is broken)."""
        try:
            while self._out:
                del self._out[:self._sock.send(self._out)]
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            pass  # the rest goes when the socket is writable

    def close(self) -> None:
        """paho closes the socket right after writing a DISCONNECT: send what is gathered first."""
        with contextlib.suppress(OSError):
            self.flush()
        self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _GatheringPaho(paho.Client):
    # The one paho internal we lean on (paho is pinned below 3, and every gateway test runs through it).
    def _create_socket(self) -> Any:
        return _GatheringSocket(super()._create_socket())


class BatchReceiver(MqttClient):
    """A receiving connection that reads messages in batches on one thread of its own.

    paho's threaded loop reads one packet per ``select()``; here a single thread owns the connection through
    paho's public external-loop API (``loop_read``, ``loop_write``, ``loop_misc``): it reads every message the
    socket holds, up to ``batch_max`` or until ``batch_wait_s`` after the first one, and passes the batch to
    ``on_batch`` with the connection's generation. Whoever makes the messages durable then calls
    ``acknowledge`` (from any thread). At most ``max_unacked`` messages are handed over and not yet
    acknowledged; beyond that the socket is not read, so TCP holds the broker back.

    Acknowledgements are tied to the connection that delivered the messages: after a reconnect the broker
    sends unacknowledged messages again with possibly different packet ids, so late acknowledgements for an
    older generation are dropped rather than sent for the wrong message.

    The session is persistent (what arrives while we are away is queued for us) and the protocol is MQTT 3.1.1:
    paho decodes the properties of every MQTT 5 message in Python, about half of this connection's CPU at a
    high rate, and the two MQTT 5 features a receiver would want are had otherwise. The session lasts as long
    as the broker's ``persistent_client_expiration`` (the shipped configuration says 14 days) instead of a
    session expiry, and the bound on messages in hand is ``max_unacked`` instead of a receive maximum (which
    Mosquitto 2.0 was measured not to keep to).
    """

    def __init__(self, broker: BrokerAddress, client_id: str, *,
                 on_batch: Callable[[int, list[Received]], None], batch_max: int, batch_wait_s: float,
                 max_unacked: int, **options: object) -> None:
        self._pending: list[Received] = []
        super().__init__(broker, client_id, on_message=self._pending.append, **options)  # type: ignore[arg-type]
        self._on_batch = on_batch
        self._batch_max = batch_max
        self._batch_wait_s = batch_wait_s
        self._max_unacked = max_unacked
        self._unacked = 0
        self.generation = 0
        self._acks: collections.deque[tuple[int, list[int]]] = collections.deque()
        self._paused = False
        self._handed_over = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread: threading.Thread | None = None
        # With an external loop paho writes queued packets itself unless told someone else will: this keeps
        # publishes from other threads from writing to the socket concurrently with ours (``publish`` wakes us).
        self._client.on_socket_register_write = lambda *_: None

    @staticmethod
    def _new_paho(client_id: str) -> paho.Client:
        return _GatheringPaho(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311,
                              clean_session=False, manual_ack=True)

    def _connect_async(self) -> None:
        self._client.connect_async(self._broker.host, self._broker.port, self._broker.keepalive)

    def start(self) -> None:
        self._connect_async()
        self._thread = threading.Thread(target=self._run, name="mqtt-receiver", daemon=True)
        self._thread.start()

    def pause(self, timeout: float = 5.0) -> None:
        """Stop reading; returns once what was read has been handed over. Acknowledgements still flow."""
        self._paused = True
        self._wake()
        self._handed_over.wait(timeout)

    def stop(self, timeout: float = 3.0) -> None:
        """Send the acknowledgements given so far, publish the Will payload, disconnect."""
        self._paused = self._stopping = True
        self._wake()
        if self._thread:
            self._thread.join(timeout + 10)
        self._wake_r.close()
        self._wake_w.close()

    def publish(self, message: Message) -> int:
        mid = super().publish(message)
        self._wake()
        return mid

    def acknowledge(self, generation: int, mids: list[int]) -> None:
        """Acknowledge messages of one batch (from any thread) once they are durable."""
        self._acks.append((generation, mids))
        self._wake()

    def _wake(self) -> None:
        if threading.current_thread() is self._thread:
            return
        with contextlib.suppress(OSError):  # already awake, or closing
            self._wake_w.send(b"\0")

    # -- the connection's own thread ---------------------------------------------------------------------
    def _run(self) -> None:
        delay = RETRY_MIN_S
        while not self._stopping:
            try:
                self._client.reconnect()
            except OSError as exc:
                self._unreachable(exc)
            else:
                if self._serve():
                    delay = RETRY_MIN_S
            if self._stopping:
                break
            self._pause(RETRY_REFUSED_S if self.refused else delay)
            delay = min(2 * delay, RETRY_MAX_S)
        self._goodbye()

    def _pause(self, seconds: float) -> None:
        """Wait before reconnecting (nothing is in hand meanwhile, so a ``pause`` returns at once)."""
        deadline = time.monotonic() + seconds
        while not self._stopping and (left := deadline - time.monotonic()) > 0:
            if self._paused:
                self._handed_over.set()
            select.select([self._wake_r], [], [], left)
            self._drain_wake()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass

    def _serve(self) -> bool:
        """Run one connection until it is lost or we are stopping; returns whether the broker accepted it."""
        client = self._client
        sock = client.socket()
        if not isinstance(sock, _GatheringSocket):
            return False
        self.generation += 1
        self._unacked = 0
        self._acks.clear()
        accepted = False
        first_at = misc_at = time.monotonic()
        try:
            while not self._stopping:
                now = time.monotonic()
                reading = not self._paused and self._unacked + len(self._pending) < self._max_unacked
                timeout = max(0.0, first_at + self._batch_wait_s - now) if self._pending else 1.0
                if reading and sock.pending():
                    timeout = 0.0
                readable, _, _ = select.select([sock, self._wake_r] if reading else [self._wake_r],
                                               [sock] if sock.unsent else [], [], timeout)
                if self._wake_r in readable:
                    self._drain_wake()
                if reading and (sock in readable or sock.pending()):
                    had = bool(self._pending)
                    if self._read() != paho.MQTT_ERR_SUCCESS:
                        break
                    accepted = accepted or self._connected.is_set()
                    if self._pending and not had:
                        first_at = time.monotonic()
                now = time.monotonic()
                if self._pending and (self._paused or len(self._pending) >= self._batch_max
                                      or now >= first_at + self._batch_wait_s):
                    self._hand_over()
                if self._paused:
                    self._handed_over.set()
                self._send_acks()
                if now - misc_at >= 1.0:
                    misc_at = now
                    if client.loop_misc() != paho.MQTT_ERR_SUCCESS:
                        break
                if client.want_write() and client.loop_write() != paho.MQTT_ERR_SUCCESS:
                    break
                sock.flush()
        except OSError as exc:  # only a write to a broken connection gets here; paho handles reads
            log.warning("connection to the broker broke: %s", exc)
        self._pending.clear()  # not acknowledged: the broker sends them again on the next connection
        if not self._stopping:  # paho reports what it notices itself; this covers a failed write of ours
            self._lost("connection broken")
        return accepted

    def _read(self) -> paho.MQTTErrorCode:
        """Read packets until the socket has no complete message left or the batch is full."""
        while len(self._pending) < self._batch_max:
            before = len(self._pending)
            rc = self._client.loop_read()
            if rc != paho.MQTT_ERR_SUCCESS:
                return rc
            if len(self._pending) == before:
                break
        return paho.MQTT_ERR_SUCCESS

    def _hand_over(self) -> None:
        batch = list(self._pending)
        self._pending.clear()
        self._unacked += sum(1 for msg in batch if msg.qos)
        self._on_batch(self.generation, batch)

    def _send_acks(self) -> None:
        while self._acks:
            generation, mids = self._acks.popleft()
            if generation != self.generation:
                continue  # from a connection that is gone: the broker will send those messages again
            for mid in mids:
                self._client.ack(mid, 1)
            self._unacked -= len(mids)

    def _goodbye(self) -> None:
        """On stop: send the acknowledgements given, publish the Will payload, disconnect."""
        client = self._client
        if client.socket() is None:
            return
        self._send_acks()
        if self._will and self._connected.is_set():
            info = client.publish(self._will.topic, self._will.payload, self._will.qos, self._will.retain)
            deadline = time.monotonic() + 3.0
            while not info.is_published() and time.monotonic() < deadline and client.socket() is not None:
                client.loop_write()
                self._flush()
                if client.loop_read() != paho.MQTT_ERR_SUCCESS:
                    break
                time.sleep(0.005)
        client.disconnect()
        client.loop_write()
        self._flush()

    def _flush(self) -> None:
        sock = self._client.socket()
        if isinstance(sock, _GatheringSocket):
            with contextlib.suppress(OSError):
                sock.flush()
