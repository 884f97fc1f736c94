"""Simulated devices: the streams they write decode to what was asked, noise never loses a reading,
and the pseudo-terminal behaves like an adapter that can be pulled out."""

from __future__ import annotations

import os
import random
import time

import pytest

from firmware_bridge.device_streams import (
    ContecV46Emulator,
    Pn532Emulator,
    check_values,
    measure_steps,
    tap_steps,
)
from firmware_bridge.drivers import DRIVERS
from firmware_bridge.encoders import ACK, KEEP_ALIVE, NACK, START, encode_command, encode_pn532
from firmware_bridge.protocols.pn532 import WAKE_UP, Pn532Parser
from firmware_bridge.simulators import SimulatedDevice

from .formats import feed, readings

MEASUREMENTS = {
    "cms50d": {"spo2": 97, "pulse": 72, "seconds": 0.5},
    "cms50d-v46": {"spo2": 94, "pulse": 101, "seconds": 0.5},
    "and-scale": {"weight": 75.5},
    "tanita": {"weight": 80.0, "height": 180.0},
    "gatt-bp": {"systolic": 120, "diastolic": 80, "pulse": 72, "kpa": True},
    "gatt-temp": {"temperature": 36.8},
}
EXPECTED = {
    "cms50d": [("59408-5", 97.0), ("8867-4", 72.0)],
    "cms50d-v46": [("59408-5", 94.0), ("8867-4", 101.0)],
    "and-scale": [("29463-7", 75.5)],
    "tanita": [("8302-2", 180.0), ("29463-7", 80.0), ("39156-5", 24.7)],
    "gatt-bp": [("8480-6", 120.0), ("8462-4", 80.0), ("8867-4", 72.0)],
    "gatt-temp": [("8310-5", 36.8)],
}


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("driver", sorted(MEASUREMENTS))
def test_measure_streams_decode_to_the_values_asked_for_with_or_without_noise(driver: str, seed: int) -> None:
    for noise in (False, True):
        steps = measure_steps(driver, MEASUREMENTS[driver], random.Random(seed), noise)
        events = feed(DRIVERS[driver].parser(), [step.data for step in steps])
        got = [(r["code"], r["value"]) for r in readings(events)]
        assert got[: len(EXPECTED[driver])] == EXPECTED[driver]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(("driver", "card"), [("em4100", "62E3086CED"), ("parallax", "0415AB29C3"),
                                              ("wedge", "0000472288")])  # fmt: skip
def test_tap_streams_decode_to_the_card_and_noise_adds_repeats_not_other_cards(
    driver: str, card: str, seed: int
) -> None:
    clean = feed(
        DRIVERS[driver].parser(), [s.data for s in tap_steps(driver, card, random.Random(seed), False)]
    )
    assert [r["card"] for r in readings(clean)] == [card]
    noisy = feed(
        DRIVERS[driver].parser(), [s.data for s in tap_steps(driver, card, random.Random(seed), True)]
    )
    assert {r["card"] for r in readings(noisy)} == {card}


def test_measure_refuses_missing_or_unknown_values_and_card_readers() -> None:
    with pytest.raises(TypeError, match="spo2"):
        check_values("cms50d", {"pulse": 70})
    with pytest.raises(TypeError, match="colour"):
        check_values("gatt-temp", {"temperature": 37, "colour": "red"})
    with pytest.raises(TypeError, match="tap"):
        check_values("em4100", {"weight": 3})


def test_the_pn532_emulator_acks_answers_and_holds_a_poll_until_a_card_comes() -> None:
    emulator = Pn532Emulator(random.Random(1))
    answer = emulator.receive(WAKE_UP + encode_command(0x14, b"\x01\x14\x01"))
    assert answer.startswith(ACK) and answer.endswith(bytes.fromhex("0000FF02FED5151600"))
    assert emulator.receive(encode_command(0x4A, b"\x01\x00")) == ACK  # no card yet: the poll waits
    assert emulator.present("922E5832") == encode_pn532("922E5832")  # the waiting poll is answered
    assert emulator.receive(NACK) == encode_pn532("922E5832")  # the host asks again: same answer
    assert emulator.receive(encode_command(0x4A, b"\x01\x00")) == ACK
    assert emulator.receive(ACK) == b""  # the host aborts the poll
    assert emulator.present("04A1B2C3") == b""  # nobody is polling: the card waits on the reader
    assert feed(Pn532Parser(), [emulator.receive(encode_command(0x4A, b"\x01\x00"))])[0].card == "04A1B2C3"
    assert emulator.answered == 2


def test_the_v46_emulator_streams_after_start_and_stops_without_keep_alive() -> None:
    emulator = ContecV46Emulator(silence_limit=15.0)
    assert not emulator.streaming(0.0)
    emulator.receive(KEEP_ALIVE, 0.0)
    assert not emulator.streaming(0.0)  # a keep-alive does not start it
    emulator.receive(START[:4], 1.0)
    emulator.receive(START[4:], 1.0)
    assert emulator.streaming(2.0)
    emulator.receive(KEEP_ALIVE, 10.0)
    assert emulator.streaming(24.0)
    assert not emulator.streaming(25.0)


def test_unplug_removes_the_path_and_replug_brings_the_same_path_back() -> None:
    with SimulatedDevice("em4100") as device:
        path = device.path
        first = os.path.realpath(path)
        assert os.path.exists(path) and first.startswith("/dev/")
        device.unplug()
        assert not os.path.exists(path) and not device.plugged
        assert device.tap("62E3086CED") is False
        device.replug()
        assert device.path == path and os.path.exists(path)
    assert not os.path.exists(os.path.dirname(path))  # close() cleans up


def test_writing_with_no_reader_never_blocks() -> None:
    with SimulatedDevice("cms50d") as device:
        started = time.monotonic()
        for _ in range(50):
            device.write(bytes(4096))
        assert time.monotonic() - started < 1.0


def test_tap_and_measure_are_refused_on_the_wrong_kind_of_device() -> None:
    with SimulatedDevice("gatt-bp") as device, pytest.raises(TypeError):
        device.tap("922E5832")
    with SimulatedDevice("pn532") as device, pytest.raises(TypeError):
        device.measure(weight=70)
