"""Small helpers for tests: polling until a condition holds, reading a database."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


def wait_until(probe: Callable[[], T], timeout: float = 20.0, interval: float = 0.1, what: str = "condition") -> T:
    """Call ``probe`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T = probe()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)
        last = probe()
    return last


def data_key(data_dir: Path) -> str:
    """A data key for a service whose data lives in ``data_dir``: made once, beside it (never inside)."""
    from sealing import create_key_file

    path = data_dir.with_name(f"{data_dir.name}.keys") / "data.key"
    if not path.exists():
        path.parent.mkdir(mode=0o700, exist_ok=True)
        create_key_file(path)
    return str(path)


def gateway_events(site: Any, sql: str, *args: object) -> list[tuple]:
    """Rows of the site gateway's ``events`` table, read with its data key: ``sql`` selects ``id`` first and
    ``payload`` last; each row comes back without the id and with the payload as a dict."""
    sealer = site.sealer()
    return [(*rest, json.loads(sealer.open(payload, eid.encode())))
            for eid, *rest, payload in query(site.path("gateway/gateway.db"), sql, *args)]


def gateway_alerts(site: Any) -> list[dict]:
    """The site gateway's alert records, read with its data key."""
    sealer = site.sealer()
    return [json.loads(sealer.open(record, aid.encode()))
            for aid, record in query(site.path("gateway/gateway.db"), "SELECT id, record FROM alerts")]


def query(path: Path, sql: str, *args: object) -> list[tuple]:
    """Run a read-only query against a SQLite file."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def raw_client(port: int, username: str, password: str, client_id: str | None = None):
    """A connected paho client (MQTT 5) for publishing or subscribing raw messages in tests."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"test-{username}",
                         protocol=paho.MQTTv5)
    client.username_pw_set(username, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    wait_until(client.is_connected, timeout=10, what=f"{username} connected")
    return client


class Collector:
    """Subscribes with the given client and keeps every message received, per topic."""

    def __init__(self, client, topic_filter: str) -> None:
        import threading

        self.messages: list[tuple[str, bytes, float]] = []
        self._lock = threading.Lock()
        client.on_message = self._on_message
        client.subscribe(topic_filter, qos=1)

    def _on_message(self, _client, _userdata, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload, time.monotonic()))

    def on(self, topic_suffix: str) -> list[bytes]:
        with self._lock:
            return [p for t, p, _ in self.messages if t.endswith(topic_suffix)]


def stop_all_within(runtimes, timeout: float) -> list[str]:
    """Stop kiosk runtimes side by side, ``timeout`` for all of them; returns the devices that did not stop.

    A device that froze must fail its test, not hang the run.
    """
    import threading

    stoppers = {r.settings.device: threading.Thread(target=r.stop, name=f"stop-{r.settings.device}", daemon=True)
                for r in runtimes}
    for stopper in stoppers.values():
        stopper.start()
    deadline = time.monotonic() + timeout
    for stopper in stoppers.values():
        stopper.join(max(0.0, deadline - time.monotonic()))
    return [device for device, stopper in stoppers.items() if stopper.is_alive()]


@contextmanager
def served(app: Any, port: int | None = None, **client_options: Any) -> Iterator[httpx.Client]:
    """Serve ``app`` with uvicorn on ``port`` (default: a free loopback port); yield an httpx client pointed at it."""
    from harness.netutil import free_port
    from web.http import HttpServer, HttpSettings

    port = port or free_port()
    server = HttpServer(app, HttpSettings(port=port))
    server.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60, **client_options) as client:
            yield client
    finally:
        server.stop()
