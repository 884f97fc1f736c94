"""The gateway's MQTT connection, in a process of its own.

paho decodes every packet in Python. In the gateway's process that work and ingest (validation, the SQLite
transaction, occupancy and alerts) would take turns on one core under the GIL; in a child process the two run
side by side on two, and the child reads the next batch while the gateway commits the last. The child holds
the only MQTT connection the gateway has (``gateway.batch_receiver``); the two talk over a
``multiprocessing`` pipe (a ``multiprocessing.connection.Connection`` at each end):

    gateway → child   ("ack", generation, [mid, …])        after the batch is committed
                      ("publish", topic, payload, qos, retain)
                      ("stop",)                             stop reading, hand over what was read
    child → gateway   ("batch", generation, [(topic, payload, qos, retain, mid), …])
                      ("connected", bool)
                      ("stopped",)                          nothing more will come
                      ("unsupported", reason)               paho fails the self-check: the gateway exits

Both ends are this module, started by the gateway itself (the pipe pickles; neither end reads anyone else's).
The child is a fresh ``python -m gateway.receiver`` rather than a ``multiprocessing.Process``: a spawned
``Process`` re-imports the parent's ``__main__``, here the whole command line, into a process meant to be lean.

Before anything connects, the gateway (and the child again) runs ``gateway.paho_check``: a paho that no
longer behaves as the receiver relies on stops the gateway with a clear error instead of a reconnect loop.

Nothing is acknowledged before the gateway has committed it, wherever a crash happens: if the child dies the
gateway starts another, whose connection takes over the persistent session, and the broker sends every
unacknowledged message again (late acknowledgements for the old connection are dropped by generation). If
the gateway dies the child sees the socket close and exits at once without a clean disconnect, so the broker
publishes the gateway's Will.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from gateway import paho_check
from gateway.batch_receiver import BatchReceiver, PahoUnsupportedError
from onestop.mqtt import BrokerAddress, Message, Received

log = logging.getLogger(__name__)

RESTART_DELAY_S = 1.0
UNSUPPORTED_EXIT = 1  # as for any of our errors at start-up (onestop/reporting.py)


def _receive(conn: Connection) -> Any:
    """The next frame, or ``None`` when the other end has gone (closed, or reset when it died)."""
    try:
        return conn.recv()
    except (EOFError, OSError):
        return None


class ReceiverProcess:
    """The gateway's side: starts the child, hands its batches to ``on_batch``, sends acknowledgements.

    ``on_batch`` runs on one thread of ours, a batch at a time; it calls ``ack`` for each message once the
    batch is durable, and the acknowledgements go to the child when it returns. ``on_connection`` hears of
    every (re)connection, so the gateway can publish its birth messages.
    """

    def __init__(self, broker: BrokerAddress, client_id: str, *, will: Message | None,
                 subscriptions: Sequence[tuple[str, int]], on_batch: Callable[[list[Received]], None],
                 on_connection: Callable[[bool], None], batch_max: int, batch_wait_s: float,
                 receive_maximum: int) -> None:
        self._config = {
            "broker": broker,
            "client_id": client_id, "will": will, "subscriptions": list(subscriptions),
            "batch_max": batch_max, "batch_wait_s": batch_wait_s, "receive_maximum": receive_maximum,
            "log_level": logging.getLogger().getEffectiveLevel(),
        }
        self._on_batch = on_batch
        self._on_connection = on_connection
        self._acks: list[int] = []
        self._send_lock = threading.Lock()
        self._conn: Connection | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._connected = threading.Event()
        self.restarts = 0

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        """Check paho (``PahoUnsupportedError`` if it would not work), start the child and the thread serving it."""
        paho_check.check()
        self._spawn()
        self._thread = threading.Thread(target=self._serve, name="ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Let the child hand over what it has read, commit and acknowledge it, then let the child go."""
        self._stopping = True
        self._send(("stop",))
        if self._thread:
            self._thread.join(timeout)
        self._end_child(timeout)

    def publish(self, message: Message) -> None:
        """Publish through the child (QoS 1 messages are queued there while the broker is away)."""
        self._send(("publish", message.topic, message.payload, message.qos, message.retain))

    def ack(self, mid: int, qos: int) -> None:
        """From ``on_batch`` only: this message is durable."""
        if qos:
            self._acks.append(mid)

    # -- internals ---------------------------------------------------------------------------------------
    def _spawn(self) -> None:
        ours, theirs = multiprocessing.Pipe()
        self._child = subprocess.Popen([sys.executable, "-m", "gateway.receiver", str(theirs.fileno())],
                                       pass_fds=[theirs.fileno()])
        theirs.close()
        self._conn = ours
        self._send(("config", self._config))

    def _send(self, obj: object) -> None:
        with self._send_lock:
            if self._conn is None:
                return
            with contextlib.suppress(OSError):  # the child is gone; _serve notices and starts another
                self._conn.send(obj)

    def _serve(self) -> None:
        while True:
            conn = self._conn
            assert conn is not None
            finished = self._serve_child(conn)
            self._connected.clear()
            self._on_connection(False)
            if finished or self._stopping:
                return
            log.error("the MQTT receiver process ended unexpectedly (exit %s); starting another",
                      self._end_child(1.0))
            time.sleep(RESTART_DELAY_S)
            if self._stopping:
                return
            self.restarts += 1
            self._spawn()

    def _serve_child(self, conn: Connection) -> bool:
        """Serve one child until it says it has stopped (True) or disappears (False)."""
        while (frame := _receive(conn)) is not None:
            kind = frame[0]
            if kind == "batch":
                _, generation, rows = frame
                self._acks = []
                try:
                    self._on_batch([Received(*row) for row in rows])
                except Exception:  # a bug, not bad input (that is quarantined): start over, nothing acknowledged
                    log.exception("a batch of %d messages could not be handled", len(rows))
                    return False
                self._send(("ack", generation, self._acks))
            elif kind == "connected":
                if frame[1]:
                    self._connected.set()
                else:
                    self._connected.clear()
                self._on_connection(frame[1])
            elif kind == "stopped":
                return True
            elif kind == "unsupported":
                # Only a paho that changed since start-up gets here (the same check passed then). Starting
                # another child would fail the same way for ever: stop the gateway, loudly.
                log.critical("the MQTT receiver cannot run: %s; the gateway stops", frame[1])
                logging.shutdown()
                os._exit(UNSUPPORTED_EXIT)
        return False

    def _end_child(self, timeout: float) -> int | None:
        with self._send_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        if self._child is None:
            return None
        try:
            return self._child.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("the MQTT receiver process did not stop in time; killing it")
            self._child.kill()
            return self._child.wait()


# -- the child ---------------------------------------------------------------------------------------------
def _child(fd: int) -> None:
    conn = Connection(fd)
    # Frames leave from a thread of their own, so that the MQTT thread keeps reading while the gateway is busy
    # committing and the pipe is full. The queue is bounded by the receive maximum.
    outbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()

    def send_all() -> None:
        while True:
            frame = outbox.get()
            try:
                conn.send(frame)
            except OSError:
                return  # the gateway is gone; the main thread sees it too
            if frame[0] == "unsupported":
                os._exit(UNSUPPORTED_EXIT)  # said; the gateway stops on it

    threading.Thread(target=send_all, name="to-gateway", daemon=True).start()
    send = outbox.put

    _, config = _receive(conn)
    logging.basicConfig(level=config["log_level"], format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        paho_check.check()
    except PahoUnsupportedError as exc:
        send(("unsupported", str(exc)))
        time.sleep(10)  # send_all ends the process once it has said it
        os._exit(UNSUPPORTED_EXIT)
    receiver = BatchReceiver(
        config["broker"], config["client_id"], will=config["will"],
        subscriptions=config["subscriptions"],
        on_batch=lambda generation, batch: send(("batch", generation, [
            (m.topic, m.payload, m.qos, m.retain, m.mid) for m in batch])),
        on_connection=lambda up: send(("connected", up)),
        batch_max=config["batch_max"], batch_wait_s=config["batch_wait_s"],
        max_unacked=config["receive_maximum"], on_unsupported=lambda reason: send(("unsupported", reason)))
    receiver.start()
    stopping = False
    while (frame := _receive(conn)) is not None:
        kind = frame[0]
        if kind == "ack":
            receiver.acknowledge(frame[1], frame[2])
        elif kind == "publish":
            receiver.publish(Message(*frame[1:]))
        elif kind == "stop":
            stopping = True
            receiver.pause()
            send(("stopped",))
    if not stopping:
        # The gateway is gone: leave without a clean disconnect so that the broker publishes our Will.
        os._exit(1)
    receiver.stop()


if __name__ == "__main__":
    # The gateway stops us (a Ctrl-C or a service manager's SIGTERM may reach the whole process group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _child(int(sys.argv[1]))
