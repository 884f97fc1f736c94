"""A fault-injecting TCP proxy on loopback, for cutting and degrading a link between two real processes.

The demo and the chaos tests put it between the gateway and the central service (the gateway's
``central.url`` points at the proxy) and switch it between modes while traffic flows:

- ``pass``: bytes flow both ways unchanged;
- ``drop``: every *new* connection is reset as soon as it is accepted (the far side is "down"); connections
  already open keep flowing, as they would through a NAT that lost only its new-flow capacity;
- ``stall``: a blackhole: new connections are accepted but nothing is forwarded in either direction, and
  existing connections stop forwarding; when the mode changes back, what was held flows on (a partition that
  heals before TCP gives up). Clients see only time-outs;
- ``latency``: like ``pass``, but every chunk waits ``latency_s`` before it is forwarded.

``reset_connections()`` is an action rather than a mode: it aborts every open connection with a TCP RST on
both sides (a middlebox reboot). ``cut()`` is ``drop`` plus that reset: a dropped uplink as the gateway sees
it (the demo's WAN going down); ``set_mode("pass")`` heals it.

Bounded by construction: at most ``max_connections`` at once (further connections are reset), reads of at
most 64 KiB, and the proxy stops itself after ``lifetime_s`` even if a test forgets to stop it (``None``:
never, for the demo, which stops it itself). It runs its
own asyncio loop on a daemon thread, so the test's thread only calls the thread-safe methods below.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from harness.netutil import free_port

MODES = ("pass", "drop", "stall", "latency")
CHUNK = 64 * 1024


@dataclass
class ProxyStats:
    """What the proxy has done so far (read from the test thread; integers, so reads are atomic enough)."""

    accepted: int = 0
    dropped: int = 0  # new connections reset in ``drop`` mode or over the connection bound
    reset: int = 0  # open connections aborted by ``reset_connections``
    bytes_up: int = 0  # client -> upstream
    bytes_down: int = 0  # upstream -> client


def _abort(writer: asyncio.StreamWriter | None) -> None:
    """Close with RST instead of FIN: SO_LINGER with a zero timeout, then abort the transport."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with suppress(OSError):  # the socket may be gone already; abort() below still closes the transport
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """``127.0.0.1:<port>`` → ``upstream_host:upstream_port`` with switchable faults."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1", *, port: int | None = None,
                 lifetime_s: float | None = 600.0, max_connections: int = 64) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = port or free_port()
        self.lifetime_s = lifetime_s
        self.max_connections = max_connections
        self.stats = ProxyStats()
        self._mode = "pass"
        self._latency_s = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._flowing: asyncio.Event | None = None  # set unless stalled
        self._connections: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()
        self._ready = threading.Event()
        self._stopped = threading.Event()

    # -- the test's side (any thread) --------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def start(self) -> FaultProxy:
        """Listen, in ``pass`` mode; returns once the port accepts connections."""
        self._thread = threading.Thread(target=self._run, name=f"fault-proxy-{self.port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fault proxy did not start")
        if self._stopped.is_set():
            raise RuntimeError(f"the fault proxy could not listen on port {self.port}")
        return self

    def stop(self) -> None:
        """Close the listener and every connection; idempotent."""
        loop = self._loop
        if loop is not None and not self._stopped.is_set():
            with suppress(RuntimeError):  # the loop already closed (lifetime reached)
                loop.call_soon_threadsafe(self._shutdown)
        if self._thread is not None:
            self._thread.join(10)

    def set_mode(self, mode: str, latency_s: float = 0.0) -> None:
        """Switch to ``mode`` (see the module docstring); ``latency_s`` is used in ``latency`` mode."""
        if mode not in MODES:
            raise ValueError(f"unknown proxy mode {mode!r}; valid: {', '.join(MODES)}")
        if mode == "latency" and not 0 < latency_s <= 30:
            raise ValueError("latency mode needs 0 < latency_s <= 30")
        self._call(self._apply_mode, mode, latency_s)

    def reset_connections(self) -> None:
        """Abort every open connection with a TCP RST on both sides."""
        self._call(self._reset_all)

    def cut(self) -> None:
        """The link goes down: open connections are reset and new ones refused, until ``set_mode("pass")``."""
        self.set_mode("drop")
        self.reset_connections()

    @contextmanager
    def fault(self, mode: str, latency_s: float = 0.0) -> Iterator[FaultProxy]:
        """``with proxy.fault("stall"):`` — the mode for the block, ``pass`` afterwards."""
        self.set_mode(mode, latency_s)
        try:
            yield self
        finally:
            self.set_mode("pass")

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, fn, *args) -> None:  # type: ignore[no-untyped-def]
        loop = self._loop
        if loop is None or self._stopped.is_set():
            raise RuntimeError("the fault proxy is not running")
        done = threading.Event()

        def run() -> None:
            try:
                fn(*args)
            finally:
                done.set()

        loop.call_soon_threadsafe(run)
        if not done.wait(5):
            raise RuntimeError("the fault proxy did not answer")

    # -- the loop's side ---------------------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            self._stopped.set()
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._done = asyncio.Event()
        try:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port,
                                                      reuse_address=True, limit=CHUNK)
        except OSError:
            return
        self._ready.set()
        if self.lifetime_s is not None:
            asyncio.get_running_loop().call_later(self.lifetime_s, self._shutdown)
        async with self._server:
            await self._done.wait()
        # Let the pumps see their sockets close before the loop goes away.
        await asyncio.sleep(0.05)

    def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        self._reset_all(count=False)
        self._flowing.set()  # type: ignore[union-attr]  # release stalled pumps so they see the closed sockets
        self._done.set()

    def _apply_mode(self, mode: str, latency_s: float) -> None:
        self._mode, self._latency_s = mode, latency_s
        assert self._flowing is not None
        if mode == "stall":
            self._flowing.clear()
        else:
            self._flowing.set()

    def _reset_all(self, count: bool = True) -> None:
        for client, upstream in list(self._connections):
            _abort(client)
            _abort(upstream)
            if count:
                self.stats.reset += 1
        self._connections.clear()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._mode == "drop" or len(self._connections) >= self.max_connections:
            self.stats.dropped += 1
            _abort(client_writer)
            return
        self.stats.accepted += 1
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None] = (client_writer, None)
        self._connections.add(pair)
        try:
            await self._flowing.wait()  # type: ignore[union-attr]  # a blackhole does not even connect onward
            if pair not in self._connections:  # reset while we waited
                return
            try:
                up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self.upstream, limit=CHUNK), 5)
            except (OSError, TimeoutError):
                _abort(client_writer)  # upstream down: the client sees a reset, as from a dead host
                return
            self._connections.discard(pair)
            pair = (client_writer, up_writer)
            self._connections.add(pair)
            await asyncio.gather(self._pump(client_reader, up_writer, "bytes_up", pair),
                                 self._pump(up_reader, client_writer, "bytes_down", pair))
        finally:
            self._connections.discard(pair)
            for writer in pair:
                if writer is not None and not writer.transport.is_closing():
                    writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: str,
                    pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]) -> None:
        assert self._flowing is not None
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                await self._flowing.wait()
                if self._mode == "latency":
                    await asyncio.sleep(self._latency_s)
                if pair not in self._connections:
                    return
                setattr(self.stats, counter, getattr(self.stats, counter) + len(data))
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof() and not writer.transport.is_closing():
                writer.write_eof()  # half-close: pass the FIN on, keep the other direction open
        except (ConnectionError, OSError):
            for other in pair:
                _abort(other)
