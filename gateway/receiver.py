"""The gateway's MQTT connection: messages read in batches, acknowledged once they are durable.

It speaks MQTT 5 through the ``mqtt5`` sans-I/O codec (Rust; it only turns bytes into packets and back) and owns
its socket on one thread of its own, in the gateway's process (docs/decisions.md, "The receiver on the mqtt5
codec"). Two threads, no child process:

    mqtt thread     connect (TLS if configured), CONNECT with a persistent session and the Will, SUBSCRIBE,
                    read every message the socket holds, close a batch as soon as the ingest thread is free
                    for one (or at ``batch_max``, or ``batch_wait_s`` after its first message), hand it to the
                    ingest thread; write PUBACKs, our publishes, PINGREQs; reconnect with back-off
                    (``onestop.backoff``)
    ingest thread   ``on_batch(batch)`` validates a batch and returns it ``Prepared``; its write goes to the
                    store only when the batch before it is durable, so batches commit in order. While the
                    store commits batch N, the ingest thread validates batch N+1; once N is durable its
                    PUBACKs are sent, never before

So three things overlap: the mqtt thread reads, the ingest thread validates, the store's writer commits (SQLite
releases the GIL while it writes). At most ``receive_maximum`` messages are read and not yet acknowledged;
beyond that the socket is not read, and TCP holds the broker back.

Nothing is acknowledged before it is committed, wherever a crash happens. Acknowledgements belong to the
connection that delivered the messages: after a reconnect the broker sends unacknowledged messages again,
maybe under other packet ids, so a late acknowledgement for an older connection is dropped, not sent for the
wrong message. If ``on_batch`` raises (a bug, or a store that no retry helps), the receiver starts over: a
clean DISCONNECT (the session stays, the Will is not sent), a new connection, and the broker sends the batch
again. If the gateway process dies, the socket closes without a DISCONNECT and the broker publishes the Will.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import mqtt5

from onestop.backoff import Backoff
from onestop.errors import OnestopError
from onestop.mqtt import RETRY_MAX_S, RETRY_MIN_S, RETRY_REFUSED_S, BrokerAddress, Message, Received

log = logging.getLogger(__name__)

# "Never" in MQTT 5 terms; Mosquitto bounds such a session by its persistent_client_expiration (the shipped
# configuration, provisioning/mosquitto_files.py, says 14 days): what arrives while the gateway is away waits.
SESSION_EXPIRY_S = 0xFFFFFFFF
READ_CHUNK = 65536
CONNECT_TIMEOUT_S = 10.0
GOODBYE_TIMEOUT_S = 3.0
OUTBOX_MAX = 10_000  # our own publishes queued while the broker is away (occupancy, alerts, state)
_REFUSALS = {134, 135, 138}  # bad user name or password, not authorised, banned
_QOS = (mqtt5.QoS.AT_MOST_ONCE, mqtt5.QoS.AT_LEAST_ONCE, mqtt5.QoS.EXACTLY_ONCE)


_NOTHING = object()


class Prepared(Protocol):
    """A validated batch, not yet written: ``on_batch`` returns one (or ``None`` when it has already made the
    batch durable itself). ``submit`` hands its write to the store and returns at once; ``wait`` returns when
    it is durable (or raises, and nothing of it is acknowledged); ``after`` runs once it is acknowledged."""

    def submit(self) -> None: ...

    def wait(self) -> None: ...

    def after(self) -> None: ...


class BrokerProtocolError(OnestopError):
    """The broker sent what MQTT 5 does not allow, or refused what the receiver needs: the connection is
    dropped, said in the log, and made again."""


class _Restart(Exception):
    """``on_batch`` failed: drop this connection cleanly (the session stays) and make another."""


class Receiver:
    """The gateway's one MQTT connection (see the module's docstring)."""

    def __init__(self, broker: BrokerAddress, client_id: str, *, will: Message | None,
                 subscriptions: Sequence[tuple[str, int]], on_batch: Callable[[list[Received]], Prepared | None],
                 on_connection: Callable[[bool], None], batch_max: int, batch_wait_s: float,
                 receive_maximum: int) -> None:
        self._broker = broker
        self._client_id = client_id
        self._will = will
        self._subscriptions = list(subscriptions)
        self._on_batch = on_batch
        self._on_connection = on_connection
        self._batch_max = batch_max
        self._batch_wait_s = batch_wait_s
        self._receive_maximum = receive_maximum
        self._connected = threading.Event()
        self._stopping = False
        self._paused = False
        self.refused: str | None = None
        self.restarts = 0  # connections given up because a batch could not be handled
        self.generation = 0  # one per connection
        self.in_hand = 0  # messages read and not yet acknowledged (at most receive_maximum)
        self._unreachable_since: float | None = None
        # Between the threads: batches to ingest, acknowledgements back, our publishes out.
        self._batches: queue.SimpleQueue[tuple[int, list[Received]] | None] = queue.SimpleQueue()
        self._handed = self._done = 0  # batches handed to the ingest thread / finished by it
        self._wanting = False  # the ingest thread waits for a batch: hand over at once
        self._acks: collections.deque[tuple[int, list[int]]] = collections.deque()
        self._failed: int | None = None  # the generation whose batch could not be handled
        self._outbox: collections.deque[Message] = collections.deque()
        self._outbox_dropped = 0
        self._inflight: dict[int, Message] = {}  # our QoS 1 publishes awaiting PUBACK, by packet id
        self._next_id = 0
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._mqtt_thread: threading.Thread | None = None
        self._ingest_thread: threading.Thread | None = None
        self._ssl = self._ssl_context() if broker.tls_ca else None

    # -- the gateway's side ------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """Connected and subscribed: nothing published to our filters passes us by."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def start(self) -> None:
        """Connect in the background; returns at once, reconnects until ``stop``."""
        self._ingest_thread = threading.Thread(target=self._ingest_loop, name="ingest", daemon=True)
        self._ingest_thread.start()
        self._mqtt_thread = threading.Thread(target=self._run, name="mqtt", daemon=True)
        self._mqtt_thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop reading, let the ingest thread commit what was read, acknowledge it, publish the Will payload
        (a clean goodbye), disconnect."""
        self._paused = self._stopping = True
        self._wake()
        if self._mqtt_thread:
            self._mqtt_thread.join(timeout)
        self._batches.put(None)
        if self._ingest_thread:
            self._ingest_thread.join(timeout)
        self._wake_r.close()
        self._wake_w.close()

    def publish(self, message: Message) -> None:
        """Queue a message (from any thread). QoS 1 messages wait while the broker is away and are sent again
        after a reconnect until the broker acknowledges them; beyond ``OUTBOX_MAX`` waiting, the oldest go."""
        if len(self._outbox) >= OUTBOX_MAX:
            self._outbox.popleft()
            self._outbox_dropped += 1
            if self._outbox_dropped in (1, 1000) or self._outbox_dropped % 100_000 == 0:
                log.warning("the broker is away and %d messages of ours wait: dropped the oldest (%d so far)",
                            OUTBOX_MAX, self._outbox_dropped)
        self._outbox.append(message)
        self._wake()

    def _wake(self) -> None:
        if threading.current_thread() is self._mqtt_thread:
            return
        with contextlib.suppress(OSError):  # already awake, or closing
            self._wake_w.send(b"\0")

    # -- the ingest thread ---------------------------------------------------------------------------------
    def _ingest_loop(self) -> None:
        """Validate batch N+1 while the store commits batch N; acknowledge N once it is durable, and only then
        hand N+1 to the store, so that batches commit one after the other in the order they arrived."""
        held: tuple[int, list[Received], Prepared] | None = None  # handed to the store, not yet durable
        while True:
            self._wanting = True  # free: the mqtt thread hands over what it holds, not waiting for its timer
            self._wake()
            try:
                item = self._batches.get(timeout=None if held is None else self._batch_wait_s)
            except queue.Empty:
                item = _NOTHING  # nothing more came meanwhile: finish the held batch
            self._wanting = False
            prepared: Prepared | None = None
            if isinstance(item, tuple):
                generation, batch = item
                try:
                    if generation == self.generation and self._failed != generation:
                        prepared = self._on_batch(batch)  # validated; nothing written yet
                        if prepared is None:  # durable already (``on_batch`` stored it itself)
                            self._acks.append((generation, [m.mid for m in batch if m.qos]))
                except Exception:  # a bug, not bad input (that is quarantined): start over, nothing acknowledged
                    self._cannot(generation, batch)
                if prepared is None:
                    self._done += 1
            after = None
            if held is not None:  # wait for the batch before this one: durable, acknowledged, then its sequel
                held_generation, held_batch, held_prepared = held
                held = None
                try:
                    held_prepared.wait()
                    self._acks.append((held_generation, [m.mid for m in held_batch if m.qos]))
                    after = held_prepared.after
                except Exception:
                    self._cannot(held_generation, held_batch)
                self._done += 1
            if prepared is not None:
                generation, batch = item  # type: ignore[misc]
                try:
                    if self._failed == generation:
                        raise _Restart  # the batch before it failed: this one is not written either
                    prepared.submit()
                    held = (generation, batch, prepared)
                except _Restart:
                    self._done += 1
                except Exception:
                    self._cannot(generation, batch)
                    self._done += 1
            self._wake()
            if after is not None:
                try:
                    after()
                except Exception:  # durable and acknowledged; only what it would have published is lost
                    log.exception("publishing what a committed batch changed failed")
            if item is None:
                return

    def _cannot(self, generation: int, batch: list[Received]) -> None:
        log.exception("a batch of %d messages could not be handled; reconnecting so that the broker sends it "
                      "again", len(batch))
        self._failed = generation

    # -- the mqtt thread -----------------------------------------------------------------------------------
    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self._broker.tls_ca))
        if self._broker.tls_cert:
            context.load_cert_chain(str(self._broker.tls_cert),
                                    str(self._broker.tls_key) if self._broker.tls_key else None)
        return context

    def _run(self) -> None:
        backoff = Backoff(RETRY_MIN_S, RETRY_MAX_S)
        while not self._stopping:
            try:
                sock = self._dial()
            except OSError as exc:
                self._unreachable(exc)
            else:
                try:
                    if self._session(sock):
                        backoff.reset()
                except _Restart:
                    self.restarts += 1
                    backoff.reset()
                except (OSError, BrokerProtocolError) as exc:
                    if not self._stopping:
                        self._lost(exc)
                except Exception:  # a bug of ours: said with its traceback, counted, and the connection made anew
                    log.exception("the MQTT receiver failed; reconnecting")
                    self.restarts += 1
                finally:
                    self._down()
                    with contextlib.suppress(OSError):
                        sock.close()
            if self._stopping:
                break
            self._sleep(RETRY_REFUSED_S if self.refused else backoff.next_delay())

    def _dial(self) -> socket.socket:
        sock = socket.create_connection((self._broker.host, self._broker.port), timeout=CONNECT_TIMEOUT_S)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl:
                sock = self._ssl.wrap_socket(sock, server_hostname=self._broker.host)
            sock.setblocking(False)
        except (OSError, ssl.SSLError):
            sock.close()
            raise
        return sock

    def _sleep(self, seconds: float) -> None:
        """Wait before reconnecting; ``stop`` ends the wait at once."""
        deadline = time.monotonic() + seconds
        while not self._stopping and (left := deadline - time.monotonic()) > 0:
            select.select([self._wake_r], [], [], left)
            self._drain_wake()

    def _drain_wake(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_r.recv(4096):
                pass

    def _connect_packet(self) -> bytes:
        will = None
        if self._will:
            will = mqtt5.Will(self._will.topic, payload=self._will.payload, qos=_QOS[self._will.qos],
                              retain=self._will.retain)
        return mqtt5.ConnectPacket(
            self._client_id, username=self._broker.username or None,
            password=self._broker.password.encode() if self._broker.password else None,
            clean_start=False, session_expiry_interval=SESSION_EXPIRY_S, will=will,
            keep_alive=self._broker.keepalive, receive_max=self._receive_maximum).write()

    def _session(self, sock: socket.socket) -> bool:
        """Run one connection until it is lost, a batch fails (``_Restart``) or we have said goodbye; returns
        whether the broker accepted it."""
        conn = _Connection(sock, self._broker.keepalive)
        self.generation += 1
        self._failed = None
        self._acks.clear()
        generation = self.generation
        pending: list[Received] = []
        first_at = 0.0
        unacked = 0  # handed to the ingest thread and not yet acknowledged
        accepted = subscribed = False
        broker_receive_max = 65535
        conn.write(self._connect_packet())
        while True:
            now = time.monotonic()
            if self._failed == generation:
                conn.write(mqtt5.DisconnectPacket().write())
                conn.flush_blocking()
                raise _Restart
            if self._stopping and not accepted:
                return False
            all_done = self._done == self._handed  # before taking the acknowledgements: none is left behind
            # Acknowledgements for this connection's batches, once committed.
            while self._acks:
                acked_generation, mids = self._acks.popleft()
                if acked_generation == generation:
                    conn.write(b"".join(mqtt5.PubAckPacket(mid).write() for mid in mids))
                    unacked -= len(mids)
            if self._stopping and not pending and all_done:
                self._goodbye(conn)
                return True
            # Our publishes, within the broker's receive maximum.
            if subscribed:
                while self._outbox and len(self._inflight) < broker_receive_max:
                    message = self._outbox.popleft()
                    packet_id = self._packet_id() if message.qos else None
                    if packet_id is not None:
                        self._inflight[packet_id] = message
                    conn.write(_publish(message, packet_id))
            conn.keep_alive(now, reading=not self._paused and unacked + len(pending) < self._receive_maximum)
            reading = (not self._paused or not accepted) and unacked + len(pending) < self._receive_maximum
            timeout = 1.0
            if pending:
                timeout = max(0.0, first_at + self._batch_wait_s - now)
            ready = conn.wait(self._wake_r, reading, timeout)
            if ready.wake:
                self._drain_wake()
            if ready.read:
                had = bool(pending)
                for packet in conn.read():
                    if isinstance(packet, mqtt5.PublishPacket):
                        if not self._paused:
                            pending.append(Received(packet.topic, packet.payload, int(packet.qos),
                                                    packet.retain, packet.packet_id or 0))
                        # else: stopping; not acknowledged, so the broker sends it again next time
                    elif isinstance(packet, mqtt5.PubAckPacket):
                        self._inflight.pop(packet.packet_id, None)
                    elif isinstance(packet, mqtt5.ConnAckPacket):
                        broker_receive_max = packet.receive_max
                        if packet.server_keep_alive is not None:
                            conn.keepalive = packet.server_keep_alive
                        self._connack(conn, packet)
                        accepted = True
                    elif isinstance(packet, mqtt5.SubAckPacket):
                        self._suback(packet)
                        subscribed = True
                        self._up()
                        for packet_id, message in self._inflight.items():  # unacknowledged before the reconnect
                            conn.write(_publish(message, packet_id, duplicate=True))
                    elif isinstance(packet, mqtt5.DisconnectPacket):
                        raise BrokerProtocolError(f"the broker disconnected us: {packet.reason_code.name}"
                                                  + (f" ({packet.reason_str})" if packet.reason_str else ""))
                    elif not isinstance(packet, mqtt5.PingRespPacket):
                        raise BrokerProtocolError(f"unexpected {type(packet).__name__} from the broker")
                if pending and not had:
                    first_at = time.monotonic()
            while pending and (self._paused or len(pending) >= self._batch_max or self._wanting
                               or time.monotonic() >= first_at + self._batch_wait_s):
                batch, pending = pending[:self._batch_max], pending[self._batch_max:]
                unacked += sum(1 for m in batch if m.qos)
                self._handed += 1
                self._wanting = False  # one batch per request: the rest waits for it to be free again
                self._batches.put((generation, batch))
                first_at = time.monotonic()
            self.in_hand = unacked + len(pending)
            conn.flush()

    def _connack(self, conn: _Connection, connack: mqtt5.ConnAckPacket) -> None:
        code = int(connack.reason_code)
        if code:
            if code in _REFUSALS:
                if self.refused is None:
                    log.error("broker refused %s: %s; retrying every %d s", self._broker.username or "<anonymous>",
                              connack.reason_code.name, RETRY_REFUSED_S)
                self.refused = connack.reason_code.name
                raise BrokerProtocolError(f"refused: {connack.reason_code.name}")
            raise BrokerProtocolError(f"the broker did not accept the connection: {connack.reason_code.name}")
        self.refused = None
        if self.generation > 1 and not connack.session_present:
            # Our queue at the broker is gone (it expired, or the broker lost its persistence): whatever was
            # published while we were away and not yet delivered is lost. Say so; nothing else can be done.
            log.warning("the broker had no session for %s: events published while the gateway was away may be "
                        "lost", self._client_id)
        # retain_as_published off (the codec's default is on): a live message arrives with retain 0 even if
        # its sender set it, so only the broker's stored copy, replayed on subscribing, has retain 1 (as in MQTT
        # 3.1.1), which is what ingest quarantines as "retained".
        conn.write(mqtt5.SubscribePacket(1, [mqtt5.TopicFilter(topic, max_qos=_QOS[qos], retain_as_published=False)
                                             for topic, qos in self._subscriptions]).write())

    def _suback(self, suback: mqtt5.SubAckPacket) -> None:
        refused = [topic for (topic, _), code in zip(self._subscriptions, suback.reason_codes, strict=False)
                   if int(code) >= 0x80]
        if refused:
            raise BrokerProtocolError(f"the broker refused the subscription to {', '.join(refused)} (ACL?)")

    def _packet_id(self) -> int:
        while True:
            self._next_id = self._next_id % 65535 + 1
            if self._next_id not in self._inflight:
                return self._next_id

    def _goodbye(self, conn: _Connection) -> None:
        """Publish the Will payload ourselves (the broker sends the Will only on an unclean loss), wait for
        its acknowledgement, then a DISCONNECT that keeps the session and withholds the Will."""
        if self._will:
            packet_id = self._packet_id()
            conn.write(_publish(self._will, packet_id))
            deadline = time.monotonic() + GOODBYE_TIMEOUT_S
            acked = not self._will.qos
            while not acked and (left := deadline - time.monotonic()) > 0:
                conn.flush()
                ready = conn.wait(self._wake_r, True, left)
                if ready.wake:
                    self._drain_wake()
                if ready.read:
                    acked = any(isinstance(p, mqtt5.PubAckPacket) and p.packet_id == packet_id for p in conn.read())
            if not acked:
                log.warning("goodbye state could not be published")
        conn.write(mqtt5.DisconnectPacket().write())
        conn.flush_blocking()

    def _up(self) -> None:
        self._connected.set()
        if self._unreachable_since is not None:
            log.warning("broker at %s:%d reachable again after %.0f s", self._broker.host, self._broker.port,
                        time.monotonic() - self._unreachable_since)
            self._unreachable_since = None
        log.info("connected to broker %s:%d", self._broker.host, self._broker.port)
        self._on_connection(True)

    def _down(self) -> None:
        if self._connected.is_set():
            self._connected.clear()
            self._on_connection(False)

    def _lost(self, reason: object) -> None:
        if self._connected.is_set():
            log.warning("disconnected from broker: %s", reason)
        elif not self.refused:
            self._unreachable(reason)

    def _unreachable(self, detail: object) -> None:
        """A connection attempt failed: say so, with where we dial, once per outage (not once per retry)."""
        if self._unreachable_since is not None or self._stopping:
            return
        self._unreachable_since = time.monotonic()
        log.warning("cannot reach the broker at %s:%d as %s (%s); retrying every %d..%d s until it answers",
                    self._broker.host, self._broker.port, self._broker.username or "<anonymous>", detail,
                    RETRY_MIN_S, RETRY_MAX_S)


def _publish(message: Message, packet_id: int | None, *, duplicate: bool = False) -> bytes:
    return mqtt5.PublishPacket(message.topic, message.payload, qos=_QOS[1 if packet_id else 0],
                               retain=message.retain, packet_id=packet_id, duplicate=duplicate).write()


class _Ready:
    __slots__ = ("read", "wake")

    def __init__(self, read: bool, wake: bool) -> None:
        self.read, self.wake = read, wake


class _Connection:
    """One non-blocking socket (plain or TLS) with the codec on top: bytes in, packets out; writes gathered
    and sent in one go per turn of the loop. Keeps the keep-alive: a PINGREQ when we have been quiet for
    ``keepalive`` seconds, and the connection counts as lost when the broker has been silent for one and a
    half times that (MQTT 5, 3.1.2.10)."""

    def __init__(self, sock: socket.socket, keepalive: int) -> None:
        self.sock = sock
        self.keepalive = keepalive
        self._in = bytearray()
        self._out = bytearray()
        self._last_in = self._last_out = time.monotonic()

    def write(self, data: bytes) -> None:
        self._out += data

    def flush(self) -> None:
        """Send what the socket takes now; the rest goes when it is writable."""
        try:
            while self._out:
                sent = self.sock.send(self._out)
                del self._out[:sent]
                self._last_out = time.monotonic()
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            pass

    def flush_blocking(self, timeout: float = GOODBYE_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        with contextlib.suppress(OSError):
            self.flush()
            while self._out and (left := deadline - time.monotonic()) > 0:
                select.select([], [self.sock], [], left)
                self.flush()

    def keep_alive(self, now: float, *, reading: bool) -> None:
        if not self.keepalive:
            return
        if not reading:  # we hold the broker back ourselves (a batch is being committed): its silence is ours
            self._last_in = now
        elif now - self._last_in > 1.5 * self.keepalive:
            raise BrokerProtocolError(f"no word from the broker for {now - self._last_in:.0f} s")
        if now - self._last_out >= self.keepalive:
            self.write(mqtt5.PingReqPacket().write())
            self._last_out = now

    def wait(self, wake: socket.socket, reading: bool, timeout: float) -> _Ready:
        pending = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0
        if reading and pending:
            timeout = 0.0
        if self.keepalive:
            timeout = min(timeout, self.keepalive / 2)
        readers = [self.sock, wake] if reading else [wake]
        readable, _, _ = select.select(readers, [self.sock] if self._out else [], [], timeout)
        return _Ready(reading and (self.sock in readable or pending), wake in readable)

    def read(self) -> list[mqtt5.Packet]:
        """Every whole packet the socket holds now (``OSError`` when the broker has closed it)."""
        try:
            data = self.sock.recv(READ_CHUNK)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return []
        if not data:
            raise ConnectionError("the broker closed the connection")
        self._last_in = time.monotonic()
        self._in += data
        packets = []
        view = memoryview(self._in)
        pos = 0
        try:
            while pos < len(view):
                try:
                    packet, size = mqtt5.read(view[pos:])
                except IndexError:  # not a whole packet yet
                    break
                except Exception as exc:  # the codec's word on bytes that are not MQTT 5 (ValueError, so far)
                    raise BrokerProtocolError(f"malformed packet from the broker: {exc}") from None
                packets.append(packet)
                pos += size
        finally:
            view.release()
        del self._in[:pos]
        return packets
