"""Real byte streams on pseudo-terminals (firmware_bridge simulators) into a kiosk runtime."""

from __future__ import annotations

import json
import threading

import pytest

from firmware_bridge.evdev_reader import EvdevWedgeReader
from firmware_bridge.simulators import SimulatedDevice
from kiosk.runtime import KioskRuntime
from tests.helpers import wait_until
from tests.kiosk.test_runtime import settings

A = "62E3086CED"


@pytest.fixture
def devices():
    made: list[SimulatedDevice] = []

    def make(driver: str, **kw) -> SimulatedDevice:
        device = SimulatedDevice(driver, seed=len(made), **kw)
        made.append(device)
        return device

    yield make
    for device in made:
        device.close()


@pytest.fixture
def runtimes():
    made: list[KioskRuntime] = []
    yield made
    for runtime in made:
        runtime.stop()


def start(runtimes, runtime: KioskRuntime) -> KioskRuntime:
    runtimes.append(runtime)
    runtime.start()
    for reader in runtime.devices.readers:
        assert reader.wait_connected(5), reader.name
    return runtime


@pytest.mark.parametrize("driver", ["em4100", "pn532", "wedge"])
def test_a_card_on_the_reader_is_one_tap_with_feedback(tmp_path, devices, runtimes, driver):
    reader = devices(driver, noise=True)
    runtime = KioskRuntime(settings(tmp_path, reader={"driver": driver, "port": reader.path}))
    heard = threading.Event()
    runtime.subscribe(lambda kind, payload: heard.set() if kind == "feedback" else None)
    start(runtimes, runtime)
    card = {"wedge": "0000472288", "pn532": "922E5832"}.get(driver, A)
    assert reader.tap(card)
    assert heard.wait(5)
    events = [json.loads(p.payload) for p in runtime.outbox.pending()]
    assert [(e["type"], e["data"]["card"]) for e in events] == [("checkin", card)]  # repeats suppressed


def test_an_unplugged_reader_is_a_fault_once_and_taps_work_after_replug(tmp_path, devices, runtimes):
    reader = devices("em4100")
    runtime = start(runtimes, KioskRuntime(settings(tmp_path, reader={"driver": "em4100", "port": reader.path})))
    reader.unplug()
    wait_until(lambda: "card-reader" in runtime.faults, what="reader fault")
    reader.replug()
    wait_until(lambda: not runtime.faults, timeout=15, what="reader restored")
    assert runtime.devices.readers[0].wait_connected(5)
    assert reader.tap(A)
    wait_until(lambda: A in runtime.controller.inside, what="tap after replug")
    types = [json.loads(p.payload)["type"] for p in runtime.outbox.pending()]
    assert types == ["fault", "heartbeat", "checkin"]  # the heartbeat says at once that the reader works again


def test_health_devices_feed_the_session(tmp_path, devices, runtimes):
    card, bp, oximeter = devices("em4100"), devices("gatt-bp"), devices("cms50d")
    scale, thermometer = devices("and-scale"), devices("gatt-temp")
    runtime = KioskRuntime(settings(tmp_path, mode="health-station", reader={"port": card.path},
                                    health={"devices": [{"driver": "gatt-bp", "port": bp.path},
                                                        {"driver": "cms50d", "port": oximeter.path},
                                                        {"driver": "and-scale", "port": scale.path},
                                                        {"driver": "gatt-temp", "port": thermometer.path}]}))
    start(runtimes, runtime)
    assert bp.measure(systolic=120, diastolic=80, pulse=72)
    assert runtime.session.phase == "idle" and not runtime.session.measurements  # nobody to give it to
    assert card.tap(A)
    wait_until(lambda: runtime.session.phase == "consent", what="consent asked")
    runtime.accept_consent()
    assert runtime.session.phase == "measuring"
    bp.measure(systolic=150, diastolic=95, pulse=80)
    oximeter.measure(spo2=97, pulse=72)
    scale.measure(weight=75.5)
    thermometer.measure(temperature=36.8)
    values = {"8480-6": 150, "8462-4": 95, "59408-5": 97, "29463-7": 75.5, "8310-5": 36.8}
    wait_until(lambda: all(runtime.session.value(c) == v for c, v in values.items()), what="all readings")
    runtime.enter_height(180)
    record = runtime.finish().data
    assert record.complete and {m.code for m in record.measurements} >= {*values, "8302-2", "39156-5"}
    assert [(r.measure, r.category) for r in runtime.session.results()][0] == ("bp", "stage-2")


def test_a_usb_wedge_reader_is_read_through_evdev_and_says_so_when_it_cannot_be(tmp_path, runtimes):
    # /dev/input/... with the wedge driver means a USB keyboard-wedge reader, grabbed through evdev. Without
    # the device (or the evdev package) the kiosk reports a reader fault with the reason and keeps working.
    runtime = KioskRuntime(settings(tmp_path, reader={"driver": "wedge", "port": "/dev/input/event-onestop-test"}))
    runtimes.append(runtime)
    runtime.start()
    wait_until(lambda: "card-reader" in runtime.faults, what="reader fault")
    faults = [json.loads(p.payload)["data"] for p in runtime.outbox.pending()
              if json.loads(p.payload)["type"] == "fault"]
    assert faults and faults[0]["component"] == "card-reader"
    assert "evdev" in faults[0]["error"] or "event-onestop-test" in faults[0]["error"]
    assert isinstance(runtime.devices.readers[0], EvdevWedgeReader)
    assert runtime.handle_card("0000472288").decision.feedback == "welcome"  # a tap still works


class Recorder:
    """A ``DeviceSink`` that only writes down what it was told: the hub needs no kiosk runtime."""

    def __init__(self) -> None:
        self.heard: list[tuple] = []

    def handle_card(self, card: str) -> None:
        self.heard.append(("card", card))

    def measurement(self, measurement) -> None:
        self.heard.append(("measurement", measurement.code, measurement.value))

    def device_status(self, component: str, status: str | None) -> None:
        self.heard.append(("status", component, status))

    def fault(self, component: str, error: str) -> None:
        self.heard.append(("fault", component))

    def restored(self, component: str) -> None:
        self.heard.append(("restored", component))


def test_the_device_hub_routes_a_tap_and_a_reading_to_any_sink_without_a_runtime(devices):
    from kiosk.devices import DeviceHub
    from kiosk.settings import DeviceSettings, ReaderSettings
    from onestop import clinical

    reader, scale = devices("em4100"), devices("and-scale")
    sink = Recorder()
    hub = DeviceHub(ReaderSettings(driver="em4100", port=reader.path),
                    [DeviceSettings(driver="and-scale", port=scale.path)], sink)
    hub.start()
    try:
        assert all(r.wait_connected(5) for r in hub.readers)
        assert reader.tap(A) and scale.measure(weight=61.5)
        wait_until(lambda: ("card", A) in sink.heard and ("measurement", clinical.BODY_WEIGHT, 61.5) in sink.heard,
                   what="tap and reading routed")
    finally:
        hub.stop()
