"""The evdev wedge reader: key events to card reads, grab, and reconnect, with a fake input device."""

from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass

from firmware_bridge.evdev_reader import EvdevWedgeReader
from firmware_bridge.protocols.wedge import key_codes
from firmware_bridge.readings import CardRead, PortFault, PortRestored

from .collect import Collector, count


@dataclass
class KeyEvent:
    type: int
    code: int
    value: int


class FakeInputDevice:
    """Stands in for evdev.InputDevice: a pipe to wake select(), a queue of events, a way to vanish."""

    def __init__(self) -> None:
        self._read_end, self._write_end = os.pipe()
        self.fd = self._read_end
        self._queue: list[KeyEvent] = []
        self._lock = threading.Lock()
        self.grabbed = False
        self.gone = False

    def type_card(self, card: str) -> None:
        with self._lock:
            for code in key_codes(card):
                self._queue += [KeyEvent(1, code, 1), KeyEvent(0, 0, 0), KeyEvent(1, code, 0)]
        os.write(self._write_end, b"x")

    def vanish(self) -> None:
        self.gone = True
        os.write(self._write_end, b"x")

    def grab(self) -> None:
        self.grabbed = True

    def ungrab(self) -> None:
        if self.gone:
            raise OSError(errno.ENODEV, "No such device")
        self.grabbed = False

    def read(self) -> list[KeyEvent]:
        os.read(self._read_end, 4096)
        if self.gone:
            raise OSError(errno.ENODEV, "No such device")
        with self._lock:
            events, self._queue = self._queue, []
        return events

    def close(self) -> None:
        os.close(self._read_end)
        os.close(self._write_end)


class Opener:
    """Opens fake devices; fails while ``present`` is False, like a missing /dev/input path."""

    def __init__(self) -> None:
        self.present = True
        self.devices: list[FakeInputDevice] = []

    def __call__(self, path: str) -> FakeInputDevice:
        if not self.present:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        self.devices.append(FakeInputDevice())
        return self.devices[-1]


def test_typed_cards_are_read_from_a_grabbed_device_and_held_repeats_are_one_tap() -> None:
    opener, collector = Opener(), Collector()
    reader = EvdevWedgeReader("/dev/input/by-id/usb-reader-kbd", collector, opener=opener)
    reader.start()
    try:
        assert reader.wait_connected(2.0)
        device = opener.devices[0]
        assert device.grabbed
        device.type_card("0000472288")
        device.type_card("0000472288")  # the same card again at once: a repeat
        device.type_card("0000472299")
        assert collector.wait_for(count(CardRead, 2))
    finally:
        reader.stop()
    assert collector.cards() == ["0000472288", "0000472299"]


def test_an_unplugged_keyboard_reader_is_one_fault_and_is_read_again_when_back() -> None:
    opener, collector = Opener(), Collector()
    reader = EvdevWedgeReader(
        "/dev/input/event7", collector, opener=opener, retry_initial=0.02, retry_max=0.05
    )
    reader.start()
    try:
        assert reader.wait_connected(2.0)
        opener.present = False
        opener.devices[0].vanish()
        assert collector.wait_for(count(PortFault))
        opener.present = True
        assert collector.wait_for(count(PortRestored))
        assert reader.wait_connected(2.0)
        opener.devices[-1].type_card("1234567890")
        assert collector.wait_for(count(CardRead))
    finally:
        reader.stop()
    assert len(collector.of(PortFault)) == 1
    assert collector.cards() == ["1234567890"]


def test_without_the_evdev_package_the_reader_reports_a_fault_instead_of_crashing() -> None:
    collector = Collector()
    reader = EvdevWedgeReader("/dev/input/event0", collector, retry_initial=10.0)
    reader.start()
    try:
        assert collector.wait_for(count(PortFault))
    finally:
        reader.stop()
    assert "evdev" in collector.of(PortFault)[0].error or "cannot open" in collector.of(PortFault)[0].error
