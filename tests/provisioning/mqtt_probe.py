"""A bare paho client for probing the broker's decisions in tests: CONNACK and PUBACK reason codes,
disconnects and received messages, without the product's reconnect logic getting in the way."""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

NOT_AUTHORIZED = 0x87
BAD_CREDENTIALS = 0x86


@dataclass
class Probe:
    """One MQTT 5 connection; ``connect`` returns the CONNACK reason code (0 = accepted)."""

    port: int
    username: str | None = None
    password: str | None = None
    client_id: str = ""
    host: str = "127.0.0.1"
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    messages: list[paho.MQTTMessage] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.connack: int | None = None
        self.disconnect_reason: int | None = None
        self._connack = threading.Event()
        self.disconnected = threading.Event()
        self._pubacks: dict[int, int] = {}
        self._puback = threading.Condition()
        self._subacked = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=paho.MQTTv5)
        if self.username is not None:
            self.client.username_pw_set(self.username, self.password)
        if self.tls_ca:
            self.client.tls_set(ca_certs=str(self.tls_ca), certfile=str(self.tls_cert) if self.tls_cert else None,
                                keyfile=str(self.tls_key) if self.tls_key else None,
                                tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = lambda _c, _u, msg: self.messages.append(msg)
        self.client.on_subscribe = lambda *_args: self._subacked.set()

    def _on_connect(self, _client, _userdata, _flags, reason, _props) -> None:
        self.connack = reason.value
        self._connack.set()

    def _on_disconnect(self, _client, _userdata, _flags, reason, _props) -> None:
        self.disconnect_reason = reason.value
        self.disconnected.set()
        self._connack.set()  # a refused TLS or TCP session ends here without a CONNACK

    def _on_publish(self, _client, _userdata, mid, reason, _props) -> None:
        with self._puback:
            self._pubacks[mid] = reason.value
            self._puback.notify_all()

    def connect(self, timeout: float = 5.0) -> int | None:
        """Connect and wait for the CONNACK; None if the session ended without one. TLS handshake
        failures raise ``ssl.SSLError`` (or ``OSError``) from here."""
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        self._connack.wait(timeout)
        return self.connack

    def subscribe(self, topic: str, timeout: float = 5.0) -> None:
        self._subacked.clear()
        self.client.subscribe(topic, qos=1)
        assert self._subacked.wait(timeout), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes | str, timeout: float = 5.0, retain: bool = False) -> int:
        """Publish at QoS 1 and return the PUBACK reason code (0 = accepted, 0x87 = not authorised)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        with self._puback:
            assert self._puback.wait_for(lambda: info.mid in self._pubacks, timeout), f"no PUBACK for {topic}"
            return self._pubacks[info.mid]

    def received(self, topic: str) -> list[bytes]:
        return [m.payload for m in list(self.messages) if m.topic == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
