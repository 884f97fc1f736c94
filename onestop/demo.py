"""``onestop demo``: a building on this machine with simulated kiosks and realistic traffic."""

from __future__ import annotations

import random
import signal
import tempfile
import threading
import time
from pathlib import Path

import httpx
from rich.console import Console

from kiosk.runtime import KioskRuntime
from kiosk.settings import load as load_kiosk
from onestop.localsite import KioskPlan, LocalSite, central_process, gateway_process
from onestop.netutil import free_port

console = Console()

DEMO_KIOSKS = [
    KioskPlan("kiosk-demo-study-a", "study-24h-2f", capacity=60),
    KioskPlan("kiosk-demo-study-b", "study-24h-2f", capacity=60),
    KioskPlan("kiosk-demo-skills", "skills-lab-1", capacity=24),
    KioskPlan("kiosk-demo-equipment", "equipment-room", capacity=10),
]


def _students(rng: random.Random, n: int) -> list[str]:
    return [f"{rng.getrandbits(32):08X}" for _ in range(n)]


def run_demo(duration: float | None, data_dir: Path | None, seed: int = 7) -> None:
    """Start everything, print the URLs, simulate traffic until ``duration`` or Ctrl-C, stop cleanly."""
    root = data_dir or Path(tempfile.mkdtemp(prefix="onestop-demo-"))
    site = LocalSite(root, "demo", broker_port=free_port(1883), gateway_port=free_port(8080),
                     central_port=free_port(8000), kiosks=DEMO_KIOSKS)
    site.write()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    central, gateway = central_process(site), gateway_process(site)
    kiosks: list[KioskRuntime] = []
    site.broker.start()
    try:
        central.start()
        gateway.start()
        for plan in site.kiosks:
            runtime = KioskRuntime(load_kiosk(site.path(f"kiosk-{plan.device}.toml")))
            runtime.start()
            kiosks.append(runtime)
        print(f"gateway: {site.gateway_url}", flush=True)
        print(f"central: {site.central_url}", flush=True)
        console.print(f"[dim]data in {root}; tokens in {site.path('gateway.toml')}[/]")
        _simulate(kiosks, stop, duration, random.Random(seed), site)
    finally:
        for runtime in kiosks:
            runtime.stop()
        gateway.stop()
        central.stop()
        site.broker.stop()
    console.print("demo stopped cleanly")


def _simulate(kiosks: list[KioskRuntime], stop: threading.Event, duration: float | None,
              rng: random.Random, site: LocalSite) -> None:
    students = _students(rng, 400)
    deadline = time.monotonic() + duration if duration else None
    next_report = time.monotonic() + 5
    taps = 0
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        kiosk = rng.choice(kiosks)
        inside = list(kiosk.controller.inside)
        if inside and rng.random() < 0.4:
            card = rng.choice(inside)
        else:
            card = rng.choice(students)
        kiosk.handle_card(card)
        taps += 1
        if time.monotonic() >= next_report:
            next_report += 5
            _report(site, taps)
        stop.wait(rng.expovariate(4.0))


def _report(site: LocalSite, taps: int) -> None:
    try:
        g = httpx.get(f"{site.gateway_url}/api/v1/stats", timeout=2).json()
        c = httpx.get(f"{site.central_url}/api/v1/stats", timeout=2).json()
    except httpx.HTTPError:
        return
    console.print(f"taps {taps}  gateway events {g['events']} (backlog {g['backlog']})  central events {c['events']}")
