"""The gateway's MQTT receiver process: crashes on either side lose nothing and double nothing, and a paho that
no longer behaves as the receiver relies on stops the gateway with a clear error instead of a reconnect loop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt import __version__ as paho_version

from gateway import paho_check
from gateway.batch_receiver import BatchReceiver, GatheringPaho, PahoUnsupportedError
from onestop import topics
from onestop.events import new_event
from onestop.mqtt import BrokerAddress, Received
from tests.conftest import KIOSKS
from tests.helpers import Collector, query, raw_client, wait_until


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


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


def test_a_crashed_receiver_is_replaced_and_nothing_is_lost_or_doubled(site, lone_gateway):
    [receiver] = children(lone_gateway._proc.pid)
    made = burst(site, 1500, during=lambda: os.kill(receiver, signal.SIGKILL))
    wait_until(lambda: stats(site)["events"] >= len(made), timeout=60, what="every accepted event stored")
    time.sleep(1)  # a late redelivery would show up as an extra row
    assert stored_ids(site) == sorted(made)
    assert children(lone_gateway._proc.pid) != [receiver]
    metrics = httpx.get(f"{site.gateway_url}/metrics", timeout=5).text
    assert "onestop_gateway_receiver_restarts_total 1.0" in metrics
    assert "onestop_gateway_broker_connected 1.0" in metrics
    log = lone_gateway.log_path.read_text()
    assert "the MQTT receiver process ended unexpectedly" in log and "Traceback" not in log


def test_a_killed_gateway_takes_its_receiver_along_and_the_broker_publishes_its_will(site, lone_gateway):
    watcher_client = raw_client(site.broker_port, site.observer.username, site.observer.password)
    watcher = Collector(watcher_client, topics.gateway_state(site.site))
    try:
        state = topics.gateway_state(site.site)
        wait_until(lambda: any(json.loads(p)["online"] for p in watcher.on(state)), timeout=10,
                   what="the gateway's birth")
        [receiver] = children(lone_gateway._proc.pid)
        os.kill(lone_gateway._proc.pid, signal.SIGKILL)
        lone_gateway._proc.wait()
        wait_until(lambda: not alive(receiver), timeout=5, what="the orphaned receiver exits")
        wait_until(lambda: not json.loads(watcher.on(state)[-1])["online"], timeout=10,
                   what="the Will: gateway offline")
        assert "Traceback" not in lone_gateway.log_path.read_text()  # it noticed, and left quietly
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


def test_after_a_reconnect_unacknowledged_messages_come_again_and_old_acknowledgements_are_dropped(broker):
    batches: list[tuple[int, list[Received]]] = []
    settings = BrokerAddress(port=broker.broker_port, username=broker.gateway_user.username,
                              password=broker.gateway_user.password)
    receiver = BatchReceiver(settings, broker.gateway_user.username,
                             subscriptions=[(topics.events_filter(broker.site), 1)],
                             on_batch=lambda generation, batch: batches.append((generation, batch)),
                             batch_max=100, batch_wait_s=0.05, max_unacked=100)
    device = KIOSKS[0].device
    sender = raw_client(broker.broker_port, broker.device_users[device].username,
                        broker.device_users[device].password)
    try:
        receiver.start()
        assert receiver.wait_connected(10)
        for seq in (1, 2, 3):
            env = new_event(device, seq, "heartbeat", {"uptime_s": seq, "outbox": 0})
            sender.publish(topics.event(broker.site, device, "heartbeat"), env.to_json(), qos=1).wait_for_publish(5)
        wait_until(lambda: sum(len(b) for _, b in batches) == 3, timeout=5, what="three messages handed over")
        first_generation = batches[0][0]
        first = [m.payload for _, batch in batches for m in batch]

        broker.broker.stop()  # a clean stop keeps the session and its unacknowledged messages
        broker.broker.start()
        wait_until(lambda: len({g for g, _ in batches}) == 2, timeout=30, what="redelivery on the new connection")
        again = [(g, m) for g, batch in batches for m in batch if g != first_generation]
        assert sorted(m.payload for _, m in again) == sorted(first)
        receiver.acknowledge(first_generation, [m.mid for _, b in batches[:1] for m in b])  # too late: dropped
        receiver.acknowledge(again[0][0], [m.mid for _, m in again])
        time.sleep(0.5)
    finally:
        receiver.stop()
        sender.loop_stop()
        sender.disconnect()

    # Everything was acknowledged on the connection that delivered it: a new session start gets nothing.
    batches.clear()
    receiver = BatchReceiver(settings, broker.gateway_user.username,
                             subscriptions=[(topics.events_filter(broker.site), 1)],
                             on_batch=lambda generation, batch: batches.append((generation, batch)),
                             batch_max=100, batch_wait_s=0.05, max_unacked=100)
    receiver.start()
    try:
        assert receiver.wait_connected(10)
        time.sleep(1)
        assert batches == []
    finally:
        receiver.stop()


def test_the_receiver_process_stays_lean():
    """It only connects: no configuration machinery, no web framework, no database (its memory is measured
    in bench/ingest)."""
    code = ("import sys, gateway.receiver; "
            "print(sorted(m for m in ('pydantic', 'fastapi', 'sqlite3') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


# -- paho behind a hard pin: what the receiver relies on is proven at start-up -------------------------------
class _SocketHookRenamed(GatheringPaho):
    """As if paho stopped creating its socket through ``_create_socket``."""

    _create_socket = paho.Client._create_socket


class _WritesInline(GatheringPaho):
    """As if paho wrote each queued packet itself although ``on_socket_register_write`` is set."""

    def _packet_queue(self, *args, **kwargs):
        rc = super()._packet_queue(*args, **kwargs)
        self.loop_write()
        self.socket().flush()
        return rc


class _ReadsEverything(GatheringPaho):
    """As if ``loop_read`` read every packet the socket holds."""

    def loop_read(self, max_packets: int = 1):
        for _ in range(3):
            rc = super().loop_read()
        return rc


def test_the_pinned_paho_passes_the_receivers_self_check():
    paho_check.check()
    assert paho_version == paho_check.PAHO_TESTED


@pytest.mark.parametrize(("client_class", "complaint"), [
    (_SocketHookRenamed, "no longer creates its socket through _create_socket"),
    (_WritesInline, "writes queued packets itself although on_socket_register_write is set"),
    (_ReadsEverything, "read several messages in one loop_read call"),
])
def test_a_paho_that_changed_what_the_receiver_relies_on_fails_the_self_check_naming_it(client_class, complaint):
    with pytest.raises(PahoUnsupportedError) as failed:
        paho_check.check(client_class)
    assert complaint in str(failed.value)
    assert f"paho-mqtt=={paho_check.PAHO_TESTED}" in str(failed.value)


def test_a_gateway_on_a_paho_without_the_socket_hook_refuses_to_start_instead_of_reconnecting_for_ever(
        broker, tmp_path):
    """Without the check such a receiver connected, found the socket not its own, dropped the connection and
    reconnected for ever; the gateway ran on, quietly storing nothing."""
    changed = tmp_path / "changed-paho"
    changed.mkdir()
    # Every Python process started with this path (the gateway and its receiver) sees a paho whose socket hook
    # is gone, as a paho release that renamed it would look.
    (changed / "sitecustomize.py").write_text(
        "import paho.mqtt.client as paho, gateway.batch_receiver as receiver\n"
        "receiver.GatheringPaho._create_socket = paho.Client._create_socket\n")
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(changed), os.environ.get("PYTHONPATH", os.getcwd())])}
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "onestop", "gateway", "run", "--config",
                          str(broker.path("gateway.toml"))], capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 1
    assert "no longer creates its socket through _create_socket" in run.stderr
    assert f"pip install 'paho-mqtt=={paho_check.PAHO_TESTED}'" in run.stderr
    assert "Traceback" not in run.stderr
    assert time.monotonic() - started < 30
    assert f"u'{broker.gateway_user.username}'" not in broker.broker.layout.log.read_text()  # never connected


def test_a_receiver_whose_paho_changed_after_start_up_stops_the_gateway_instead_of_reconnecting(broker, tmp_path):
    """The check at start-up passed, but the receiver process finds paho changed (say, upgraded underneath a
    running gateway): the gateway exits non-zero, saying why, rather than restarting it for ever."""
    changed = tmp_path / "changed-paho"
    changed.mkdir()
    (changed / "sitecustomize.py").write_text(
        "import sys\n"
        "if sys.argv[1:2] and sys.argv[1].isdigit():  # only in the receiver process (python -m gateway.receiver FD)\n"
        "    import paho.mqtt.client as paho, gateway.batch_receiver as receiver\n"
        "    receiver.GatheringPaho._create_socket = paho.Client._create_socket\n")
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(changed), os.environ.get("PYTHONPATH", os.getcwd())])}
    run = subprocess.run([sys.executable, "-m", "onestop", "gateway", "run", "--config",
                          str(broker.path("gateway.toml"))], capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 1
    assert "the MQTT receiver cannot run: paho-mqtt" in run.stderr
    assert "no longer creates its socket through _create_socket" in run.stderr
    assert "starting another" not in run.stderr
