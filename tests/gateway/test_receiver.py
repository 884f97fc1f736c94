"""The gateway's MQTT receiver (``gateway/receiver.py``, on the ``mqtt5`` codec): a lost connection, a
crash, a clean stop or a failing batch lose nothing and double nothing; nothing is acknowledged before it is
committed; a broker that speaks nonsense is dropped and dialled again, loudly, never a crash."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time

import httpx
import mqtt5

from gateway.receiver import SESSION_EXPIRY_S, Receiver
from onestop import topics
from onestop.events import new_event
from onestop.mqtt import BrokerAddress, Received
from tests.conftest import KIOSKS
from tests.helpers import Collector, query, raw_client, wait_until


def burst(site, per_device: int, during=None) -> list[str]:
    """Every kiosk publishes ``per_device`` heartbeats; ``during`` runs a third of the way through.
    Returns the ids of the events the broker accepted (every one, PUBACK received)."""
    devices = [k.device for k in KIOSKS]
    clients = {d: raw_client(site.broker_port, site.device_users[d].username, site.device_users[d].password)
               for d in devices}
    made, infos = [], []
    for seq in range(1, per_device + 1):
        for device in devices:
            env = new_event(device, seq, "heartbeat", {"uptime_s": seq, "outbox": 0})
            made.append(env.id)
            infos.append(clients[device].publish(topics.event(site.site, device, "heartbeat"), env.to_json(), qos=1))
        if during and seq == per_device // 3:
            during()
    for info in infos:
        info.wait_for_publish(30)
    for client in clients.values():
        client.loop_stop()
        client.disconnect()
    return made


def retained(site, topic: str) -> bytes:
    client = raw_client(site.broker_port, site.observer.username, site.observer.password)
    try:
        collector = Collector(client, topic)
        wait_until(lambda: collector.on(topic), timeout=5, what=f"retained {topic}")
        return collector.on(topic)[-1]
    finally:
        client.loop_stop()
        client.disconnect()


def stats(site) -> dict:
    return httpx.get(f"{site.gateway_url}/api/v1/stats", timeout=5).json()


def stored_ids(site) -> list[str]:
    return sorted(row[0] for row in query(site.path("gateway/gateway.db"), "SELECT id FROM events"))


def take_over_session(site) -> None:
    """Connect as the gateway (the broker names the client after its user) to its persistent session, and
    leave without reading: the broker drops the gateway's connection ("session taken over"), and whatever it
    had sent and the gateway had not yet acknowledged stays unacknowledged in the session."""
    user = site.gateway_user
    with socket.create_connection(("127.0.0.1", site.broker_port), timeout=5) as sock:
        sock.sendall(mqtt5.ConnectPacket(user.username, username=user.username, password=user.password.encode(),
                                         clean_start=False, session_expiry_interval=SESSION_EXPIRY_S).write())
        sock.recv(4)  # the CONNACK's first bytes: the old connection has been dropped
        sock.sendall(mqtt5.DisconnectPacket().write())


def test_a_connection_taken_away_mid_burst_comes_back_and_nothing_is_lost_or_doubled(site, lone_gateway):
    made = burst(site, 1500, during=lambda: take_over_session(site))
    wait_until(lambda: stats(site)["events"] >= len(made), timeout=60, what="every accepted event stored")
    time.sleep(1)  # a late redelivery would show up as a duplicate
    assert stored_ids(site) == sorted(made)
    wait_until(lambda: "onestop_gateway_broker_connected 1.0" in httpx.get(f"{site.gateway_url}/metrics",
                                                                          timeout=5).text,
               timeout=10, what="connected again")
    log = lone_gateway.log_path.read_text()
    assert "disconnected from broker" in log and "Traceback" not in log


def test_a_killed_gateway_has_the_broker_publish_its_will(site, lone_gateway):
    watcher_client = raw_client(site.broker_port, site.observer.username, site.observer.password)
    watcher = Collector(watcher_client, topics.gateway_state(site.site))
    try:
        state = topics.gateway_state(site.site)
        wait_until(lambda: any(json.loads(p)["online"] for p in watcher.on(state)), timeout=10,
                   what="the gateway's birth")
        os.kill(lone_gateway._proc.pid, signal.SIGKILL)
        lone_gateway._proc.wait()
        wait_until(lambda: not json.loads(watcher.on(state)[-1])["online"], timeout=10,
                   what="the Will: gateway offline")
    finally:
        watcher_client.loop_stop()
        watcher_client.disconnect()


def test_a_clean_stop_mid_burst_acknowledges_everything_it_stored(site, lone_gateway):
    """Whatever was committed before the stop is acknowledged before the disconnect: after a restart the
    broker sends only what was never stored, so nothing arrives twice."""
    made = burst(site, 1500, during=lone_gateway.stop)
    log = site.broker.layout.log.read_text()
    assert f"Client {site.gateway_user.username} disconnected." in log  # a DISCONNECT, after the last PUBACKs
    assert not json.loads(retained(site, topics.gateway_state(site.site)))["online"]  # its goodbye, not a Will
    lone_gateway.start()
    wait_until(lambda: stats(site)["events"] >= len(made), timeout=60, what="every accepted event stored")
    time.sleep(1)
    assert stored_ids(site) == sorted(made)
    assert stats(site)["duplicates"] == 0


def receiver_for(site, on_batch, *, receive_maximum: int = 100, broker_port: int | None = None) -> Receiver:
    address = BrokerAddress(port=broker_port or site.broker_port, username=site.gateway_user.username,
                            password=site.gateway_user.password, keepalive=5)
    return Receiver(address, site.gateway_user.username, will=None,
                    subscriptions=[(topics.events_filter(site.site), 1)], on_batch=on_batch,
                    on_connection=lambda _up: None, batch_max=100, batch_wait_s=0.05,
                    receive_maximum=receive_maximum)


def send_heartbeats(site, count: int) -> list[bytes]:
    device = KIOSKS[0].device
    sender = raw_client(site.broker_port, site.device_users[device].username, site.device_users[device].password)
    try:
        payloads = [new_event(device, seq, "heartbeat", {"uptime_s": seq, "outbox": 0}).to_json()
                    for seq in range(1, count + 1)]
        for info in [sender.publish(topics.event(site.site, device, "heartbeat"), p, qos=1) for p in payloads]:
            info.wait_for_publish(10)
        return payloads
    finally:
        sender.loop_stop()
        sender.disconnect()


def nothing_left_for(site) -> None:
    """A new connection to the gateway's session gets nothing: every message was acknowledged."""
    batches: list[list[Received]] = []
    receiver = receiver_for(site, batches.append)
    receiver.start()
    try:
        assert receiver.wait_connected(10)
        time.sleep(1)
        assert batches == []
    finally:
        receiver.stop()


def test_after_a_reconnect_unacknowledged_messages_come_again_and_old_acknowledgements_are_dropped(broker):
    """A batch still being committed when the connection is lost is sent again on the next connection; its
    commit, finishing late, acknowledges nothing on the new connection (packet ids may have changed)."""
    batches: list[tuple[int, list[bytes]]] = []
    first_commit = threading.Event()

    def on_batch(batch: list[Received]) -> None:
        batches.append((receiver.generation, [m.payload for m in batch]))
        if len(batches) == 1:
            first_commit.wait(30)  # a slow commit, during which the broker restarts

    receiver = receiver_for(broker, on_batch)
    try:
        receiver.start()
        assert receiver.wait_connected(10)
        sent = send_heartbeats(broker, 3)
        # The ingest thread is free, so the first message goes on its own; the others are read meanwhile.
        wait_until(lambda: batches and receiver.in_hand == 3, timeout=5, what="a batch, and the rest read")
        broker.broker.stop()  # a clean stop keeps the session and its unacknowledged messages
        broker.broker.start()
        wait_until(lambda: receiver.generation > batches[0][0] and receiver.connected, timeout=30,
                   what="a new connection")
        first_commit.set()  # its acknowledgements belong to the old connection: dropped
        wait_until(lambda: len(batches) > 1, timeout=10, what="redelivery on the new connection")
        assert sorted(p for g, batch in batches[1:] for p in batch) == sorted(sent)
        assert {g for g, _ in batches[1:]} == {receiver.generation}
        time.sleep(0.5)
    finally:
        receiver.stop()
    nothing_left_for(broker)


def test_a_batch_that_cannot_be_handled_is_not_acknowledged_and_comes_again_on_a_new_connection(broker, caplog):
    handled: list[list[bytes]] = []

    def on_batch(batch: list[Received]) -> None:
        if not handled:
            handled.append([])
            raise RuntimeError("a bug in ingest")
        handled.append([m.payload for m in batch])

    receiver = receiver_for(broker, on_batch)
    try:
        receiver.start()
        assert receiver.wait_connected(10)
        sent = send_heartbeats(broker, 5)
        wait_until(lambda: sum(len(b) for b in handled[1:]) >= 5, timeout=10, what="the batch again")
        assert sorted(p for b in handled[1:] for p in b) == sorted(sent)
        assert receiver.restarts == 1
        assert "could not be handled; reconnecting" in caplog.text
    finally:
        receiver.stop()
    nothing_left_for(broker)


def test_no_more_than_receive_maximum_messages_are_in_hand_before_a_commit(broker):
    """While a commit hangs, the receiver reads at most ``receive_maximum`` messages; the rest wait at the
    broker (TCP holds it back), and all of them arrive once commits go on."""
    seen: list[int] = []
    commit = threading.Event()

    def on_batch(batch: list[Received]) -> None:
        seen.append(len(batch))
        commit.wait(30)

    receiver = receiver_for(broker, on_batch, receive_maximum=20)
    try:
        receiver.start()
        assert receiver.wait_connected(10)
        send_heartbeats(broker, 200)
        time.sleep(1.0)
        in_hand = receiver.in_hand
        commit.set()
        wait_until(lambda: sum(seen) >= 200, timeout=10, what="every message once commits go on")
        assert in_hand <= 20
        assert sum(seen) == 200
    finally:
        receiver.stop()


class NonsenseBroker:
    """A listening socket that accepts MQTT connections and answers the SUBSCRIBE with bytes that are not MQTT."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.recv(4096)  # CONNECT
                conn.sendall(mqtt5.ConnAckPacket().write())
                conn.recv(4096)  # SUBSCRIBE
                conn.sendall(b"\xf0\x00")  # reserved packet type 15
                time.sleep(0.5)


def test_a_broker_speaking_nonsense_is_dropped_and_dialled_again_loudly_without_a_crash(broker, caplog):
    nonsense = NonsenseBroker()
    receiver = receiver_for(broker, lambda batch: None, broker_port=nonsense.port)
    caplog.set_level(logging.WARNING)
    try:
        receiver.start()
        wait_until(lambda: nonsense.connections >= 2, timeout=10, what="a second connection after the first")
        assert not receiver.connected
        assert "malformed packet from the broker" in caplog.text
    finally:
        receiver.stop()
        nonsense.listener.close()


def test_the_next_batch_is_validated_while_the_last_commits_and_written_and_acknowledged_only_after_it(broker):
    """Validation of batch N+1 overlaps the commit of batch N; N+1 goes to the store only once N is durable
    (so batches commit in order), and N's PUBACKs wait for its commit."""
    steps: list[tuple[str, int]] = []
    committed = threading.Event()

    class Batch:
        def __init__(self, n: int) -> None:
            self.n = n

        def submit(self) -> None:
            steps.append(("submit", self.n))

        def wait(self) -> None:
            steps.append(("wait", self.n))
            if self.n == 1:
                committed.wait(30)  # a slow commit

        def after(self) -> None:
            steps.append(("after", self.n))

    def on_batch(batch: list[Received]) -> Batch:
        n = sum(1 for step, _ in steps if step == "validate") + 1
        steps.append(("validate", n))
        if n == 1:  # the next messages arrive while this batch is validated
            wait_until(lambda: receiver.in_hand == 4, timeout=10, what="the next messages read")
        return Batch(n)

    receiver = receiver_for(broker, on_batch)
    try:
        receiver.start()
        assert receiver.wait_connected(10)
        send_heartbeats(broker, 1)
        wait_until(lambda: ("validate", 1) in steps, timeout=5, what="the first batch")
        send_heartbeats(broker, 3)
        wait_until(lambda: ("wait", 1) in steps, timeout=5, what="the first batch's commit")
        time.sleep(0.2)
        assert steps == [("validate", 1), ("submit", 1), ("validate", 2), ("wait", 1)]  # 2 is not written yet
        assert receiver.in_hand == 4  # nothing acknowledged before the commit
        committed.set()
        wait_until(lambda: receiver.in_hand == 0, timeout=5, what="every message acknowledged")
        assert steps == [("validate", 1), ("submit", 1), ("validate", 2), ("wait", 1), ("submit", 2), ("after", 1),
                         ("wait", 2), ("after", 2)]
    finally:
        receiver.stop()
    nothing_left_for(broker)
