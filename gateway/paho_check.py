"""Proves at start-up that the installed paho-mqtt still behaves as the gateway's receiver relies on.

``gateway.batch_receiver`` leans on paho beyond its documented API: it overrides the private
``_create_socket``, counts on ``on_socket_register_write`` keeping paho from writing queued packets inline,
and on ``loop_read`` reading about one packet per call from the socket it was given. If a paho release changed
any of these, the receiver would not crash: it would drop each connection and reconnect for ever, quietly.
So paho is pinned to one exact version (pyproject.toml), and before the gateway connects anywhere this
module plays one connection through the real client class against a listening socket of its own (no broker):
CONNECT out, CONNACK and two QoS 1 PUBLISHes in, both PUBACKs out in one write. Any difference raises
``PahoUnsupportedError`` naming what changed, and ``onestop gateway run`` exits with it (status 1).
"""

from __future__ import annotations

import logging
import select
import socket
import struct

import paho.mqtt.client as paho
from paho.mqtt import __version__ as paho_version
from paho.mqtt.enums import CallbackAPIVersion

from gateway.batch_receiver import GatheringPaho, PahoUnsupportedError, _GatheringSocket

log = logging.getLogger(__name__)

PAHO_TESTED = "2.2.0"  # the version pyproject.toml pins; another one is checked all the same, and named
_TIMEOUT_S = 5.0
_CONNACK = b"\x20\x02\x00\x00"


def _publish(topic: str, payload: bytes, mid: int) -> bytes:
    """An MQTT 3.1.1 QoS 1 PUBLISH packet (fixed header 0x32)."""
    body = struct.pack("!H", len(topic)) + topic.encode() + struct.pack("!H", mid) + payload
    return bytes([0x32, len(body)]) + body


def _received(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _nothing_written(conn: socket.socket) -> bool:
    conn.setblocking(False)
    try:
        return not conn.recv(1)
    except BlockingIOError:
        return True
    finally:
        conn.settimeout(_TIMEOUT_S)


def check(client_class: type[paho.Client] = GatheringPaho) -> None:
    """Raise ``PahoUnsupportedError`` unless ``client_class`` on the installed paho behaves as the receiver needs."""
    try:
        _check(client_class)
    except PahoUnsupportedError:
        raise
    except Exception as exc:  # any surprise inside paho is the answer to this check, not a crash of ours
        raise PahoUnsupportedError(f"paho-mqtt {paho_version} failed the receiver's self-check: "
                                   f"{type(exc).__name__}: {exc}") from exc
    if paho_version != PAHO_TESTED:
        log.warning("paho-mqtt %s is installed; the receiver was built on %s (its self-check passed)",
                    paho_version, PAHO_TESTED)


def _fail(what: str) -> PahoUnsupportedError:
    return PahoUnsupportedError(f"paho-mqtt {paho_version} {what}; the gateway's receiver needs paho-mqtt=="
                                f"{PAHO_TESTED} (pip install 'paho-mqtt=={PAHO_TESTED}')")


def _check(client_class: type[paho.Client]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(_TIMEOUT_S)
        client = client_class(CallbackAPIVersion.VERSION2, client_id="paho-self-check", protocol=paho.MQTTv311,
                              clean_session=False, manual_ack=True)
        messages: list[tuple[str, bytes, int]] = []
        client.on_message = lambda _c, _u, msg: messages.append((msg.topic, bytes(msg.payload), msg.mid))
        client.on_socket_register_write = lambda *_: None
        client.connect("127.0.0.1", listener.getsockname()[1], keepalive=30)
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(_TIMEOUT_S)
            sock = client.socket()
            try:
                _exchange(client, sock, conn, messages)
            finally:
                if sock is not None:
                    sock.close()


def _exchange(client: paho.Client, sock: object, conn: socket.socket,
              messages: list[tuple[str, bytes, int]]) -> None:
    if not isinstance(sock, _GatheringSocket):
        raise _fail("no longer creates its socket through _create_socket")
    if not _nothing_written(conn):
        raise _fail("writes queued packets itself although on_socket_register_write is set")
    client.loop_write()
    sock.flush()
    if _received(conn, 1) != b"\x10":
        raise _fail("did not send CONNECT through the gathering socket")
    _received(conn, _received(conn, 1)[0])  # the rest of the short CONNECT (remaining length < 128)
    conn.sendall(_CONNACK + _publish("self-check/a", b"one", 1) + _publish("self-check/b", b"two", 2))
    select.select([sock], [], [], _TIMEOUT_S)
    for _ in range(10):
        before = len(messages)
        if client.loop_read() != paho.MQTT_ERR_SUCCESS:
            raise _fail("ended the connection while reading CONNACK and two PUBLISHes")
        if len(messages) - before > 1:
            raise _fail("read several messages in one loop_read call, so batch_max would not bound a batch")
        if len(messages) == 2:
            break
    if messages != [("self-check/a", b"one", 1), ("self-check/b", b"two", 2)]:
        raise _fail(f"passed on {len(messages)} of 2 messages read through the gathering socket")
    if client.loop_read() != paho.MQTT_ERR_SUCCESS or len(messages) != 2:
        raise _fail("did not return quietly from loop_read on an empty socket")
    client.ack(1, 1)
    client.ack(2, 1)
    if not _nothing_written(conn):
        raise _fail("wrote an acknowledgement inline although on_socket_register_write is set")
    client.loop_write()
    sock.flush()
    acks = b"\x40\x02\x00\x01\x40\x02\x00\x02"
    if _received(conn, len(acks)) != acks:
        raise _fail("did not send the two PUBACKs as asked")
