"""Receiver alone: the gateway's receiver (``gateway/receiver.py`` on the ``mqtt5`` codec) vs. the smallest
receiver that can be written on the same codec, against raw ``mosquitto_sub`` in the same round.

The question is what the gateway's MQTT side costs per event, separate from storing: each receiver here
takes the same QoS 1 stream and acknowledges every message as soon as its batch is read (no database), in
a process of its own, and reports events/s and its CPU per event. The ``mqtt5`` receiver is the smallest one
that can be written on the codec (connect, subscribe, read, PUBACK): no reconnection, keep-alive, TLS or
outgoing queue, so its figure is a floor, not a product; the gap to it is what the gateway's receiver costs
for those. (Before #15 the first column was paho: 25–28 µs per event; see docs/decisions.md.)
Usage: python -m bench.ingest.codec [--devices 4] [--per-device 15000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import median

from bench.common import BenchBroker, machine, publish_burst, start_broker
from bench.ingest.run import SITE, forget_gateway_session, raw_rate
from onestop import topics


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def receive_gateway(port: int, user: str, password: str, total: int) -> None:
    """The gateway's own receiver, its batches acknowledged as soon as ``on_batch`` returns."""
    from gateway.receiver import Receiver
    from onestop.mqtt import BrokerAddress

    got = 0
    done = threading.Event()

    def on_batch(batch: list) -> None:
        nonlocal got
        got += len(batch)
        if got >= total:
            done.set()

    receiver = Receiver(BrokerAddress(port=port, username=user, password=password), user, will=None,
                        subscriptions=[(topics.events_filter(SITE), 1)], on_batch=on_batch,
                        on_connection=lambda _up: None, batch_max=1000, batch_wait_s=0.02, receive_maximum=4000)
    receiver.start()
    receiver.wait_connected(10)
    _report_when(done, total)
    receiver.stop()


def receive_mqtt5(port: int, user: str, password: str, total: int) -> None:
    """The smallest receiver on the codec: read what the socket holds, hand it over, PUBACK it."""
    import mqtt5

    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(mqtt5.ConnectPacket(user, username=user, password=password.encode(), clean_start=True,
                                     keep_alive=30, receive_max=4000).write())
    sock.sendall(mqtt5.SubscribePacket(1, [mqtt5.TopicFilter(topics.events_filter(SITE),
                                                             max_qos=mqtt5.QoS.AT_LEAST_ONCE)]).write())
    done = threading.Event()
    buffer = bytearray()
    got = 0
    subscribed = False

    def read() -> None:
        nonlocal got, subscribed, buffer
        while got < total:
            data = sock.recv(65536)
            if not data:
                return
            buffer += data
            view = memoryview(buffer)
            pos = 0
            batch, acks = [], []
            while True:
                try:
                    packet, size = mqtt5.read(view[pos:])
                except IndexError:  # not a whole packet yet
                    break
                pos += size
                if isinstance(packet, mqtt5.PublishPacket):
                    batch.append((packet.topic, packet.payload, int(packet.qos), packet.retain, packet.packet_id))
                    if packet.qos:
                        acks.append(mqtt5.PubAckPacket(packet.packet_id).write())
                elif isinstance(packet, mqtt5.SubAckPacket):
                    subscribed = True
            view.release()
            del buffer[:pos]
            got += len(batch)
            if acks:
                sock.sendall(b"".join(acks))
        done.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 10
    while not subscribed and time.monotonic() < deadline:
        time.sleep(0.01)
    _report_when(done, total)
    sock.sendall(mqtt5.DisconnectPacket().write())
    sock.close()


def _report_when(done: threading.Event, total: int) -> None:
    print(json.dumps({"ready": True}), flush=True)
    cpu = _cpu_s()
    sys.stdin.readline()  # the burst starts
    done.wait(300)
    print(json.dumps({"cpu_us": 1e6 * (_cpu_s() - cpu) / total}), flush=True)


def receiver_rate(root: Path, broker: BenchBroker, per_device: int, kind: str) -> dict:
    total = per_device * len(broker.devices)
    forget_gateway_session(broker)
    proc = subprocess.Popen([sys.executable, "-m", "bench.ingest.codec", "--receive", kind, str(broker.port),
                             broker.gateway.username, broker.gateway.password, str(total)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin and proc.stdout
    json.loads(proc.stdout.readline())
    time.sleep(0.5)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    start = publish_burst(broker.port, SITE, broker.devices, per_device, root)
    result = json.loads(proc.stdout.readline())  # once every event has been received
    elapsed = time.time() - start
    proc.wait(30)
    forget_gateway_session(broker)
    return {"rate": total / elapsed, "cpu_us": result["cpu_us"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--per-device", type=int, default=15_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--receive", nargs=5, metavar=("KIND", "PORT", "USER", "PASSWORD", "TOTAL"))
    args = parser.parse_args()
    if args.receive:
        kind, port, user, password, total = args.receive
        {"gateway": receive_gateway, "mqtt5": receive_mqtt5}[kind](int(port), user, password, int(total))
        return
    devices = [f"bench-device-{i:02d}" for i in range(args.devices)]
    with tempfile.TemporaryDirectory(prefix="onestop-bench-") as tmp:
        root = Path(tmp)
        broker = start_broker(root, SITE, devices)
        try:
            print(f"machine: {machine()}")
            rows: dict[str, list[dict]] = {"raw": [], "gateway": [], "mqtt5": []}
            for run in range(args.rounds):
                rows["raw"].append(raw_rate(root, broker, args.per_device))
                for kind in ("gateway", "mqtt5"):
                    r = receiver_rate(root, broker, args.per_device, kind)
                    rows[kind].append(r | {"share": r["rate"] / rows["raw"][-1]["rate"]})
                print(f"round {run + 1}: raw {rows['raw'][-1]['rate']:,.0f}/s; " + "; ".join(
                    f"{kind} {rows[kind][-1]['rate']:,.0f}/s ({100 * rows[kind][-1]['share']:.0f} %), "
                    f"{rows[kind][-1]['cpu_us']:.1f} µs/event" for kind in ("gateway", "mqtt5")), flush=True)
            for kind in ("gateway", "mqtt5"):
                print(f"{kind:>6}: {median(r['rate'] for r in rows[kind]):,.0f} events/s, "
                      f"{100 * median(r['share'] for r in rows[kind]):.0f} % of raw, "
                      f"{median(r['cpu_us'] for r in rows[kind]):.1f} µs CPU per event (medians)")
        finally:
            broker.process.stop()


if __name__ == "__main__":
    main()
