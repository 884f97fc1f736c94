"""Pure encoders for every supported format: the bytes a real device would send (or the host, for
PN532 commands). Simulators and tests build streams with these; each lives next to its parser.
"""

from __future__ import annotations

from firmware_bridge.protocols.and_scale import encode_and_scale
from firmware_bridge.protocols.cms50d import encode_cms50d
from firmware_bridge.protocols.contec_v46 import KEEP_ALIVE, START, encode_cms50d_v46
from firmware_bridge.protocols.em4100 import encode_em4100
from firmware_bridge.protocols.gatt import (
    bp_value,
    encode_gatt_bp,
    encode_gatt_temp,
    hex_line,
    temperature_value,
)
from firmware_bridge.protocols.ieee11073 import encode_float, encode_sfloat, special_float, special_sfloat
from firmware_bridge.protocols.parallax import encode_parallax
from firmware_bridge.protocols.pn532 import (
    ACK,
    ERROR_FRAME,
    NACK,
    encode_command,
    encode_frame,
    encode_no_target,
    encode_pn532,
    encode_response,
)
from firmware_bridge.protocols.tanita import encode_tanita
from firmware_bridge.protocols.wedge import encode_wedge, key_codes

__all__ = [
    "ACK",
    "ERROR_FRAME",
    "KEEP_ALIVE",
    "NACK",
    "START",
    "bp_value",
    "encode_and_scale",
    "encode_cms50d",
    "encode_cms50d_v46",
    "encode_command",
    "encode_em4100",
    "encode_float",
    "encode_frame",
    "encode_gatt_bp",
    "encode_gatt_temp",
    "encode_no_target",
    "encode_parallax",
    "encode_pn532",
    "encode_response",
    "encode_sfloat",
    "encode_tanita",
    "encode_wedge",
    "hex_line",
    "key_codes",
    "special_float",
    "special_sfloat",
    "temperature_value",
]
