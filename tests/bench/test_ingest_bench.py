"""The ingest benchmark measures what it says: its raw run is not slowed down by a gateway session."""

from __future__ import annotations

import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.common import start_broker
from bench.ingest.run import SITE, raw_rate
from gateway.receiver import SESSION_EXPIRY_S
from onestop import topics
from tests.helpers import wait_until


def _gateway_session(broker, received: list[bytes], present: list[bool]) -> paho.Client:
    """Connect as the gateway does (MQTT 5, persistent session that never expires: gateway/receiver.py) and
    subscribe to the site's events."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=broker.gateway.username, protocol=paho.MQTTv5)
    session = Properties(PacketTypes.CONNECT)
    session.SessionExpiryInterval = SESSION_EXPIRY_S
    client.username_pw_set(broker.gateway.username, broker.gateway.password)
    client.on_connect = lambda c, _u, flags, _rc, _p: (present.append(flags.session_present),
                                                       c.subscribe(topics.events_filter(SITE), 1))
    client.on_message = lambda _c, _u, msg: received.append(msg.payload)
    client.connect("127.0.0.1", broker.port, clean_start=False, properties=session)
    client.loop_start()
    wait_until(lambda: present, timeout=10, what="the gateway's session connected")
    return client


def test_a_raw_run_after_a_gateway_run_has_no_gateway_session_queueing_the_stream(tmp_path: Path):
    broker = start_broker(tmp_path, SITE, ["bench-device-00"])
    try:
        received: list[bytes] = []
        present: list[bool] = []
        client = _gateway_session(broker, received, present)  # what an earlier round's gateway leaves behind
        time.sleep(0.3)  # subscribed
        client.disconnect()
        client.loop_stop()

        assert raw_rate(tmp_path, broker, per_device=50)["rate"] > 0

        present.clear()
        client = _gateway_session(broker, received, present)
        time.sleep(1.0)  # anything queued for the session arrives now
        client.disconnect()
        client.loop_stop()
        assert present == [False] and received == [], "the broker kept the gateway's session during the raw run"
    finally:
        broker.process.stop()
