"""A busy hour with crashes: the chain of custody (ARCHITECTURE.md) holds through every fault at once.

Three kiosks and a health station (in-process ``KioskRuntime``s with their durable outboxes) serve a stream
of students while the test, in a seeded order, kills with SIGKILL and restarts the gateway, the central
service and the broker, and breaks the gateway↔central link through a fault-injecting proxy (connections
refused and reset, a blackhole, added latency). Afterwards the account is settled from the devices' own
records — the envelopes ``handle_card`` and ``finish`` returned, and each outbox's sequence counter:

- every event any device created is in central's ``events`` table exactly once, with the same device,
  sequence number, type and data;
- per device, central holds the sequence numbers 1..last without a gap or a repeat (heartbeats included);
- the gateway's backlog drains to zero.

Randomness is seeded (which card, which kiosk, the order and length of faults); waits are generous but
bounded, and each names what it waits for.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from harness.localsite import LocalSite
from harness.proxy import FaultProxy
from kiosk.runtime import KioskRuntime
from onestop import topics
from onestop.events import Envelope, Measurement
from onestop.payloads import GatewayState
from tests.conftest import KIOSKS
from tests.helpers import query, raw_client, wait_until
from tests.system.rig import (
    DIASTOLIC,
    FROZEN_AFTER_S,
    HEALTH_STATION,
    PULSE,
    SPO2,
    SYSTOLIC,
    frozen_report,
    gateway_stats,
    service,
    settle_outboxes,
    within,
)

pytestmark = pytest.mark.slow

SEED = 8_2026
TAPS_PER_SECOND = 30
INSIDE_PER_KIOSK = 15  # each kiosk checks the oldest card out once this many are inside


class BusyHour:
    """Students tapping in and out at the kiosks, and screenings at the health station, on a thread.

    Everything a device returned is kept in ``created`` (device -> envelopes): the devices' own record of
    what they promised to deliver.
    """

    def __init__(self, kiosks: list[KioskRuntime], station: KioskRuntime, rng: random.Random) -> None:
        self.kiosks, self.station, self.rng = kiosks, station, rng
        self.created: dict[str, list[Envelope]] = defaultdict(list)
        self.cards: set[str] = set()
        self._inside: dict[str, list[str]] = {k.settings.device: [] for k in kiosks}
        self._next_card = 0
        self._doing: tuple[str, str] | None = None  # (device, action) while a device call is under way
        self._since = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="busy-hour", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(FROZEN_AFTER_S)
        self.check()
        assert not self._thread.is_alive(), "the busy hour did not stop"
        if self.error:
            raise self.error

    def check(self) -> None:
        """Fail (with the stacks that show why) if a device call has hung."""
        doing, since = self._doing, self._since
        if doing is not None and time.monotonic() - since > FROZEN_AFTER_S:
            raise AssertionError(frozen_report(doing[0], doing[1], time.monotonic() - since))

    def _call(self, device: str, action: str, fn, *args):  # type: ignore[no-untyped-def]
        self._doing, self._since = (device, action), time.monotonic()
        result = fn(*args)
        self._doing = None
        return result

    def _card(self) -> str:
        self._next_card += 1
        card = f"{0x5E000000 + self._next_card * 7919:08X}"  # distinct, spread out, 8 hex digits like a UID
        self.cards.add(card)
        return card

    def _keep(self, device: str, event: Envelope | None) -> None:
        if event is not None:
            self.created[device].append(event)

    def _tap(self) -> None:
        kiosk = self.rng.choice(self.kiosks)
        device = kiosk.settings.device
        inside = self._inside[device]
        leaving = len(inside) >= INSIDE_PER_KIOSK or (inside and self.rng.random() < 0.3)
        card = inside.pop(0) if leaving else self._card()
        tap = self._call(device, "handle_card", kiosk.handle_card, card)
        assert tap.decision.feedback == ("goodbye" if leaving else "welcome"), tap.decision
        if not leaving:
            inside.append(card)
        self._keep(device, tap.event)

    def _screen(self) -> None:
        station = self.station
        device = station.settings.device
        self._call(device, "handle_card", station.handle_card, self._card())
        self._call(device, "accept_consent", station.accept_consent)
        for code, value, unit in ((SYSTOLIC, self.rng.randint(105, 135), "mm[Hg]"),
                                  (DIASTOLIC, self.rng.randint(65, 85), "mm[Hg]"),
                                  (PULSE, self.rng.randint(55, 95), "/min"), (SPO2, self.rng.randint(95, 99), "%")):
            assert station.measurement(Measurement(code=code, value=value, unit=unit, device_model="chaos"))
        self._keep(device, self._call(device, "finish", station.finish))
        station.done()

    def _run(self) -> None:
        try:
            step = 0
            started = time.monotonic()
            while not self._stop.is_set():
                if step % 12 == 11:
                    self._screen()
                else:
                    self._tap()
                step += 1
                time.sleep(max(0.0, started + step / TAPS_PER_SECOND - time.monotonic()))
        except BaseException as exc:  # surfaced by stop(), in the test's thread
            self.error = exc


def broker_saved_since(site: LocalSite, moment: float) -> bool:
    """Whether Mosquitto has written its persistence file (autosave, every 5 s) after ``moment``."""
    db = Path(site.broker.layout.data) / "mosquitto.db"
    return db.exists() and db.stat().st_mtime > moment


def central_events(site: LocalSite) -> list[tuple[str, str, int, str, str]]:
    return query(site.path("central/central.db"), "SELECT id, device, seq, type, data FROM events")


def test_a_busy_hour_through_crashes_and_link_faults_delivers_every_event_exactly_once(site, kiosk_factory):
    rng = random.Random(SEED)
    proxy = FaultProxy(site.central_port, lifetime_s=280)
    central = service(site, "central")
    gateway = service(site, "gateway", {"ONESTOP_GATEWAY__CENTRAL__URL": proxy.url})
    hour: BusyHour | None = None
    site.broker.start()
    try:
        central.start()
        proxy.start()
        gateway.start()
        # A broker crash restores its last autosave: the gateway's persistent session must be in one, as it
        # is in any building where the gateway has been up for more than a few seconds.
        wait_until(lambda: httpx.get(f"{site.gateway_url}/healthz").json()["broker"], what="gateway subscribed")
        subscribed_at = time.time()
        wait_until(lambda: broker_saved_since(site, subscribed_at), timeout=15,
                   what="the broker's autosave holding the gateway's session")
        kiosks = [kiosk_factory(k.device) for k in KIOSKS]
        station = kiosk_factory(HEALTH_STATION)
        devices = [*kiosks, station]
        wait_until(lambda: all(d.link.connected for d in devices), what="every device connected")
        hour = BusyHour(kiosks, station, rng)
        hour.start()

        def crash(component, hold: float) -> None:
            component.kill()
            time.sleep(hold)
            component.start()

        def crash_gateway_and_broker(hold: float) -> None:
            gateway.kill()
            site.broker.kill()
            time.sleep(hold)
            site.broker.start()
            gateway.start()

        def wan_refused(hold: float) -> None:
            proxy.set_mode("drop")
            proxy.reset_connections()
            time.sleep(hold)
            proxy.set_mode("pass")

        def wan_blackhole(hold: float) -> None:
            with proxy.fault("stall"):
                time.sleep(hold)

        def wan_slow(hold: float) -> None:
            with proxy.fault("latency", latency_s=0.4):
                time.sleep(hold)

        faults: list[tuple[str, Callable[[float], None]]] = [
            ("gateway crash", lambda hold: crash(gateway, hold)),
            ("central crash", lambda hold: crash(central, hold)),
            ("broker crash", lambda hold: crash(site.broker, hold)),
            ("gateway and broker crash", crash_gateway_and_broker),
            ("WAN refused and reset", wan_refused),
            ("WAN blackhole", wan_blackhole),
            ("WAN slow", wan_slow),
        ]
        schedule = faults + rng.sample(faults[:3], 3)
        rng.shuffle(schedule)
        time.sleep(2.0)
        for name, fault in schedule:
            fault(round(rng.uniform(1.0, 3.0), 1))
            time.sleep(round(rng.uniform(1.0, 2.5), 1))  # traffic flows between faults
            assert gateway.running and central.running and site.broker.running, f"not all up after {name}"
            hour.check()
        hour.stop()

        # Settle the account from the devices' own records.
        settle_outboxes(devices, timeout=60)
        last_seq = {d.settings.device: d.outbox.last_seq() for d in devices}
        created = [env for envelopes in hour.created.values() for env in envelopes]
        assert len(created) > 500 and len(hour.created[HEALTH_STATION]) > 30, "too little traffic to prove much"

        def everything_at_central() -> bool:
            have = {(device, seq) for _id, device, seq, _type, _data in central_events(site)}
            return all((device, seq) in have for device, last in last_seq.items() for seq in range(1, last + 1))

        wait_until(everything_at_central, timeout=120, interval=0.5, what="every device's events at central")
        wait_until(lambda: gateway_stats(site)["backlog"] == 0, timeout=60, interval=0.5,
                   what="the gateway's backlog drained")

        rows = central_events(site)
        by_id = {row[0]: row for row in rows}
        assert len(by_id) == len(rows)
        for env in created:
            row = by_id.get(env.id)
            assert row is not None, f"{env.type} {env.device}#{env.seq} never reached central"
            assert row[1:4] == (env.device, env.seq, env.type), f"{env.id} changed on the way: {row[1:4]}"
            assert json.loads(row[4]) == json.loads(env.to_json())["data"], f"{env.id}: data changed on the way"
        for device in last_seq:
            seqs = Counter(seq for _id, dev, seq, _type, _data in rows if dev == device)
            doubled = sorted(seq for seq, n in seqs.items() if n > 1)
            assert not doubled, f"{device}: sequence numbers at central twice: {doubled[:10]}"
            top = max(seqs)  # a heartbeat may have followed the snapshot of last_seq
            assert top >= last_seq[device]
            assert sorted(seqs) == list(range(1, top + 1)), f"{device}: gaps at central"
        # The faults were real: the proxy refused and reset connections, and every crash was a restart.
        assert proxy.stats.dropped + proxy.stats.reset > 0
        gateway_log = site.path("logs/gateway.log").read_text()
        assert "central service is unreachable" in gateway_log
        crashes = Counter(name for name, _fault in schedule)
        assert gateway_log.count("Application startup complete") == (
            1 + crashes["gateway crash"] + crashes["gateway and broker crash"])
        assert site.path("logs/central.log").read_text().count("Application startup complete") == (
            1 + crashes["central crash"])
    finally:
        if hour is not None:
            hour._stop.set()
        gateway.stop()
        central.stop()
        proxy.stop()
        site.broker.stop()


def test_a_kiosk_keeps_answering_taps_while_the_broker_acknowledges_its_backlog(site, kiosk_factory):
    """What the busy hour found, made certain: a kiosk whose backlog is being acknowledged must still answer
    taps and keep draining its outbox.

    The kiosk queues 30 taps while the broker is down, then the broker returns and the whole backlog is handed
    to paho at once. Each ``publish`` call is slowed by 20 ms (what a loaded Raspberry Pi can take), which
    turns the rare interleaving of the busy hour — a PUBACK for one event arriving while the next event is
    being handed over — into a certain one. Nothing else is changed.
    """
    site.broker.start()
    try:
        # No gateway runs here; the retained birth it would have left tells the kiosk its events are kept.
        gateway = raw_client(site.broker_port, site.gateway_user.username, site.gateway_user.password)
        birth = GatewayState(online=True, boot="test").model_dump_json().encode()
        gateway.publish(topics.gateway_state(site.site), birth, qos=1, retain=True).wait_for_publish(5)
        gateway.disconnect()
        gateway.loop_stop()
        kiosk = kiosk_factory(KIOSKS[0].device)
        wait_until(lambda: kiosk.link.connected, what="kiosk connected")
        site.broker.stop()
        wait_until(lambda: not kiosk.link.connected, what="kiosk noticed the broker is gone")
        queued = [kiosk.handle_card(f"9E{i:06X}") for i in range(30)]
        assert all(t.decision.feedback == "welcome" for t in queued)
        publish = kiosk.link.client.publish

        def loaded_publish(message):  # type: ignore[no-untyped-def]
            time.sleep(0.02)
            return publish(message)

        kiosk.link.client.publish = loaded_publish  # type: ignore[method-assign]
        site.broker.start()
        wait_until(lambda: kiosk.link.connected, timeout=30, what="kiosk reconnected")
        time.sleep(1.0)  # the backlog is being handed over and acknowledged

        tap = within(kiosk.settings.device, kiosk.handle_card, "9F000001")
        assert tap.decision.feedback == "welcome"
        wait_until(lambda: kiosk.outbox.depth() == 0, timeout=30, what="the kiosk's backlog acknowledged")
    finally:
        site.broker.stop()
