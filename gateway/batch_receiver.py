"""The gateway's receiving MQTT connection: messages read in batches, acknowledged once they are durable.

It runs in the receiver process (``gateway.receiver``) on paho-mqtt, through paho's public external-loop API
plus one internal, ``_create_socket``, overridden to wrap the socket in ``_GatheringSocket``. It also relies
on ``on_socket_register_write`` keeping paho from writing queued packets inline, and on ``loop_read``
returning after about one packet. paho is pinned to the exact version these were proven on, and
``gateway.paho_check`` proves them again at every start (docs/decisions.md, "paho behind a hard pin").
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
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt import __version__ as paho_version
from paho.mqtt.enums import CallbackAPIVersion

from onestop.errors import OnestopError
from onestop.mqtt import RETRY_MAX_S, RETRY_MIN_S, RETRY_REFUSED_S, BrokerAddress, Message, MqttClient, Received

log = logging.getLogger(__name__)


class PahoUnsupportedError(OnestopError):
    """The installed paho-mqtt does not behave as the receiver needs: never retried, the gateway refuses to run."""


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


class GatheringPaho(paho.Client):
    # The one paho internal we lean on: paho is pinned to one version, and ``gateway.paho_check`` proves at
    # start-up that this hook and the rest of what we rely on still behave.
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
                 max_unacked: int, on_unsupported: Callable[[str], None] | None = None,
                 **options: object) -> None:
        self._pending: list[Received] = []
        self._on_unsupported = on_unsupported
        self.unsupported: str | None = None  # why paho cannot serve us, once found: the receiver has given up
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
        return GatheringPaho(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311,
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
        try:
            self._connect_for_ever()
        except PahoUnsupportedError as exc:  # retrying cannot help: give up loudly instead of looping quietly
            self.unsupported = str(exc)
            log.critical("the MQTT receiver cannot run: %s", exc)
            if self._on_unsupported:
                self._on_unsupported(str(exc))

    def _connect_for_ever(self) -> None:
        """Connect, serve, and reconnect with back-off until ``stop``."""
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
        if not isinstance(sock, _GatheringSocket):  # paho changed under us: never retry, say so (paho_check)
            raise PahoUnsupportedError(f"paho-mqtt {paho_version} did not create its socket through "
                                       "_create_socket")
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
