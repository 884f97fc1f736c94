"""The fault proxy itself: each mode does what the chaos tests and the demo's WAN rely on (a fault that
silently did nothing would make a chaos test pass for the wrong reason)."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from harness.proxy import FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(echo: int) -> Iterator[FaultProxy]:
    with FaultProxy(echo, lifetime_s=60) as running:
        yield running


def connect(proxy: FaultProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=2)


def roundtrip(sock: socket.socket, payload: bytes = b"ping") -> bytes:
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def test_pass_forwards_both_ways(proxy):
    with connect(proxy) as sock:
        assert roundtrip(sock, b"x" * 200_000) == b"x" * 200_000
    assert proxy.stats.bytes_up >= 200_000 and proxy.stats.bytes_down >= 200_000


def test_drop_resets_new_connections_but_keeps_open_ones(proxy):
    with connect(proxy) as kept:
        assert roundtrip(kept) == b"ping"
        proxy.set_mode("drop")
        with pytest.raises(ConnectionError), connect(proxy) as fresh:  # the reset may come at connect or later
            fresh.sendall(b"ping")
            if not fresh.recv(10):
                raise ConnectionResetError("closed")
        assert roundtrip(kept) == b"ping"
    proxy.set_mode("pass")
    with connect(proxy) as again:
        assert roundtrip(again) == b"ping"
    assert proxy.stats.dropped == 1


def test_reset_aborts_open_connections(proxy):
    with connect(proxy) as sock:
        assert roundtrip(sock) == b"ping"
        proxy.reset_connections()
        with pytest.raises(ConnectionError):
            sock.sendall(b"ping")
            if not sock.recv(10):
                raise ConnectionResetError("closed")
    assert proxy.stats.reset == 1


def test_stall_holds_everything_until_it_heals(proxy):
    with connect(proxy) as sock:
        assert roundtrip(sock) == b"ping"
        proxy.set_mode("stall")
        sock.sendall(b"held")
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(10)
        proxy.set_mode("pass")
        sock.settimeout(2)
        assert sock.recv(10) == b"held"


def test_latency_delays_each_chunk(proxy):
    proxy.set_mode("latency", latency_s=0.3)
    with connect(proxy) as sock:
        started = time.monotonic()
        assert roundtrip(sock) == b"ping"
        assert time.monotonic() - started >= 0.6  # one delay on the way up, one on the way down


def test_the_proxy_stops_itself_after_its_lifetime(echo):
    proxy = FaultProxy(echo, lifetime_s=0.5).start()
    time.sleep(1.0)
    with pytest.raises(OSError):
        connect(proxy).close()
    proxy.stop()


def reset_or_closed(sock: socket.socket) -> None:
    with pytest.raises(ConnectionError):  # the reset may come at the send or at the read
        sock.sendall(b"ping")
        if not sock.recv(10):
            raise ConnectionResetError("closed")


def test_a_cut_link_resets_open_connections_and_refuses_new_ones_until_it_heals(proxy):
    """The demo's WAN going down, as the gateway sees a dropped uplink."""
    with connect(proxy) as sock:
        assert roundtrip(sock) == b"ping"
        proxy.cut()
        reset_or_closed(sock)
    # refused at the connect, the send or the read, as timing has it
    with pytest.raises(ConnectionError), connect(proxy) as fresh:
        fresh.sendall(b"ping")
        if not fresh.recv(10):
            raise ConnectionResetError("closed")
    proxy.set_mode("pass")
    with connect(proxy) as again:
        assert roundtrip(again) == b"ping"


def test_a_proxy_without_a_lifetime_keeps_running_until_stopped(echo):
    with FaultProxy(echo, lifetime_s=None) as proxy, connect(proxy) as sock:
        assert roundtrip(sock) == b"ping"


def test_unknown_modes_are_refused(proxy):
    with pytest.raises(ValueError):
        proxy.set_mode("teleport")
