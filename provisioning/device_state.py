"""After a revoke or rotation: put the device's retained state right, since Mosquitto does not.

When a SIGHUP makes Mosquitto 2.0 disconnect a client whose credentials are gone, it marks the session
"disconnecting" first, and a session in that state does not get its Last Will published (verified in
``tests/provisioning/test_broker_live.py``). The device's retained ``dev/{device}/state`` would then say
``online: true`` for ever (after ``revoke``) or until the new bundle is installed (after ``rotate``). So
both read that retained state with the tool's own account (which may touch device state topics only) and, if
it is a birth, publish the matching offline
state themselves: same ``boot`` (so the gateway does not mistake it for a late Will of an older
connection), plus ``"reason": "revoked"`` or ``"rotated"``.

Best effort: a broker that cannot be reached is reported, never an error, because the change itself has
already taken effect.
"""

from __future__ import annotations

import json
import threading
import tomllib
from pathlib import Path

from onestop import topics
from onestop.mqtt import Message, MqttClient, Received
from onestop.mqtt_settings import BrokerSettings
from onestop.payloads import DeviceState


def gateway_broker_settings(path: Path) -> BrokerSettings:
    """A ``[broker]`` section written by ``init`` (the gateway's, or this tool's own)."""
    return BrokerSettings.model_validate(tomllib.loads(path.read_text(encoding="utf-8"))["broker"])


def offline_state(retained: bytes, reason: str) -> bytes | None:
    """The offline state answering a retained birth, or None when there is nothing to correct."""
    try:
        state = DeviceState.model_validate_json(retained)
    except ValueError:
        return None
    if not state.online:
        return None
    return json.dumps({"online": False, "boot": state.boot, "reason": reason}).encode()


def mark_offline(broker: BrokerSettings, site: str, device: str, reason: str, timeout: float = 3.0) -> str:
    """Publish an offline state for ``device`` if its retained state still says online; returns what
    happened, for the technician."""
    topic = topics.state(site, device)
    retained = threading.Event()
    published = threading.Event()
    found: list[bytes] = []

    def on_message(message: Received) -> None:
        if message.topic == topic and message.retain:
            found.append(message.payload)
            retained.set()

    client = MqttClient(broker.address(), broker.username, subscriptions=[(topic, 1)],
                        on_message=on_message, on_published=lambda _mid: published.set())
    client.start()
    try:
        if not client.wait_connected(timeout):
            return f"could not reach the broker as {broker.username} to mark {device} offline"
        # A retained message follows the SUBACK at once; no message within the wait means none is retained.
        if not retained.wait(min(timeout, 1.0)) or (answer := offline_state(found[0], reason)) is None:
            return f"{device} had no retained online state"
        client.publish(Message(topic, answer, qos=1, retain=True))
        if not published.wait(timeout):
            return f"the broker did not confirm {device}'s offline state"
        return f"{device}'s retained state set to offline"
    finally:
        client.stop()
