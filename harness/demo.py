"""``onestop demo``: a simulated building on this machine.

Everything is real except the people and the hardware: Mosquitto with passwords and ACL, the central service
and the gateway in their own processes, kiosks and a health station whose card readers and medical devices
are simulated on pseudo-terminals (so every byte goes through the real serial drivers), and a WAN link to
central that drops now and then. Students follow ``harness.building_day`` (a timetable with an optional exam
week), ``--speed`` simulated minutes per real minute. One kiosk loses power for a while, so device health and
the offline alert show; a few screenings are abnormal, so alerts reach the clinic and counselling.

The broker, central and the gateway are supervised (``harness.supervision``): kill one (their pids are in
``DIR/run/``) and it is restarted, and the live summary says so. The summary also keeps the books on the
devices' events, from their outboxes to the gateway's database, so anyone can see that nothing was lost.
"""

from __future__ import annotations

import contextlib
import queue
import random
import signal
import sqlite3
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydantic import ValidationError
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from central.store import CentralStore
from firmware_bridge.simulators import SimulatedDevice
from harness.building_day import BuildingDay, ScreeningAction, SpacePlan, TapAction, phq9_answers, vitals
from harness.history import clock_offset, local_now, seed_history, shift_hours
from harness.localsite import KioskPlan, LocalSite, central_process, gateway_process
from harness.netutil import free_port
from harness.proxy import FaultProxy
from harness.supervision import Incident, Supervisor
from kiosk.runtime import KioskRuntime
from kiosk.settings import load as load_kiosk
from onestop.notifications import NotifyTarget
from onestop.site import SiteConfig, SpaceConfig

console = Console()

SPACES = [
    {"id": "study-24h-2f", "name": "24-hour study room", "name_zh": "24小时自习室", "capacity": 60},
    {"id": "skills-lab-1", "name": "Clinical skills lab", "name_zh": "临床技能实验室", "capacity": 24,
     "hours": {"open": "07:00", "close": "23:00"}, "max_stay_h": 4},
    {"id": "equipment-room", "name": "Equipment room", "name_zh": "器材室", "capacity": 8,
     "hours": {"open": "08:00", "close": "22:00"}, "max_stay_h": 2},
    {"id": "health-corner", "name": "Health corner", "name_zh": "健康角", "capacity": 6},
]
# The study room's door has two kiosks with one kind of reader (a card must read the same at both): students
# walk in through the entrance kiosk and out through the exit kiosk, which decide from the gateway's presence.
KIOSKS = [("kiosk-demo-study-a", "study-24h-2f", "em4100"), ("kiosk-demo-study-b", "study-24h-2f", "em4100"),
          ("kiosk-demo-skills", "skills-lab-1", "pn532"), ("kiosk-demo-equipment", "equipment-room", "wedge")]
DIRECTIONS = {"kiosk-demo-study-a": "in", "kiosk-demo-study-b": "out"}
STATION = "hs-demo-corner"
STATION_DEVICES = {"bp": "gatt-bp", "oximeter": "cms50d", "thermometer": "gatt-temp", "scale": "and-scale"}
FLAKY = "kiosk-demo-equipment"  # loses power for a while in every cycle
WAN_CYCLE_S, WAN_DOWN_S = 90.0, 20.0
FLAKY_CYCLE_S, FLAKY_DOWN_S = 240.0, 100.0
# Work orders (docs/work-orders.md): now and then a student reports a problem after a tap (most leave their
# card for a reply), and one kiosk's card reader is unplugged for a while in every cycle.
REQUEST_SHARE = 0.03
FEEDBACK_SHARE = 0.6  # of the feedback questions a kiosk asks after a checkout, the share answered
FEEDBACK_RATINGS = (2, 3, 4, 4, 4, 5, 5)
UNPLUGGED, UNPLUG_CYCLE_S, UNPLUG_DOWN_S = "kiosk-demo-skills", 180.0, 40.0


def card_for(driver: str, student: int) -> str:
    """The card id a reader of kind ``driver`` produces for a student's card (normalised as CONTRACT.md says)."""
    if driver == "wedge":
        return f"{student:010d}"       # keyboard-wedge readers type the number in decimal
    if driver == "pn532":
        return f"{student:08X}"        # a 4-byte MIFARE UID
    return f"01{student:08X}"          # EM4100: version byte + 4 tag bytes


class Demo:
    """The running demo: processes, simulated devices, runtimes and the simulation."""

    def __init__(self, root: Path, speed: float, exam_week: bool, seed: int,
                 notify: list[dict[str, str]] | None = None, start: datetime | None = None,
                 history_weeks: int = 4) -> None:
        self.start_at = start or local_now()  # the simulated clock's start, in this machine's time zone
        self.history_weeks = history_weeks
        self.seed = seed
        self.stack = ExitStack()
        self.readers = {device: self.stack.enter_context(SimulatedDevice(driver, seed=seed))
                        for device, _, driver in KIOSKS}
        self.readers[STATION] = self.stack.enter_context(SimulatedDevice("em4100", seed=seed))
        self.station_devices = {name: self.stack.enter_context(SimulatedDevice(driver, seed=seed))
                                for name, driver in STATION_DEVICES.items()}
        plans = [KioskPlan(device, space, direction=DIRECTIONS.get(device),
                           reader={"driver": driver, "port": self.readers[device].path})
                 for device, space, driver in KIOSKS]
        plans.append(KioskPlan(STATION, "health-corner", mode="health-station",
                               reader={"driver": "em4100", "port": self.readers[STATION].path},
                               health_devices=[{"driver": STATION_DEVICES[n], "port": d.path}
                                               for n, d in self.station_devices.items()]))
        self.site = LocalSite(root, "demo", broker_port=free_port(1883), gateway_port=free_port(8080),
                              central_port=free_port(8000), kiosks=plans,
                              spaces=shift_hours(SPACES, clock_offset(self.start_at, datetime.now(UTC))),
                              gateway_extra={"health": {"offline_after_s": 45, "offline_alert_min": 1},
                                             **({"notify": notify} if notify else {})},
                              central_link_port=free_port())
        self.central, self.gateway = central_process(self.site), gateway_process(self.site)
        # The WAN between gateway and central, cut on a schedule (``script``).
        self.wan = FaultProxy(self.site.central_port, port=self.site.central_link_port, lifetime_s=None)
        self.wan_up = True
        self.runtimes: dict[str, KioskRuntime] = {}
        self.rng = random.Random(seed)
        self.speed = speed
        self.sim = BuildingDay(
            [SpacePlan("study-24h-2f", ("kiosk-demo-study-a",), 60, peak_per_hour=50, mean_stay_min=120,
                       exits=("kiosk-demo-study-b",)),
             SpacePlan("skills-lab-1", ("kiosk-demo-skills",), 24, 7, 23, peak_per_hour=20, mean_stay_min=75),
             SpacePlan("equipment-room", ("kiosk-demo-equipment",), 8, 8, 22, peak_per_hour=12, mean_stay_min=20,
                       study=False)],
            [STATION], [str(self.rng.getrandbits(32)) for _ in range(1500)], self.rng,
            self.start_at.replace(tzinfo=None), exam_week=exam_week)
        self.screenings: queue.Queue[ScreeningAction] = queue.Queue()
        self.counts = {"taps": 0, "screenings": 0, "abnormal": 0, "requests": 0, "feedback": 0}
        self._questions_seen: set[object] = set()  # feedback questions already answered or left alone
        self.unplugged = False
        self.supervisor = Supervisor({"broker": self.site.broker, "central": self.central, "gateway": self.gateway},
                                     self.site.path("run"), self._incident)

    # -- start and stop ----------------------------------------------------------------------------------
    def start(self) -> None:
        self.site.write()
        self.site.broker.start()
        if self.history_weeks:
            self.seed_history()
        self.central.start()
        # Central shows only the spaces of a site's stored configuration: store the demo building's, as an
        # administrator would (the gateway then pulls the same configuration back).
        httpx.put(f"{self.site.central_url}/api/v1/gateways/{self.site.site}/config", json=self.site.site_config(),
                  headers={"Authorization": f"Bearer {self.site.tokens['admin']}"}, timeout=10).raise_for_status()
        self.wan.start()
        self.gateway.start()
        for plan in self.site.kiosks:
            self.start_kiosk(plan.device)
        self.supervisor.start()
        threading.Thread(target=self._station_worker, name="station", daemon=True).start()

    def seed_history(self) -> int:
        """Weeks of simulated study visits in central's database (``harness.history``), before central starts."""
        self.site.path("central").mkdir(parents=True, exist_ok=True)
        store = CentralStore(f"sqlite:///{self.site.path('central/central.db')}")
        try:
            return seed_history(store, self.site.site, SiteConfig.model_validate(self.site.site_config()),
                                self.start_at, local_now(), weeks=self.history_weeks, seed=self.seed,
                                study=tuple(SpaceConfig.model_validate(s) for s in SPACES
                                            if s["id"] in {plan.space for plan in self.sim.spaces}))
        finally:
            store.close()

    def _incident(self, incident: Incident) -> None:
        style = "yellow" if incident.restarted else "bold red"
        console.print(f"[{style}]{datetime.now():%H:%M:%S} {incident}[/]", soft_wrap=True)

    def start_kiosk(self, device: str) -> None:
        runtime = KioskRuntime(load_kiosk(self.site.path(f"kiosk-{device}.toml")))
        runtime.start()
        self.runtimes[device] = runtime

    def stop(self) -> None:
        self.supervisor.stop()  # first: the services' clean exits below are not deaths
        for runtime in self.runtimes.values():
            runtime.stop()
        self.gateway.stop()
        self.wan.stop()
        self.central.stop()
        self.site.broker.stop()
        self.stack.close()

    # -- what happens ------------------------------------------------------------------------------------
    def step(self, real_seconds: float) -> None:
        """Advance the simulation and play what happens on the simulated devices."""
        self._answer_questions()
        for action in self.sim.advance(real_seconds * self.speed / 60):
            if isinstance(action, TapAction):
                if action.kiosk in self.runtimes:  # a kiosk without power reads no card
                    reader = self.readers[action.kiosk]
                    card = card_for(reader.driver.name, int(action.card))
                    reader.tap(card)
                    self.counts["taps"] += 1
                    if self.rng.random() < REQUEST_SHARE:
                        runtime = self.runtimes[action.kiosk]
                        category = self.rng.choice(runtime.config.request_categories).id
                        runtime.report(category, card if self.rng.random() < 0.7 else None)
                        self.counts["requests"] += 1
            elif self.screenings.qsize() < 3:  # a queue forms at the station; the rest come back another day
                self.screenings.put(action)

    def _answer_questions(self) -> None:
        """Students answer some of the kiosks' feedback questions after checking out (docs/work-orders.md)."""
        for runtime in self.runtimes.values():
            question = runtime.question
            if question is None or question in self._questions_seen:
                continue
            self._questions_seen.add(question)
            if self.rng.random() < FEEDBACK_SHARE:
                runtime.answer_feedback(self.rng.choice(FEEDBACK_RATINGS))
                self.counts["feedback"] += 1
        if len(self._questions_seen) > 10_000:
            self._questions_seen.clear()

    def _station_worker(self) -> None:
        while True:
            action = self.screenings.get()
            try:
                self._screen(action)
            except Exception as exc:  # the demo carries on; the reason is shown
                console.print(f"[yellow]screening skipped: {exc.__class__.__name__}[/]")

    def _screen(self, action: ScreeningAction) -> None:
        station = self.runtimes.get(STATION)
        if station is None:
            return
        values = vitals(action.finding, self.rng)
        self.readers[STATION].tap(card_for("em4100", int(action.card)))
        time.sleep(0.3)
        station.accept_consent()  # the demo's students all agree (declining is in tests/kiosk)
        devices = self.station_devices
        devices["bp"].measure(systolic=values["systolic"], diastolic=values["diastolic"], pulse=values["pulse"])
        devices["thermometer"].measure(temperature=values["temperature"])
        devices["scale"].measure(weight=values["weight"])
        devices["oximeter"].measure(spo2=values["spo2"], pulse=values["pulse"], seconds=0.6)
        time.sleep(0.5)
        station.enter_height(values["height"])
        if action.finding == "phq9-item9" or self.rng.random() < 0.3:
            station.begin("PHQ-9")
            for answer in phq9_answers(action.finding, self.rng):
                station.answer(answer)
        if station.finish() is not None:
            self.counts["screenings"] += 1
            self.counts["abnormal"] += action.finding is not None
        time.sleep(1.0)
        station.done()

    def script(self, elapsed: float) -> None:
        """The planned troubles: the WAN drops, one kiosk loses power."""
        wan_up = elapsed % WAN_CYCLE_S < WAN_CYCLE_S - WAN_DOWN_S
        if wan_up != self.wan_up:
            self.wan_up = wan_up
            if wan_up:
                self.wan.set_mode("pass")
            else:
                self.wan.cut()
        unplugged = elapsed % UNPLUG_CYCLE_S >= UNPLUG_CYCLE_S - UNPLUG_DOWN_S
        if unplugged != self.unplugged and UNPLUGGED in self.readers:
            self.unplugged = unplugged
            (self.readers[UNPLUGGED].unplug if unplugged else self.readers[UNPLUGGED].replug)()
        flaky_up = elapsed % FLAKY_CYCLE_S < FLAKY_CYCLE_S - FLAKY_DOWN_S or elapsed < 30
        if not flaky_up and FLAKY in self.runtimes:
            self.runtimes.pop(FLAKY).stop()
        elif flaky_up and FLAKY not in self.runtimes:
            self.start_kiosk(FLAKY)

    # -- the books: every event a device recorded is in its outbox, in transit, or stored at the gateway ---
    def tally(self) -> dict[str, int]:
        """``recorded`` by the devices, ``waiting`` in their outboxes, ``stored`` at the gateway, and the rest
        ``in_transit`` (acknowledged by the broker, not yet stored: the gateway's session holds them)."""
        recorded = waiting = stored = 0
        devices = [plan.device for plan in self.site.kiosks]
        for device in devices:
            # Read from the files, powered or not: a kiosk without power still holds its outbox.
            with contextlib.closing(_read_only(self.site.path(f"kiosks/{device}.outbox.db"))) as db:
                recorded += (db.execute("SELECT max(last_seq) FROM sequence").fetchone()[0] or 0)
                waiting += db.execute("SELECT count(*) FROM outbox WHERE acked IS NULL").fetchone()[0]
        with contextlib.closing(_read_only(self.site.path("gateway/gateway.db"))) as db:
            marks = ",".join("?" * len(devices))
            stored = db.execute(f"SELECT count(*) FROM events WHERE device IN ({marks})", devices).fetchone()[0]
        return {"recorded": recorded, "waiting": waiting, "stored": stored,
                "in_transit": recorded - waiting - stored}

    def settle(self, timeout: float) -> dict[str, int] | None:
        """Power every kiosk and wait until every recorded event is stored at the gateway (or ``timeout``)."""
        if FLAKY not in self.runtimes:
            self.start_kiosk(FLAKY)
        deadline = time.monotonic() + timeout
        books = None
        while time.monotonic() < deadline:
            with contextlib.suppress(sqlite3.Error):
                books = self.tally()
                if books["waiting"] == 0 and books["in_transit"] == 0:
                    return books
            time.sleep(0.5)
        return books

    # -- the live summary ----------------------------------------------------------------------------------
    def summary(self) -> Group:
        table = Table(title=f"onestop demo · simulated {self.sim.now:%a %H:%M} · ×{self.speed:g}")
        for column in ("space", "inside", "capacity"):
            table.add_column(column)
        facts = Table.grid(padding=(0, 2))
        try:
            headers = {"Authorization": f"Bearer {self.site.tokens['staff']}"}
            spaces = httpx.get(f"{self.site.gateway_url}/api/v1/spaces", headers=headers, timeout=2).json()
            stats = httpx.get(f"{self.site.gateway_url}/api/v1/stats", timeout=2).json()
            alerts = httpx.get(f"{self.site.gateway_url}/api/v1/alerts?status=unresolved",
                               headers={"Authorization": f"Bearer {self.site.tokens['admin']}"}, timeout=2).json()
            central = httpx.get(f"{self.site.central_url}/api/v1/stats", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return Group(table, "waiting for the services…")
        for space in spaces:
            table.add_row(space["name"], str(space["count"]), str(space["capacity"]))
        wan = "[green]up[/]" if self.wan_up else "[red]down[/]"
        facts.add_row("taps", str(self.counts["taps"]), "gateway events", str(stats["events"]))
        facts.add_row("screenings", f"{self.counts['screenings']} ({self.counts['abnormal']} abnormal)",
                      "sync backlog", str(stats["backlog"]))
        facts.add_row("open alerts", str(len(alerts)), "central events", str(central["events"]))
        facts.add_row("requests", f"{self.counts['requests']} ({self.counts['feedback']} ratings)", "reader unplugged",
                      UNPLUGGED if self.unplugged else "—")
        facts.add_row("kiosks powered", f"{len(self.runtimes)}/{len(self.site.kiosks)}", "WAN", wan)
        with contextlib.suppress(sqlite3.Error):  # a database being created or restarted: next time
            books = self.tally()
            facts.add_row("device events", f"{books['recorded']} recorded", "at the gateway",
                          f"{books['stored']} ({books['waiting']} in outboxes, {books['in_transit']} in transit)")
        for incident in self.supervisor.incidents[-3:]:
            style = "yellow" if incident.restarted else "red"
            facts.add_row("restart", f"[{style}]{datetime.fromtimestamp(incident.at):%H:%M:%S} {incident}[/]")
        return Group(table, facts)


def _read_only(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise sqlite3.OperationalError(f"{path} does not exist yet")
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)


def report_books(books: dict[str, int] | None, central_events: int | None) -> None:
    """The closing line: were all the devices' events stored?"""
    if books is None:
        console.print("[red]the event books could not be read[/]")
        return
    central = f" · central stored {central_events} (all devices and the gateway)" if central_events is not None else ""
    lost = books["recorded"] - books["stored"] - books["waiting"]
    verdict = "[green]0 events lost[/]" if lost == 0 else f"[red]{lost} events not stored at the gateway[/]"
    console.print(f"\ndevice events: {books['recorded']} recorded · {books['stored']} stored at the gateway · "
                  f"{books['waiting']} still in outboxes{central} · {verdict}", soft_wrap=True)


def notify_targets(specs: list[str]) -> list[dict[str, str]]:
    """``--notify TEAM=URL`` options as ``[[notify]]`` entries of the gateway's configuration (checked here,
    so a typo stops the demo before anything starts)."""
    targets = []
    for spec in specs:
        team, sep, url = spec.partition("=")
        if not sep:
            raise ValueError(f"{spec!r} is not TEAM=URL")
        entry = {"team": team.strip(), "url": url.strip()}
        try:
            NotifyTarget.model_validate(entry)
        except ValidationError as exc:
            raise ValueError(f"{team.strip()!r}: " + "; ".join(e["msg"] for e in exc.errors())) from None
        targets.append(entry)
    return targets


def run_demo(duration: float | None, data_dir: Path | None, speed: float = 60.0, exam_week: bool = False,
             ui: bool = False, seed: int = 7, notify: list[dict[str, str]] | None = None,
             start: datetime | None = None, history_weeks: int = 4) -> None:
    """Start everything, print the URLs, simulate until ``duration`` or Ctrl-C, stop cleanly."""
    root = data_dir or Path(tempfile.mkdtemp(prefix="onestop-demo-"))
    demo = Demo(root, speed, exam_week, seed, notify, start=start, history_weeks=history_weeks)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        demo.start()
        site = demo.site
        print(f"gateway: {site.gateway_url}", flush=True)
        print(f"central: {site.central_url}", flush=True)
        print_links(demo)
        for target in notify or []:
            console.print(f"notifications:      {target['team']} alerts -> {target['url'].partition('://')[0]}:// "
                          "target", soft_wrap=True)
        console.print(f"[dim]data and logs in {root}; kill a service (kill -9 $(cat {root}/run/gateway.pid)) "
                      "and watch it come back[/]", soft_wrap=True)
        if ui:
            from kiosk.ui.window import run_window

            threading.Thread(target=_loop, args=(demo, stop, duration), daemon=True).start()
            run_window(demo.runtimes[KIOSKS[0][0]], on_ready=lambda app: _close_when(app, stop))
            stop.set()
        else:
            _loop(demo, stop, duration)
        report_books(demo.settle(30 if duration else 10), _central_events(demo))  # Ctrl-C: be quick
    finally:
        demo.stop()
    console.print("\ndemo stopped cleanly")


# Every view the demo shows, by role: (label, service, role). Each link carries that role's token in the URL
# fragment, which never reaches a server or its logs; the page moves it to the tab's session storage.
LINKS = [("building dashboard", "gateway", "staff"), ("clinic view", "gateway", "clinic"),
         ("counselling view", "gateway", "counselling"), ("facilities view", "gateway", "facilities"),
         ("technician view", "gateway", "technician"), ("building admin", "gateway", "admin"),
         ("campus dashboard", "central", "admin"), ("campus planner", "central", "facilities")]


def print_links(demo: Demo) -> None:
    """A link per role whose view the demo shows, and the API documentation of both services."""
    site = demo.site
    base = {"gateway": f"{site.gateway_url}/", "central": f"{site.central_url}/dashboard"}
    width = max(len(label) for label, _, _ in LINKS) + 1
    for label, service, role in LINKS:
        console.print(f"{label + ':':<{width}} {base[service]}#token={site.tokens[role]}", soft_wrap=True,
                      highlight=False)
    console.print(f"{'API docs:':<{width}} {site.gateway_url}/docs · {site.central_url}/docs", soft_wrap=True,
                  highlight=False)
    console.print(f"[dim]simulated clock from {demo.start_at:%a %H:%M}"
                  + (f"; {demo.history_weeks} weeks of history at central" if demo.history_weeks else "") + "[/]")


def _close_when(app: object, stop: threading.Event) -> None:
    """Close the kiosk window once the demo stops (``--duration`` over, Ctrl-C); runs on Kivy's thread."""
    from kivy.clock import Clock

    Clock.schedule_interval(lambda _dt: app.stop() if stop.is_set() else None, 0.25)  # type: ignore[attr-defined]


def _central_events(demo: Demo) -> int | None:
    try:
        return int(httpx.get(f"{demo.site.central_url}/api/v1/stats", timeout=5).json()["events"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def _loop(demo: Demo, stop: threading.Event, duration: float | None) -> None:
    started = time.monotonic()
    tick = 0.25
    with Live(demo.summary(), console=console, refresh_per_second=1, transient=False) as live:
        last_summary = 0.0
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if duration is not None and elapsed >= duration:
                break
            demo.script(elapsed)
            demo.step(tick)
            if elapsed - last_summary >= 2:
                last_summary = elapsed
                live.update(demo.summary())
            stop.wait(tick)
    stop.set()
