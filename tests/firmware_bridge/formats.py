"""Test helpers: per-driver strategies for frames and garbage, and ways to feed a stream.

Each ``Format`` knows how to make one frame (wire bytes + the readings it must give), garbage that cannot
contain a frame of that driver, and which bytes of a frame a checksum protects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from firmware_bridge.drivers import Parser
from firmware_bridge.encoders import (
    ACK,
    ERROR_FRAME,
    encode_and_scale,
    encode_cms50d,
    encode_cms50d_v46,
    encode_em4100,
    encode_gatt_bp,
    encode_gatt_temp,
    encode_no_target,
    encode_parallax,
    encode_pn532,
    encode_tanita,
    encode_wedge,
)
from firmware_bridge.protocols.and_scale import AndScaleParser
from firmware_bridge.protocols.cms50d import Cms50dParser
from firmware_bridge.protocols.contec_v46 import ContecV46Parser
from firmware_bridge.protocols.em4100 import Em4100Parser
from firmware_bridge.protocols.gatt import GattBloodPressureParser, GattTemperatureParser
from firmware_bridge.protocols.parallax import ParallaxParser
from firmware_bridge.protocols.pn532 import Pn532Parser
from firmware_bridge.protocols.tanita import TanitaParser
from firmware_bridge.protocols.wedge import WedgeParser
from firmware_bridge.readings import CardRead, Event, MeasurementRead

Reading = dict[str, Any]
# One frame: its bytes, the readings it gives, and its state key for drivers that collapse repeats.
Frame = tuple[bytes, list[Reading], Any]


def card(value: str) -> Reading:
    return {"kind": "card", "card": value}


def measurement(code: str, value: float, unit: str, model: str | None) -> Reading:
    return {"kind": "measurement", "code": code, "value": float(value), "unit": unit, "device_model": model}


def readings(events: Iterable[Event]) -> list[Reading]:
    """The readings among ``events``, as decode would print them."""
    return [event.to_json() for event in events if isinstance(event, CardRead | MeasurementRead)]


def feed(parser: Parser, chunks: Iterable[bytes]) -> list[Event]:
    """Feed every chunk, then end the stream; all events in order."""
    events: list[Event] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events + parser.finish()


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def chunked(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` cut at the given positions (taken modulo its length, in order)."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


def expected(frames: Sequence[Frame]) -> list[Reading]:
    """The readings a stream of ``frames`` must give: repeats of a state key give nothing new."""
    out: list[Reading] = []
    last: Any = object()
    for _, frame_readings, key in frames:
        if key is None or key != last:
            out += frame_readings
        if key is not None:
            last = key
    return out


@dataclass(frozen=True)
class Format:
    driver: str
    parser: Callable[[], Parser]
    frame: st.SearchStrategy[Frame]
    garbage: st.SearchStrategy[bytes]
    protected: Callable[[bytes], range] | None = None  # bytes a checksum covers


def _bytes_without(*excluded: int) -> st.SearchStrategy[bytes]:
    allowed = [b for b in range(256) if b not in excluded]
    return st.lists(st.sampled_from(allowed), max_size=40).map(bytes)


def _bad_lines() -> st.SearchStrategy[bytes]:
    """Garbage for line formats: lines that start with '#', which no format accepts, or bare line ends."""
    text = st.lists(st.sampled_from([b for b in range(256) if b not in (10, 13)]), max_size=30).map(bytes)
    line = st.tuples(text, st.sampled_from([b"\r\n", b"\n", b"\r"])).map(lambda t: b"#" + t[0] + t[1])
    return st.lists(st.one_of(line, st.sampled_from([b"\r\n", b"\n"])), max_size=3).map(b"".join)


hex_upper = st.binary(min_size=5, max_size=5).map(lambda b: b.hex().upper())


@st.composite
def _em4100(draw: st.DrawFn) -> Frame:
    value = draw(hex_upper)
    return encode_em4100(value), [card(value)], None


@st.composite
def _parallax(draw: st.DrawFn) -> Frame:
    value = draw(hex_upper)
    return encode_parallax(value), [card(value)], None


@st.composite
def _pn532(draw: st.DrawFn) -> Frame:
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return ACK, [], None
    if choice == 1:
        return encode_no_target(), [], None
    if choice == 2:
        return ERROR_FRAME, [], None
    uid = draw(st.sampled_from([4, 7, 10]).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
    return encode_pn532(uid.hex()), [card(uid.hex().upper())], None


@st.composite
def _wedge(draw: st.DrawFn) -> Frame:
    digits = draw(st.text("0123456789", min_size=4, max_size=32))
    return encode_wedge(digits, draw(st.sampled_from([b"\r", b"\n", b"\r\n"]))), [card(digits)], None


@st.composite
def _cms50d(draw: st.DrawFn) -> Frame:
    spo2, pulse = draw(st.integers(1, 100)), draw(st.integers(1, 254))
    extras = {
        "signal": draw(st.integers(0, 15)),
        "pleth": draw(st.integers(0, 127)),
        "beep": draw(st.booleans()),
    }
    status = draw(st.sampled_from([None, None, None, "finger-out", "searching", "probe-error"]))
    if status:
        flags = {"finger_in": status != "finger-out", "searching": status == "searching"}
        packet = encode_cms50d(spo2, pulse, probe_error=status == "probe-error", **flags, **extras)
        return packet, [], ("status", status)
    model = "Contec CMS50D+"
    pair = [measurement("59408-5", spo2, "%", model), measurement("8867-4", pulse, "/min", model)]
    return encode_cms50d(spo2, pulse, **extras), pair, (spo2, pulse)


@st.composite
def _cms50d_v46(draw: st.DrawFn) -> Frame:
    spo2, pulse = draw(st.integers(1, 100)), draw(st.integers(1, 127))
    kind = draw(st.sampled_from([0xE0, 0xE0, 0xE1, 0xE2]))
    packet = encode_cms50d_v46(spo2, pulse, kind=kind, pleth=draw(st.integers(0, 127)))
    if kind != 0xE0:
        return packet, [], ("status", kind)
    model = "Contec CMS50D+ v4.6"
    return (
        packet,
        [measurement("59408-5", spo2, "%", model), measurement("8867-4", pulse, "/min", model)],
        (
            spo2,
            pulse,
        ),
    )


@st.composite
def _and_scale(draw: st.DrawFn) -> Frame:
    hundredths = draw(st.integers(1, 2_000_00))
    kilograms = hundredths / 100
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return encode_and_scale(kilograms, header="US"), [], ("status", "unstable")
    grams = choice == 1  # the same weight in grams must give the same reading
    line = encode_and_scale(hundredths * 10, unit="g", decimals=0) if grams else encode_and_scale(kilograms)
    return line, [measurement("29463-7", kilograms, "kg", "A&D")], ("weight", kilograms)


@st.composite
def _tanita(draw: st.DrawFn) -> Frame:
    weight = draw(st.integers(100, 3000)) / 10
    height = draw(st.none() | st.integers(1000, 2200).map(lambda h: h / 10))
    bmi = draw(st.none() | st.integers(100, 600).map(lambda b: b / 10))
    model = draw(st.sampled_from(["SC-330", "MC-780"]))
    frame = encode_tanita(weight=weight, height=height, bmi=bmi, model=model)
    out = [measurement("8302-2", height, "cm", model)] if height is not None else []
    out.append(measurement("29463-7", weight, "kg", model))
    out += [measurement("39156-5", bmi, "kg/m2", model)] if bmi is not None else []
    return frame, out, None


@st.composite
def _gatt_bp(draw: st.DrawFn) -> Frame:
    # SFLOAT has 12 bits of mantissa: tenths survive up to 204.5, so whole mmHg above that (as devices send)
    systolic = draw(st.integers(60, 260))
    diastolic = draw(st.integers(300, 1500)) / 10
    pulse = draw(st.none() | st.integers(30, 220))
    out = [measurement("8480-6", systolic, "mm[Hg]", None), measurement("8462-4", diastolic, "mm[Hg]", None)]
    out += [measurement("8867-4", pulse, "/min", None)] if pulse is not None else []
    return encode_gatt_bp(systolic, diastolic, None, pulse), out, None


@st.composite
def _gatt_temp(draw: st.DrawFn) -> Frame:
    celsius = draw(st.integers(3000, 4500)) / 100
    return encode_gatt_temp(celsius), [measurement("8310-5", celsius, "Cel", None)], None


FORMATS: dict[str, Format] = {
    f.driver: f
    for f in (
        Format("em4100", Em4100Parser, _em4100(), _bytes_without(0x02), lambda frame: range(len(frame))),
        Format("parallax", ParallaxParser, _parallax(), _bytes_without(0x0A)),
        Format(
            "pn532", Pn532Parser, _pn532(), _bytes_without(0x00, 0xFF), lambda frame: range(1, len(frame))
        ),
        Format("wedge", WedgeParser, _wedge(), _bad_lines()),
        Format(
            "cms50d",
            lambda: Cms50dParser(repeat_every=0),
            _cms50d(),
            st.binary(max_size=40).map(lambda b: bytes(x | 0x80 for x in b)),
        ),
        Format("cms50d-v46", lambda: ContecV46Parser(repeat_every=0), _cms50d_v46(), _bytes_without(0x01)),
        Format("and-scale", AndScaleParser, _and_scale(), _bad_lines()),
        Format(
            "tanita", TanitaParser, _tanita(), _bytes_without(ord("{")), lambda frame: range(len(frame) - 2)
        ),
        Format("gatt-bp", GattBloodPressureParser, _gatt_bp(), _bad_lines()),
        Format("gatt-temp", GattTemperatureParser, _gatt_temp(), _bad_lines()),
    )
}
