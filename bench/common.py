"""Shared pieces of the benchmarks: a broker with credentials, publisher processes, machine facts, RSS."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from harness.broker import BrokerProcess, Credentials, local_layout
from harness.localsite import gateway_ready
from harness.netutil import free_port
from onestop import topics
from onestop.events import new_event
from sealing import create_key_file


def machine() -> str:
    """One line describing this machine."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {cpu}, {mem:.0f} GiB, Python {platform.python_version()}"


def new_data_key(path: Path) -> str:
    """A gateway's data key for a benchmark run (outside its data directory); returns its path."""
    create_key_file(path)
    return str(path)


def wait_gateway_subscribed(url: str, timeout: float = 30.0) -> None:
    """Wait until the gateway at ``url`` is listening and the broker has acknowledged its subscriptions:
    anything published before its very first subscription would find no session to wait in."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if gateway_ready(httpx.get(f"{url}/healthz", timeout=1).json()):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the gateway at {url} did not subscribe within {timeout:.0f} s")


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid``."""
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def pss_mb(pid: int) -> float:
    """Proportional set size: resident memory with pages shared between processes split among them, in MB."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """CPU time (user + system) a live process has used so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class BenchBroker:
    """A running broker with a gateway user, a read-only observer and one user per device."""

    process: BrokerProcess
    gateway: Credentials
    observer: Credentials
    devices: dict[str, Credentials]

    @property
    def port(self) -> int:
        return self.process.port

    @property
    def pid(self) -> int:
        pid = self.process.pid
        if pid is None:
            raise RuntimeError("the broker is not running")
        return pid


def start_broker(root: Path, site: str, devices: list[str]) -> BenchBroker:
    """A broker on a free port; watch it with ``observer`` (a second gateway connection would take over)."""
    gateway, observer = Credentials(f"{site}-gateway"), Credentials(f"{site}-observer")
    creds = {d: Credentials(d) for d in devices}
    process = BrokerProcess(local_layout(root / "broker", free_port()), site, gateway, list(creds.values()), [observer])
    process.start()
    return BenchBroker(process, gateway, observer, creds)


def _write_events(path: Path, device: str, count: int) -> None:
    with path.open("wb") as handle:
        for seq in range(1, count + 1):
            handle.write(new_event(device, seq, "heartbeat", {"uptime_s": seq, "outbox": 0}).to_json() + b"\n")


def publish_burst(port: int, site: str, creds: dict, per_device: int, root: Path) -> float:
    """Every device publishes ``per_device`` QoS 1 events as fast as it can, each from its own
    ``mosquitto_pub -l`` process (C, so the publishers are not the bottleneck). Returns the start time."""
    files = {}
    for device in creds:
        files[device] = root / f"{device}-{per_device}.jsonl"
        if not files[device].exists():
            _write_events(files[device], device, per_device)
    procs = []
    start = time.time()
    for device, cred in creds.items():
        with files[device].open("rb") as stdin:
            procs.append(subprocess.Popen(
                ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-u", device, "-P", cred.password,
                 "-i", device, "-q", "1", "-M", "1000", "-l", "-t", topics.event(site, device, "heartbeat")],
                stdin=stdin))
    for proc in procs:
        if proc.wait(timeout=600) != 0:
            raise RuntimeError(f"mosquitto_pub failed with {proc.returncode}")
    return start
