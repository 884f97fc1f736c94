"""The ``[broker]`` section of every component's configuration (kept apart from the MQTT adapter, which needs
no configuration machinery)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from onestop.mqtt import BrokerAddress
from onestop.settings import Section


class BrokerSettings(Section):
    """How to reach the building's broker."""

    host: str = Field("127.0.0.1", description="broker host name or address")
    port: int = Field(1883, ge=1, le=65535, description="1883 plain (loopback/LAN), 8883 TLS")
    username: str = Field("", description="MQTT user name (a device's user name is its device id)")
    password: SecretStr = Field(SecretStr(""), description="MQTT password")
    tls_ca: Path | None = Field(None, description="CA certificate; when set, connect with TLS")
    tls_cert: Path | None = Field(None, description="client certificate (optional, with tls_key)")
    tls_key: Path | None = Field(None, description="client private key for tls_cert")
    keepalive: int = Field(30, ge=5, le=600, description="MQTT keep-alive in seconds")

    def address(self) -> BrokerAddress:
        """What the MQTT adapter connects with."""
        return BrokerAddress(self.host, self.port, self.username, self.password.get_secret_value(), self.tls_ca,
                             self.tls_cert, self.tls_key, self.keepalive)
