"""What the system tests share: the site they run, raw MQTT devices, service processes with overrides, and
readers of what each store holds.

Every component runs as it does in a building: Mosquitto with passwords and ACL, the gateway and the central
service in their own processes, kiosks and health stations in-process (``KioskRuntime``, durable outbox).
"Raw" devices are plain paho clients with a device's credentials: they publish envelopes as fast as the
broker takes them and remember which ones the broker acknowledged (PUBACK reason < 0x80), which is the
ground truth the storage test reconciles against.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

from harness.broker import Credentials
from harness.localsite import LocalSite, ServiceProcess, gateway_ready
from onestop import topics
from onestop.events import Envelope, new_event
from onestop.ids import uuid7
from tests.helpers import query, wait_until

T = TypeVar("T")

# Raw devices every system-test site registers (device, kind, space).
RAW_SENSOR = "sensor-sys-1"
RAW_KIOSK = "kiosk-sys-raw"
RAW_STATION = "hs-sys-raw"
RAW_DEVICES = [(RAW_SENSOR, "sensor", "study-24h-2f"), (RAW_KIOSK, "kiosk", "study-24h-2f"),
               (RAW_STATION, "health-station", "skills-lab-1")]
HEALTH_STATION = "hs-test-d"  # an in-process health station (KioskRuntime in health-station mode)

FROZEN_AFTER_S = 10.0  # a tap is instant; a device that takes this long to answer one has frozen

# LOINC codes and UCUM units of the vital signs the tests send.
SYSTOLIC, DIASTOLIC, PULSE, SPO2, TEMPERATURE, WEIGHT = "8480-6", "8462-4", "8867-4", "59408-5", "8310-5", "29463-7"


def service(site: LocalSite, component: str, env: dict[str, str] | None = None,
            log_level: str | None = None) -> ServiceProcess:
    """The gateway or central service of ``site`` as a process, with ``ONESTOP_...`` overrides."""
    config = site.path(f"{component}.toml")
    port = site.gateway_port if component == "gateway" else site.central_port
    args = [*(["--log-level", log_level] if log_level else []), component, "run", "--config", str(config)]
    return ServiceProcess(component, args, f"http://127.0.0.1:{port}/healthz", site.path(f"logs/{component}.log"),
                          env=env, **({"ready": gateway_ready} if component == "gateway" else {}))


def add_observer(site: LocalSite, username: str = "test-observer") -> Credentials:
    """A read-only broker account for the whole site tree, as an operator's monitoring tool would have.

    Tests watch the broker with it instead of the gateway's credentials: a second connection under the
    gateway's user name is the gateway as far as the broker is concerned (the same client id once the broker
    ties client ids to user names) and would take over its session. Call before the broker starts; the ACL
    line is appended to what ``LocalSite`` wrote, so rewrite nothing afterwards.
    """
    cred = Credentials(username)
    site.broker.users[username] = cred
    site.broker.write_files()
    with site.broker.layout.acl.open("a", encoding="utf-8") as acl:
        acl.write(f"\nuser {username}\ntopic read {topics.site_tree(site.site)}\n")
    return cred


def bearer(site: LocalSite, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {site.tokens[role]}"}


def gateway_stats(site: LocalSite) -> dict:
    return httpx.get(f"{site.gateway_url}/api/v1/stats", timeout=10).json()


def central_rows(site: LocalSite) -> list[tuple[str, str, int, str]]:
    """Every event at central: ``(id, device, seq, type)``."""
    return query(site.path("central/central.db"), "SELECT id, device, seq, type FROM events")


def gateway_rows(site: LocalSite) -> list[tuple[str, str, int, str, int]]:
    """Every event the gateway stores: ``(id, device, seq, type, synced)``."""
    return query(site.path("gateway/gateway.db"), "SELECT id, device, seq, type, synced FROM events")


@dataclass
class RawDevice:
    """A device that is only an MQTT client: numbered envelopes at QoS 1, PUBACKs recorded."""

    site: LocalSite
    device: str
    seq: int = 0
    sent: list[tuple[int, Envelope]] = field(default_factory=list)  # (mid, envelope)
    _acks: dict[int, int] = field(default_factory=dict)  # mid -> PUBACK reason code

    def __post_init__(self) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        cred = self.site.device_users[self.device]
        self._lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.device, protocol=paho.MQTTv5)
        self.client.username_pw_set(cred.username, cred.password)
        self.client.max_inflight_messages_set(500)
        self.client.max_queued_messages_set(0)
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", self.site.broker_port)
        self.client.loop_start()
        wait_until(self.client.is_connected, timeout=10, what=f"{self.device} connected")

    def _on_publish(self, _client, _userdata, mid, reason, _properties) -> None:
        with self._lock:
            self._acks[mid] = reason.value

    def publish(self, event_type: str, data: dict) -> Envelope:
        """Create the device's next event and hand it to the broker (QoS 1)."""
        self.seq += 1
        env = new_event(self.device, self.seq, event_type, data)
        # Not under our lock: paho calls on_publish holding its own lock, which publish() also takes. A
        # PUBACK that comes before the mid is recorded below is kept in ``_acks`` all the same.
        info = self.client.publish(topics.event(self.site.site, self.device, event_type), env.to_json(), qos=1)
        with self._lock:
            self.sent.append((info.mid, env))
        return env

    def publish_raw(self, event_type: str, payload: bytes) -> None:
        """Put any bytes on this device's event topic (for messages that break the contract)."""
        info = self.client.publish(topics.event(self.site.site, self.device, event_type), payload, qos=1)
        with self._lock:
            self.sent.append((info.mid, None))  # type: ignore[arg-type]

    def settle(self, timeout: float = 60.0) -> tuple[list[Envelope], list[Envelope]]:
        """Wait for every PUBACK; returns (accepted, refused) envelopes and forgets them."""
        def all_answered() -> bool:
            with self._lock:
                return all(mid in self._acks for mid, _ in self.sent)

        wait_until(all_answered, timeout=timeout, interval=0.05, what=f"PUBACKs for {self.device}")
        with self._lock:
            accepted = [env for mid, env in self.sent if env is not None and self._acks[mid] < 0x80]
            refused = [env for mid, env in self.sent if env is not None and self._acks[mid] >= 0x80]
            self.sent, self._acks = [], {}
        return accepted, refused

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def screening(subject: str, *, systolic: float = 118, diastolic: float = 76, pulse: float = 68,
              spo2: float = 98, temperature: float = 36.6, weight: float = 61.5,
              questionnaires: bool = False) -> dict:
    """A complete screening record as a health station sends it."""
    def measurement(code: str, value: float, unit: str) -> dict:
        return {"code": code, "value": value, "unit": unit, "device_model": "sys-test"}

    record: dict = {"subject": subject, "session": str(uuid7()),
                    "complete": True,
                    "measurements": [measurement(SYSTOLIC, systolic, "mm[Hg]"),
                                     measurement(DIASTOLIC, diastolic, "mm[Hg]"),
                                     measurement(PULSE, pulse, "/min"), measurement(SPO2, spo2, "%"),
                                     measurement(TEMPERATURE, temperature, "Cel"),
                                     measurement(WEIGHT, weight, "kg")],
                    "questionnaires": []}
    if questionnaires:
        record["questionnaires"] = [{"instrument": "PHQ-9", "answers": [1, 0, 1, 0, 1, 0, 1, 0, 0], "score": 4},
                                    {"instrument": "GAD-7", "answers": [0, 1, 0, 1, 0, 1, 0], "score": 3}]
    return record


PRODUCT_LOGGERS = ("kiosk", "onestop", "firmware_bridge", "gateway", "central", "provisioning")


@contextmanager
def in_process_log(path: Path) -> Iterator[Path]:
    """Also write every log record of the product's in-process parts (kiosks, health stations, their MQTT
    links) to ``path`` at DEBUG, as a kiosk's journal would hold them. The test's own loggers (httpx, paho)
    are left out: what a test client logs about its requests is not the product's log."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger(name) for name in PRODUCT_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
        handler.close()


def settle_outboxes(runtimes, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    """Wait until every runtime's outbox has had every event acknowledged by the broker; on time-out, name
    the devices still holding events, with their threads' stacks (a stuck publisher shows there)."""
    try:
        wait_until(lambda: all(r.outbox.depth() == 0 for r in runtimes), timeout=timeout, interval=0.2,
                   what="every device outbox acknowledged by the broker")
    except AssertionError as exc:
        stuck = {r.settings.device: r.outbox.depth() for r in runtimes if r.outbox.depth()}
        stacks = "\n".join(thread_stacks(f"outbox-{d}", f"paho-mqtt-client-{d}") for d in stuck)
        raise AssertionError(f"{exc}; events waiting per device: {stuck}\n{stacks}") from None


def thread_stacks(*name_parts: str) -> str:
    """The stacks of the threads whose names contain any of ``name_parts`` (to show where a device hangs)."""
    frames = sys._current_frames()
    out = []
    for thread in threading.enumerate():
        if any(part in thread.name for part in name_parts) and thread.ident in frames:
            stack = traceback.format_stack(frames[thread.ident])[-4:]
            out.append(f"--- thread {thread.name}:\n" + "".join(stack))
    return "\n".join(out)


def frozen_report(device: str, doing: str, seconds: float) -> str:
    return (f"{device} froze: {doing} has not returned after {seconds:.0f} s. Stacks of its threads:\n"
            + thread_stacks("busy-hour", f"outbox-{device}", f"paho-mqtt-client-{device}"))


def within(device: str, fn: Callable[..., T], *args: object, timeout: float = FROZEN_AFTER_S) -> T:
    """Call a device (``handle_card``, ``finish``, ...) and fail, with the stacks that show why, if it does not
    answer within ``timeout``: a frozen device must fail its test, not hang the run."""
    result: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn(*args))
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)

    worker = threading.Thread(target=run, name=f"busy-hour-{device}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise AssertionError(frozen_report(device, getattr(fn, "__name__", "a call"), timeout))
    if errors:
        raise errors[0]
    return result[0]
