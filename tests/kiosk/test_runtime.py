"""The runtime without a broker: events are durable before feedback, presence survives restarts, the health
session is recorded, faults are reported once, cfg is applied."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.netutil import free_port
from kiosk.i18n import CONSENT_VERSION, tr
from kiosk.runtime import KioskRuntime
from kiosk.settings import KioskSettings
from onestop.events import Measurement
from tests.helpers import data_key

A, B = "922E5832", "62E3086CED"


def settings(tmp_path: Path, **extra) -> KioskSettings:
    # Nothing listens on the broker port: the kiosk works offline, as it must.
    return KioskSettings.model_validate({
        "site": "test-site", "device": "kiosk-unit-1", "space": "study-24h-2f", "data_dir": str(tmp_path),
        "data_key": data_key(tmp_path), "broker": {"host": "127.0.0.1", "port": free_port()}, **extra})


@pytest.fixture
def make(tmp_path):
    made: list[KioskRuntime] = []

    def build(**extra) -> KioskRuntime:
        runtime = KioskRuntime(settings(tmp_path, **extra))
        made.append(runtime)
        return runtime

    yield build
    for runtime in made:
        if not runtime._stopping.is_set():
            runtime.stop()


def pending(runtime: KioskRuntime) -> list[dict]:
    return [json.loads(p.payload) for p in runtime.outbox.pending()]


def test_the_event_is_in_the_outbox_when_the_listener_hears_the_feedback(make):
    runtime = make()
    seen = []
    runtime.subscribe(lambda kind, payload: seen.append((kind, payload.feedback, runtime.outbox.depth())))
    tap = runtime.handle_card(A)
    assert tap.decision.feedback == "welcome"
    assert seen == [("feedback", "welcome", 1)]
    assert pending(runtime)[0]["id"] == tap.event.id


def test_the_legacy_feedback_callback_still_works(tmp_path):
    heard = []
    runtime = KioskRuntime(settings(tmp_path), on_feedback=heard.append)
    try:
        runtime.handle_card(A)
    finally:
        runtime.stop()
    assert [d.feedback for d in heard] == ["welcome"]


def test_who_is_inside_survives_a_restart(make):
    first = make()
    first.handle_card(A)
    first.handle_card(B)
    first.handle_card(B)
    first.stop()
    second = make()
    assert set(second.controller.inside) == {A}
    assert second.handle_card(A).decision.feedback == "goodbye"
    assert [e["seq"] for e in pending(second)] == [1, 2, 3, 4]  # the sequence continues too


def test_a_stay_forgotten_as_too_old_is_forgotten_on_disk_too_and_own_taps_are_kept(make):
    first, monday = make(), datetime(2026, 12, 7, 8, tzinfo=UTC)
    first.handle_card(A, monday)
    first.handle_card(B, monday + timedelta(hours=13))  # A's stay is past max_stay_h (12 h): forgotten
    first.stop()
    second = make()
    assert set(second.controller.inside) == {B}
    space = second.controller.space
    assert [(t.seq, t.event_type, t.card) for t in second.presence.load_own(space)] == [(1, "checkin", A),
                                                                                        (2, "checkin", B)]


def test_a_broken_listener_does_not_stop_taps(make):
    runtime = make()
    runtime.subscribe(lambda kind, payload: 1 / 0)
    assert runtime.handle_card(A).event is not None


def test_a_tap_the_outbox_cannot_record_says_so_and_changes_nothing_until_a_retry_succeeds(make):
    runtime = make()
    # Another process holds the outbox's write lock (a busy database, like a full disk: the write fails).
    runtime.outbox._conn.execute("PRAGMA busy_timeout = 100")  # the tap should not wait the default 30 s
    blocker = sqlite3.connect(runtime.settings.outbox_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    heard = []
    runtime.subscribe(lambda kind, payload: heard.append(payload.feedback) if kind == "feedback" else None)
    failed = runtime.handle_card(A)
    assert (failed.decision.feedback, failed.decision.positive, failed.event) == ("not-recorded", False, None)
    assert heard == ["not-recorded"]
    assert A not in runtime.controller.inside and runtime.not_recorded == 1
    assert tr("not-recorded_detail", "en") == "Please try again or ask staff."
    assert tr("not-recorded", "zh") != "not-recorded"
    blocker.execute("ROLLBACK")
    blocker.close()
    retry = runtime.handle_card(A)
    assert retry.decision.feedback == "welcome" and A in runtime.controller.inside
    assert [e["type"] for e in pending(runtime)] == ["checkin"]
    runtime.stop()
    assert set(make().controller.inside) == {A}  # the presence cache agrees after a restart


def test_cfg_from_the_gateway_changes_space_capacity_and_mode(make):
    runtime = make(capacity=50)
    runtime._config({"device": "kiosk-unit-1", "space": "skills-lab-1", "capacity": 1, "display_name": "Lab"})
    assert (runtime.config.space, runtime.controller.capacity) == ("skills-lab-1", 1)
    assert runtime.handle_card(A).event.data.space == "skills-lab-1"
    assert runtime.handle_card(B).decision.feedback == "full"
    runtime._config({"space": "skills-lab-1", "capacity": "many"})  # only the bad section is refused
    assert (runtime.config.space, runtime.controller.capacity) == ("skills-lab-1", 50)
    assert runtime.cfg_sections_refused == 1
    runtime._config({"activity": "yoga-tuesday"})  # a fresh cfg replaces the previous one
    assert runtime.config.space == "study-24h-2f"
    assert runtime.handle_card(A).decision.feedback == "attendance"


def test_occupancy_for_this_space_updates_the_count_and_other_spaces_are_ignored(make):
    runtime = make(capacity=3)
    runtime._occupancy({"space": "skills-lab-1", "count": 99, "capacity": 100})
    assert runtime.occupancy is None
    runtime._occupancy({"space": "study-24h-2f", "count": 3, "capacity": 3, "ts": "2026-11-23T09:00:00Z"})
    assert runtime.handle_card(A).decision.feedback == "full"


def test_a_fault_is_recorded_once_per_outage(make):
    runtime = make()
    runtime.fault("card-reader", "port /dev/ttyUSB0 unplugged")
    runtime.fault("card-reader", "port /dev/ttyUSB0 unplugged")
    assert runtime.faults == {"card-reader": "port /dev/ttyUSB0 unplugged"}
    runtime.restored("card-reader")
    runtime.fault("card-reader", "port /dev/ttyUSB0 unplugged")
    # The recovery is a heartbeat at once, listing what still fails (nothing): the gateway closes the
    # reader's work order on it (docs/work-orders.md).
    events = pending(runtime)
    assert [e["type"] for e in events] == ["fault", "heartbeat", "fault"]
    assert events[1]["data"]["faults"] == ""


def test_the_screen_iterates_snapshots_while_device_threads_change_states_and_faults(make):
    runtime = make(mode="health-station")
    for i in range(50):
        runtime.device_status(f"device-{i}", "searching")
    snapshot = runtime.device_states
    runtime.device_status("device-0", None)
    assert "device-0" in snapshot and "device-0" not in runtime.device_states  # a copy, not the live dict
    stop = threading.Event()

    def device_thread() -> None:  # what readers and devices do from their own threads
        i = 0
        while not stop.is_set():
            runtime.device_status(f"device-{i % 100}", None if i % 2 else "finger-out")
            runtime.restored("card-reader") if i % 3 else runtime.fault("card-reader", f"gone {i % 2}")
            i += 1

    worker = threading.Thread(target=device_thread)
    worker.start()
    try:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:  # what the Kivy screen does while drawing
            for _component, _status in runtime.device_states.items():
                time.sleep(0)
            for _component in runtime.faults:
                time.sleep(0)
    finally:
        stop.set()
        worker.join()


def reading(code: str, value: float, unit: str) -> Measurement:
    return Measurement(code=code, value=value, unit=unit, device_model="sim")


def test_a_health_station_session_is_recorded_before_the_results_show(make):
    runtime = make(mode="health-station")
    sessions = []
    runtime.subscribe(lambda kind, payload: sessions.append((kind, runtime.session.phase, runtime.outbox.depth())))
    tap = runtime.handle_card(A)
    assert (tap.decision.feedback, tap.event) == ("identified", None)
    runtime.accept_consent()
    assert runtime.measurement(reading("8480-6", 120, "mm[Hg]"))
    runtime.begin("GAD-7")
    for _ in range(7):
        runtime.answer(1)
    event = runtime.finish()
    assert sessions[-1] == ("session", "results", 1)
    data = event.data
    assert data.complete and data.subject == A and data.questionnaires[0].score == 7
    runtime.done()
    assert runtime.session.phase == "idle"


def test_a_declined_consent_records_nothing_and_the_station_resets(make):
    runtime = make(mode="health-station")
    runtime.handle_card(A)
    assert runtime.session.phase == "consent"
    assert not runtime.measurement(reading("8480-6", 120, "mm[Hg]"))  # nothing taken before consent
    runtime.decline_consent()
    assert runtime.session.phase == "idle" and runtime.session.subject is None
    assert runtime.tick(time.monotonic() + 500) is None
    runtime.stop()
    reopened = sqlite3.connect(runtime.settings.outbox_path)
    try:
        assert reopened.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
    finally:
        reopened.close()


def test_the_screening_in_the_outbox_carries_the_consent_version_and_time(make):
    runtime = make(mode="health-station")
    runtime.handle_card(A)
    before = datetime.now(UTC)
    runtime.accept_consent()
    runtime.measurement(reading("8480-6", 120, "mm[Hg]"))
    runtime.finish()
    [written] = pending(runtime)
    consent = written["data"]["consent"]
    assert consent["version"] == CONSENT_VERSION
    agreed = datetime.fromisoformat(consent["at"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= agreed <= datetime.now(UTC)


def test_a_health_station_refuses_unknown_cards_and_ignores_readings_without_a_session(make):
    runtime = make(mode="health-station")
    assert runtime.handle_card("nope").decision.feedback == "unknown-card"
    assert not runtime.measurement(reading("8480-6", 120, "mm[Hg]"))
    assert runtime.outbox.depth() == 0


def test_the_privacy_timeout_records_an_abandoned_session(make):
    runtime = make(mode="health-station", health={"idle_timeout_s": 30})
    runtime.handle_card(A)
    runtime.accept_consent()
    runtime.measurement(reading("59408-5", 91, "%"))
    assert runtime.tick(time.monotonic() + 10) is None
    event = runtime.tick(time.monotonic() + 31)
    assert event is not None and not event.data.complete
    assert runtime.session.phase == "idle"


def test_cfg_thresholds_reach_the_health_session(make):
    runtime = make(mode="health-station")
    runtime._config({"thresholds": {"fever_c": 37.5}})
    runtime.handle_card(A)
    runtime.accept_consent()
    runtime.measurement(reading("8310-5", 37.6, "Cel"))
    assert [r.category for r in runtime.session.results()] == ["fever"]


def test_the_example_configuration_in_deploy_loads():
    from kiosk.settings import load

    example = Path(__file__).resolve().parents[2] / "deploy/kiosk/kiosk.example.toml"
    settings = load(example)
    assert (settings.device, settings.reader.port, settings.screen.language) == (
        "kiosk-b3-lobby", "/dev/onestop-reader", "en")


def test_a_screening_the_outbox_cannot_take_is_kept_and_written_when_it_can_and_the_timeout_keeps_running(make):
    """NotRecordedError means retry: a health station whose outbox is locked (or its disk full) keeps the
    abandoned session's record and writes it once the outbox takes writes again; the privacy time-out, which
    used to die with the first failed write, still clears the screen for the next student."""
    runtime = make(mode="health-station", health={"idle_timeout_s": 30})
    runtime.outbox._conn.execute("PRAGMA busy_timeout = 100")
    runtime.handle_card(A)
    runtime.accept_consent()
    runtime.measurement(reading("59408-5", 91, "%"))
    blocker = sqlite3.connect(runtime.settings.outbox_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    assert runtime.tick(time.monotonic() + 31) is None
    assert runtime.session.phase == "idle"  # the next student does not see this one's readings
    runtime.fault("card-reader", "unplugged")  # kept too, in order
    assert runtime.faults == {"card-reader": "unplugged"}
    runtime.tick()
    blocker.execute("ROLLBACK")
    blocker.close()
    assert pending(runtime) == []
    runtime.tick()
    written = pending(runtime)
    assert [e["type"] for e in written] == ["screening", "fault"]
    assert written[0]["data"]["subject"] == A and not written[0]["data"]["complete"]
    assert runtime.records_lost == 0
