"""The serial runtime over real pseudo-terminals driven by the simulators: readings, unplug, replug, stop."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from firmware_bridge.drivers import SerialSettings
from firmware_bridge.readings import CardRead, DeviceStatus, MeasurementRead, PortFault, PortRestored
from firmware_bridge.serial_port import SerialReader
from firmware_bridge.simulators import SimulatedDevice

from .collect import Collector, count


@pytest.fixture
def collector() -> Collector:
    return Collector()


def reading_from(device: SimulatedDevice, collector: Collector, **options: float) -> SerialReader:
    reader = SerialReader(device.path, device.driver, collector, retry_initial=0.05, retry_max=0.2, **options)
    reader.start()
    assert reader.wait_connected(3.0)
    return reader


@pytest.fixture
def em4100(collector: Collector) -> Iterator[tuple[SimulatedDevice, SerialReader]]:
    with SimulatedDevice("em4100", seed=5, noise=True) as device:
        reader = reading_from(device, collector)
        yield device, reader
        reader.stop()


def test_a_held_card_repeating_its_frame_is_delivered_as_one_tap(em4100, collector: Collector) -> None:
    device, reader = em4100
    assert device.tap("62E3086CED")
    assert device.tap("0102030405")
    assert collector.wait_for(count(CardRead, 2))
    time.sleep(0.2)
    assert collector.cards() == ["62E3086CED", "0102030405"]
    assert reader.stats["card-repeats"] > 0  # the noisy reader repeated itself; the repeats were dropped


def test_unplug_reports_one_fault_and_every_frame_after_the_return_is_read(
    em4100, collector: Collector
) -> None:
    device, reader = em4100
    device.tap("62E3086CED")
    assert collector.wait_for(count(CardRead))
    device.unplug()
    assert collector.wait_for(count(PortFault))
    time.sleep(0.6)  # several failed reopen attempts: still only one fault
    assert len(collector.of(PortFault)) == 1
    assert not reader.connected
    device.replug()
    assert collector.wait_for(count(PortRestored))
    assert reader.wait_connected(2.0)
    cards = [f"00000000{n:02X}" for n in range(1, 6)]
    for card in cards:
        assert device.tap(card)
    assert collector.wait_for(lambda events: sum(isinstance(e, CardRead) for e in events) >= 6)
    assert collector.cards() == ["62E3086CED", *cards]
    kinds = [type(e).__name__ for e in collector.events if not isinstance(e, CardRead)]
    assert [k for k in kinds if k.startswith("Port")] == ["PortFault", "PortRestored"]


def test_a_port_missing_at_start_is_a_fault_until_the_device_appears(collector: Collector) -> None:
    with SimulatedDevice("wedge") as device:
        device.unplug()
        reader = SerialReader(device.path, "wedge", collector, retry_initial=0.05, retry_max=0.1)
        reader.start()
        try:
            assert collector.wait_for(count(PortFault))
            assert "cannot open" in collector.of(PortFault)[0].error
            device.replug()
            assert collector.wait_for(count(PortRestored))
            assert reader.wait_connected(2.0)
            device.tap("0000472288")
            assert collector.wait_for(count(CardRead))
            assert collector.cards() == ["0000472288"]
        finally:
            reader.stop()


def test_stop_joins_the_reader_thread_within_a_second_even_while_backing_off(collector: Collector) -> None:
    with SimulatedDevice("tanita") as device:
        reader = reading_from(device, collector)
        started = time.monotonic()
        reader.stop()
        assert time.monotonic() - started < 1.0
        assert reader._thread is not None and not reader._thread.is_alive()
        device.unplug()
        waiting = SerialReader(device.path, "tanita", collector, retry_initial=30.0, retry_max=30.0)
        waiting.start()
        assert collector.wait_for(count(PortFault))
        started = time.monotonic()
        waiting.stop()
        assert time.monotonic() - started < 1.0
        assert waiting._thread is not None and not waiting._thread.is_alive()


@pytest.mark.parametrize(
    ("driver", "values", "codes"),
    [
        ("cms50d", {"spo2": 97, "pulse": 72, "seconds": 0.3}, ["59408-5", "8867-4"]),
        ("cms50d-v46", {"spo2": 95, "pulse": 88, "seconds": 0.3}, ["59408-5", "8867-4"]),
        ("and-scale", {"weight": 75.5}, ["29463-7"]),
        ("tanita", {"weight": 80.0, "height": 180.0}, ["8302-2", "29463-7", "39156-5"]),
        ("gatt-bp", {"systolic": 128, "diastolic": 84, "pulse": 70}, ["8480-6", "8462-4", "8867-4"]),
        ("gatt-temp", {"temperature": 37.9, "fahrenheit": True}, ["8310-5"]),
    ],
)
def test_measurements_from_a_noisy_device_arrive_in_the_contract_units(
    driver: str, values: dict, codes: list[str], collector: Collector
) -> None:
    with SimulatedDevice(driver, seed=11, noise=True) as device:
        reader = reading_from(device, collector)
        try:
            assert device.measure(**values)
            assert collector.wait_for(
                lambda events: sum(isinstance(e, MeasurementRead) for e in events) >= len(codes)
            )
            time.sleep(0.1)
        finally:
            reader.stop()
    got = collector.of(MeasurementRead)
    assert [m.code for m in got[: len(codes)]] == codes
    units = {m.code: m.unit for m in got}
    assert units.get("8310-5", "Cel") == "Cel" and units.get("8480-6", "mm[Hg]") == "mm[Hg]"
    if driver == "gatt-temp":
        assert got[0].value == 37.9


def test_pn532_is_woken_polled_and_reads_taps_again_after_a_replug(collector: Collector) -> None:
    with SimulatedDevice("pn532", seed=3, noise=True) as device:
        reader = reading_from(device, collector)
        try:
            assert collector.wait_for(count(DeviceStatus))
            assert collector.of(DeviceStatus)[0].status == "ready"
            assert device.tap("922E5832")
            assert collector.wait_for(count(CardRead))
            device.unplug()
            assert collector.wait_for(count(PortFault))
            device.replug()
            assert collector.wait_for(
                lambda ev: [e.status for e in ev if isinstance(e, DeviceStatus)].count("ready") == 2
            )
            time.sleep(1.1)  # past the repeat window: the same card again is a new tap
            assert device.tap("922E5832")
            assert device.tap("04A2B3C4D5E680")
            assert collector.wait_for(count(CardRead, 3))
        finally:
            reader.stop()
    assert collector.cards() == ["922E5832", "922E5832", "04A2B3C4D5E680"]


def test_the_v46_oximeter_streams_only_after_the_runtime_sent_the_start_command(collector: Collector) -> None:
    with SimulatedDevice("cms50d-v46") as device:
        device.start_timeout = 0.3
        assert not device.measure(spo2=97, pulse=72, seconds=0.1)  # nobody started it: it stays silent
        reader = reading_from(device, collector)
        try:
            assert device.measure(spo2=97, pulse=72, seconds=0.2)
            assert collector.wait_for(count(MeasurementRead, 2))
        finally:
            reader.stop()


def test_a_failing_callback_is_counted_and_does_not_stop_the_reader() -> None:
    seen: list = []

    def fragile(event: object) -> None:
        seen.append(event)
        if len(seen) == 1:
            raise RuntimeError("kiosk bug")

    with SimulatedDevice("wedge") as device:
        reader = SerialReader(device.path, "wedge", fragile, repeat_window=0)
        reader.start()
        try:
            assert reader.wait_connected(3.0)
            device.tap("1111")
            device.tap("2222")
            deadline = time.monotonic() + 3
            while len(seen) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            reader.stop()
    assert [e.card for e in seen] == ["1111", "2222"]
    assert reader.stats["callback-errors"] == 1


def test_impossible_line_settings_fail_when_the_reader_is_made() -> None:
    with pytest.raises(ValueError):
        SerialReader("/dev/null", "em4100", print, settings=SerialSettings(9600, bytesize=9))
    with pytest.raises(ValueError):
        SerialReader("/dev/null", "em4100", print, settings=SerialSettings(9600, parity="X"))
