"""Generate the AsyncAPI 3.0 document of the MQTT interface from the contract's models.

``python -m harness.asyncapi docs/asyncapi.yaml`` rewrites the committed file; a test fails when it is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

import onestop
from onestop import topics
from onestop.events import DATA_MODELS, MAX_PAYLOAD_BYTES, Envelope
from onestop.payloads import AlertMessage, DeviceConfig, DeviceState, GatewayState, Occupancy, SpacePresence
from onestop.topics import EVENT_TYPES

REF = "#/components/schemas/{model}"
MQTT_BINDING = "0.2.0"


def _schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template=REF, mode="serialization")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def _param(description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, **extra}


def build() -> dict[str, Any]:
    """The AsyncAPI document as a plain dict."""
    schemas: dict[str, Any] = {}
    envelope_ref = _schema(Envelope, schemas)
    for model in DATA_MODELS.values():
        _schema(model, schemas)
    messages: dict[str, Any] = {
        f"{kind}Event": {
            "name": f"{kind}Event", "title": f"{kind} event", "contentType": "application/json",
            "summary": f"Event envelope with type '{kind}' and {DATA_MODELS[kind].__name__} as data.",
            "payload": envelope_ref,
        } for kind in EVENT_TYPES
    }
    messages["deviceState"] = {"name": "deviceState", "payload": _schema(DeviceState, schemas),
                               "summary": "Birth (online: true) or Last Will (online: false); boot tells "
                                          "process starts apart."}
    messages["deviceConfig"] = {"name": "deviceConfig", "payload": _schema(DeviceConfig, schemas)}
    messages["occupancy"] = {"name": "occupancy", "payload": _schema(Occupancy, schemas)}
    messages["presence"] = {"name": "presence", "payload": _schema(SpacePresence, schemas),
                            "summary": "Who is inside, as keyed hashes only the space's kiosks can match "
                                       "(docs/gateway.md); no card number is readable."}
    messages["gatewayState"] = {"name": "gatewayState", "payload": _schema(GatewayState, schemas)}
    messages["alert"] = {"name": "alert", "payload": _schema(AlertMessage, schemas),
                         "summary": "An alert for a team's staff displays; never the student's card "
                                    "(docs/gateway.md)."}

    site = _param("Site (building) slug.", examples=["north-b3"])
    device = _param("Device id; also the device's MQTT user name and client id.", examples=["kiosk-b3-lobby"])
    channels: dict[str, Any] = {
        "deviceEvents": {
            "address": topics.EVENT,
            "description": f"Device events. UTF-8 JSON envelope, at most {MAX_PAYLOAD_BYTES} bytes; the "
                           "envelope's device and type must equal the topic's segments.",
            "parameters": {"site": site, "device": device,
                           "type": _param("Event type.", enum=list(EVENT_TYPES))},
            "messages": {f"{k}Event": {"$ref": f"#/components/messages/{k}Event"} for k in EVENT_TYPES},
        },
        "deviceState": {"address": topics.STATE,
                        "parameters": {"site": site, "device": device},
                        "messages": {"deviceState": {"$ref": "#/components/messages/deviceState"}}},
        "deviceConfig": {"address": topics.CFG,
                         "parameters": {"site": site, "device": device},
                         "messages": {"deviceConfig": {"$ref": "#/components/messages/deviceConfig"}}},
        "spaceOccupancy": {"address": topics.OCCUPANCY,
                           "parameters": {"site": site, "space": _param("Space slug.", examples=["study-24h-2f"])},
                           "messages": {"occupancy": {"$ref": "#/components/messages/occupancy"}}},
        "spacePresence": {"address": topics.PRESENCE,
                          "parameters": {"site": site, "space": _param("Space slug.", examples=["study-24h-2f"])},
                          "messages": {"presence": {"$ref": "#/components/messages/presence"}}},
        "alerts": {"address": topics.ALERT,
                   "parameters": {"site": site, "team": _param("Responsible team.", examples=["clinic"])},
                   "messages": {"alert": {"$ref": "#/components/messages/alert"}}},
        "gatewayState": {"address": topics.GATEWAY_STATE, "parameters": {"site": site},
                         "messages": {"gatewayState": {"$ref": "#/components/messages/gatewayState"}}},
    }

    def operation(action: str, channel: str, qos: int, retain: bool, summary: str) -> dict[str, Any]:
        return {"action": action, "channel": {"$ref": f"#/channels/{channel}"}, "summary": summary,
                "bindings": {"mqtt": {"qos": qos, "retain": retain, "bindingVersion": MQTT_BINDING}}}

    operations = {
        "publishEvent": operation("send", "deviceEvents", 1, False,
                                  "A device publishes an event from its durable outbox; removed on PUBACK."),
        "receiveEvent": operation("receive", "deviceEvents", 1, False,
                                  "The gateway receives events (persistent session) and acknowledges each "
                                  "only after its batch is committed."),
        "announceDeviceState": operation("send", "deviceState", 1, True,
                                         "Retained birth on every connect; the same topic carries the Will."),
        "sendDeviceConfig": operation("send", "deviceConfig", 1, True, "The gateway's retained device config."),
        "sendOccupancy": operation("send", "spaceOccupancy", 1, True, "Republished on every change."),
        "sendPresence": operation("send", "spacePresence", 1, True,
                                  "Republished on every change; the space's kiosks decide check-in or "
                                  "check-out from it, offline from their last good copy."),
        "sendAlert": operation("send", "alerts", 1, False, "Routed to the responsible team."),
        "announceGatewayState": operation("send", "gatewayState", 1, True,
                                          "Gateway birth / Will, including whether central is reachable. "
                                          "Devices send events only once this retained state has reached "
                                          "them: before the building's gateway has ever subscribed, the "
                                          "broker would drop them."),
    }
    last_will = {"topic": topics.STATE, "qos": 1, "retain": True,
                 "message": '{"online": false, "boot": "<boot id>"}'}
    servers = {
        "building": {"host": "gateway.local:1883", "protocol": "mqtt", "protocolVersion": "5",
                     "description": "The building's Mosquitto on the LAN. No anonymous access. Devices connect "
                                    "with MQTT 5 and a clean session (their outbox keeps what is not yet "
                                    "acknowledged); the gateway's receiving connection uses MQTT 3.1.1 with a "
                                    "persistent session.",
                     "security": [{"$ref": "#/components/securitySchemes/devicePassword"}],
                     "bindings": {"mqtt": {"cleanSession": True, "keepAlive": 30, "lastWill": last_will,
                                           "bindingVersion": MQTT_BINDING}}},
        "buildingTls": {"host": "gateway.local:8883", "protocol": "secure-mqtt", "protocolVersion": "5",
                        "description": "TLS listener; server certificate from the site CA.",
                        "security": [{"$ref": "#/components/securitySchemes/devicePassword"}]},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "onestop-edge MQTT interface", "version": onestop.__version__,
                 "description": "Topics, payloads and QoS of a building's broker (CONTRACT.md). "
                                "Generated from the code by `python -m harness.asyncapi`; do not edit."},
        "defaultContentType": "application/json",
        "servers": servers,
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "messages": messages,
            "securitySchemes": {"devicePassword": {
                "type": "userPassword",
                "description": "MQTT user name = device id, per-device password; ACL limits each device to "
                               "its own topics."}},
        },
    }


def render() -> str:
    """The document as YAML text."""
    return yaml.safe_dump(build(), sort_keys=False, allow_unicode=True, width=110)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/asyncapi.yaml")
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
