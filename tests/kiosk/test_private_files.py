"""What a health station and a gateway leave on their SD cards: files 0600 in 0700 directories whatever the
umask, and no screening in the outbox's files once it is delivered (real Mosquitto and gateway)."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.localsite import KioskPlan, LocalSite, gateway_process
from harness.netutil import free_port
from kiosk.runtime import KioskRuntime
from kiosk.settings import load as load_kiosk
from onestop.events import Measurement
from tests.helpers import query, wait_until

STATION = "health-test-1"
CARD = "62E3086CED"
ANSWERS = (1, 2, 1, 2, 1, 2, 1, 2, 0)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[LocalSite]:
    """A site with a health station, every file of it created under the usual umask 0022."""
    previous = os.umask(0o022)
    try:
        plan = LocalSite(tmp_path / "site", "test-site", broker_port=free_port(), gateway_port=free_port(),
                         central_port=free_port(), kiosks=[KioskPlan(STATION, "skills-lab-1", mode="health-station")])
        plan.write()
        yield plan
    finally:
        os.umask(previous)


def modes(root: Path) -> dict[str, int]:
    """Every file and directory under ``root`` (and ``root`` itself) with its permission bits."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


def screened(runtime: KioskRuntime) -> None:
    runtime.handle_card(CARD)
    runtime.accept_consent()
    runtime.measurement(Measurement(code="8480-6", value=187, unit="mm[Hg]", device_model="sim"))
    runtime.begin("PHQ-9")
    for answer in ANSWERS:
        runtime.answer(answer)
    assert runtime.finish() is not None


def test_edge_files_are_private_and_a_delivered_screening_leaves_the_outbox_files(site):
    site.broker.start()
    gateway = gateway_process(site)
    gateway.start()
    runtime = KioskRuntime(load_kiosk(site.path(f"kiosk-{STATION}.toml")))
    runtime.start()
    try:
        wait_until(lambda: runtime.link.connected, what="health station connected")
        screened(runtime)
        wait_until(lambda: runtime.outbox.depth() == 0, what="the screening acknowledged")
        wait_until(lambda: query(site.path("gateway/gateway.db"), "SELECT 1 FROM events WHERE type = 'screening'"),
                   what="the screening at the gateway")
        assert runtime.outbox.forget_acked(time.time() + 1) >= 1  # what the link does after the resend window

        outbox = Path(runtime.settings.outbox_path)
        raw = b"".join(p.read_bytes() for p in outbox.parent.glob(outbox.name + "*"))
        answers = ",".join(map(str, ANSWERS)).encode()
        assert CARD.encode() not in raw and answers not in raw and b"8480-6" not in raw

        for root in (Path(runtime.settings.data_dir), site.path("gateway")):
            found = modes(root)
            assert any(name.endswith(".db-wal") for name in found), found  # the files a running store has
            wrong = {name: oct(mode) for name, mode in found.items()
                     if mode != (0o700 if (root / name).is_dir() else 0o600)}
            assert not wrong, f"readable by others under {root}: {wrong}"
    finally:
        runtime.stop()
        gateway.stop()
        site.broker.stop()
