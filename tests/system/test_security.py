"""Security checks on a running building: the broker's identities and ACL, every HTTP route's guard (read from
each service's own OpenAPI document), fuzzing both APIs with valid tokens, and a scan of every log the run
wrote for personal data (card numbers, vital signs).

One building serves the module (broker, central and gateway processes, a kiosk and a health station
in-process whose logs go to ``logs/devices.log``); the services log at DEBUG so the scan sees the most they
ever write. The log scan runs last and covers everything the module did. Tests that must take the gateway
down use a building of their own.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import paho.mqtt.client as paho
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from paho.mqtt.enums import CallbackAPIVersion
from schemathesis.checks import not_a_server_error

from harness.broker import Credentials
from harness.localsite import LocalSite, ServiceProcess
from kiosk.runtime import KioskRuntime
from kiosk.settings import load as load_kiosk
from onestop import topics
from onestop.events import Measurement, new_event
from onestop.roles import Role
from tests.conftest import KIOSKS
from tests.helpers import Collector, query, raw_client, stop_all_within, wait_until
from tests.system.conftest import make_site
from tests.system.rig import (
    DIASTOLIC,
    HEALTH_STATION,
    PULSE,
    RAW_KIOSK,
    RAW_SENSOR,
    RAW_STATION,
    SPO2,
    SYSTOLIC,
    TEMPERATURE,
    WEIGHT,
    RawDevice,
    add_observer,
    bearer,
    in_process_log,
    screening,
    service,
    within,
)

pytestmark = pytest.mark.slow

# Open by intent (CONTRACT.md): health, metrics, stats and the static dashboard pages. Nothing else.
OPEN_ROUTES = {("GET", "/healthz"), ("GET", "/metrics"), ("GET", "/api/v1/stats"), ("GET", "/"),
               ("GET", "/dashboard"), ("GET", "/auth/me")}  # /auth/me: the caller's own session, or nobody
PATH_VALUES = {"site": "test-site", "space": "study-24h-2f", "alert_id": "no-such-alert", "resource_id": "x",
               "card": "0000FFFF", "holder_id": "S0000",
               "order_id": "no-such-order"}  # a card no test taps: the role matrix may erase it
BODIES = {"PUT": {"spaces": []}, "POST": {"site": "test-site"}}
EXAMPLES = 10  # schemathesis examples per operation: bounded, derandomized

# Distinctive vital signs: alarming (they raise alerts, the likeliest place for a value to be echoed) and
# unlike anything a log line holds otherwise.
VITALS = {SYSTOLIC: (187, "mm[Hg]"), DIASTOLIC: (121, "mm[Hg]"), PULSE: (143, "/min"), SPO2: (87, "%"),
          TEMPERATURE: (39.7, "Cel"), WEIGHT: (93.4, "kg")}


@dataclass
class Building:
    site: LocalSite
    gateway: ServiceProcess
    central: ServiceProcess
    kiosk: KioskRuntime
    station: KioskRuntime
    observer: Credentials
    cards: set[str] = field(default_factory=set)

    def card(self) -> str:
        """A fresh card number, remembered for the log scan: 7-byte UIDs and keyboard-wedge digit strings."""
        n = len(self.cards)
        card = f"04D7{0x3A5C0000 + n * 977:010X}" if n % 3 else f"{40_3000_000 + n * 13:010d}"
        self.cards.add(card)
        return card

    @property
    def gateway_db(self) -> Path:
        return self.site.path("gateway/gateway.db")


@pytest.fixture(scope="module")
def building(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Building]:
    site = make_site(tmp_path_factory.mktemp("security") / "site")
    observer = add_observer(site)
    central = service(site, "central", log_level="DEBUG")
    gateway = service(site, "gateway", log_level="DEBUG")
    runtimes: list[KioskRuntime] = []
    with in_process_log(site.path("logs/devices.log")):
        site.broker.start()
        try:
            central.start()
            gateway.start()
            for device in (KIOSKS[0].device, HEALTH_STATION):
                runtimes.append(KioskRuntime(load_kiosk(site.path(f"kiosk-{device}.toml"))))
                runtimes[-1].start()
            yield Building(site, gateway, central, *runtimes, observer)
        finally:
            stop_all_within(runtimes, 10)
            gateway.stop()
            central.stop()
            site.broker.stop()


# -- MQTT --------------------------------------------------------------------------------------------------
def connack(site: LocalSite, username: str | None, password: str | None, client_id: str) -> paho.ReasonCode:
    """The broker's answer to a CONNECT (MQTT 5) with these credentials."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    if username is not None:
        client.username_pw_set(username, password)
    answers: list[paho.ReasonCode] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.append(reason)
    client.connect("127.0.0.1", site.broker_port)
    deadline = time.monotonic() + 10
    while not answers and time.monotonic() < deadline:  # no network thread: nothing retries behind our back
        client.loop(timeout=0.1)
    client.disconnect()
    assert answers, f"no CONNACK for {username!r}"
    return answers[0]


def device_client(site: LocalSite, device: str, client_id: str | None = None) -> tuple[paho.Client, dict]:
    """A connected MQTT 5 client with a device's credentials; ``acks`` collects PUBACK and SUBACK reasons."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id or device, protocol=paho.MQTTv5)
    cred = site.device_users[device]
    client.username_pw_set(cred.username, cred.password)
    acks: dict = {"pub": {}, "sub": {}, "messages": []}
    client.on_publish = lambda _c, _u, mid, reason, _p: acks["pub"].__setitem__(mid, reason.value)
    client.on_subscribe = lambda _c, _u, mid, reasons, _p: acks["sub"].__setitem__(mid, [r.value for r in reasons])
    client.on_message = lambda _c, _u, msg: acks["messages"].append((msg.topic, msg.payload))
    client.connect("127.0.0.1", site.broker_port)
    client.loop_start()
    wait_until(client.is_connected, timeout=10, what=f"{device} connected")
    return client, acks


def test_the_broker_refuses_anonymous_clients_and_wrong_passwords(building):
    site = building.site
    assert connack(site, None, None, "anonymous-probe").is_failure, "anonymous MQTT client accepted"
    assert connack(site, RAW_SENSOR, "not-the-password", "wrong-password-probe").is_failure
    assert connack(site, "nobody-registered", "whatever", "unknown-user-probe").is_failure
    good = site.device_users[RAW_SENSOR]
    assert not connack(site, good.username, good.password, RAW_SENSOR).is_failure  # the control


def test_a_device_cannot_publish_as_another_device_or_as_the_gateway(building):
    site = building.site
    watcher = raw_client(site.broker_port, building.observer.username, building.observer.password,
                         building.observer.username)
    seen = Collector(watcher, f"onestop/v1/{site.site}/#")
    client, acks = device_client(site, RAW_KIOSK)
    victim = KIOSKS[1].device
    forged = new_event(victim, 10_001, "checkin", {"space": "study-24h-2f", "card": building.card(), "via": "tap",
                                                   "reservation": None})
    forbidden = {
        "another device's event": (topics.event(site.site, victim, "checkin"), forged.to_json(), False),
        "another device's state": (topics.state(site.site, victim), b'{"online": false, "boot": "x"}', True),
        "its own cfg (the gateway writes it)": (topics.cfg(site.site, RAW_KIOSK), b'{"space": "x"}', True),
        "another device's cfg": (topics.cfg(site.site, victim), b'{"space": "x"}', True),
        "a space's occupancy": (topics.occupancy(site.site, "study-24h-2f"),
                                b'{"space": "study-24h-2f", "count": 0, "capacity": 1, "ts": "x"}', True),
        "the clinic's alerts": (topics.alert(site.site, "clinic"), b'{"summary": "forged"}', False),
        "the gateway's state": (topics.gateway_state(site.site), b'{"online": false}', True),
    }
    try:
        mids = {name: client.publish(topic, payload, qos=1, retain=retain).mid
                for name, (topic, payload, retain) in forbidden.items()}
        own = new_event(RAW_KIOSK, 1, "heartbeat", {"uptime_s": 1, "outbox": 0})
        control = client.publish(topics.event(site.site, RAW_KIOSK, "heartbeat"), own.to_json(), qos=1).mid
        # In-order delivery: once the control message arrives, anything let through before it has too.
        wait_until(lambda: seen.on(f"dev/{RAW_KIOSK}/evt/heartbeat"), what="the device's own event delivered")
        wait_until(lambda: all(m in acks["pub"] for m in [*mids.values(), control]), what="every PUBACK")
        assert acks["pub"][control] < 0x80
        delivered = {name for name, (topic, payload, _r) in forbidden.items()
                     if any(t == topic and p == payload for t, p, _at in seen.messages)}
        assert not delivered, f"a device could publish on: {sorted(delivered)}"
        wait_until(lambda: query(building.gateway_db, "SELECT 1 FROM events WHERE id = ?", own.id),
                   what="the control event stored")
        assert not query(building.gateway_db, "SELECT 1 FROM events WHERE id = ?", forged.id)
    finally:
        for mqtt in (client, watcher):
            mqtt.disconnect()
            mqtt.loop_stop()


def test_a_device_reads_its_own_cfg_but_not_another_devices_cfg_or_events(building):
    site = building.site
    client, acks = device_client(site, RAW_KIOSK)
    victim = KIOSKS[0].device  # the running kiosk: its cfg is retained and it is tapping
    try:
        for topic_filter in (topics.cfg(site.site, victim), f"onestop/v1/{site.site}/dev/+/cfg",
                             f"onestop/v1/{site.site}/dev/{victim}/evt/#", f"onestop/v1/{site.site}/#"):
            client.subscribe(topic_filter, qos=1)
        within(victim, building.kiosk.handle_card, building.card())  # an event with a card, from the other device
        own_cfg = topics.cfg(site.site, RAW_KIOSK)
        client.subscribe(own_cfg, qos=1)  # last: its retained cfg arrives after anything the others let in
        wait_until(lambda: any(t == own_cfg for t, _p in acks["messages"]), what="the device's own retained cfg")
        time.sleep(1.0)  # the tap above travels kiosk -> broker within milliseconds
        # Births and the gateway's state are for anyone (CONTRACT.md); cfg, events and alerts are not.
        leaked = sorted({t for t, _p in acks["messages"] if f"/dev/{RAW_KIOSK}/" not in t
                         and ("/cfg" in t or "/evt/" in t or "/alert/" in t)})
        assert not leaked, f"a device could read: {leaked}"
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_device_cannot_take_over_the_gateways_session_and_drop_its_queued_events(site, kiosk_factory):
    """CONTRACT.md: a device's id is its MQTT user name *and* client id. A device that connects under the
    gateway's client id must not replace the gateway's persistent session, which holds every event queued
    while the gateway restarts; with a clean start, Mosquitto would throw that queue away."""
    gateway = service(site, "gateway")
    site.broker.start()
    try:
        gateway.start()
        gateway.stop()  # a restart under way: the broker queues events in the gateway's session
        kiosk = kiosk_factory(KIOSKS[0].device)
        wait_until(lambda: kiosk.link.connected, what="kiosk connected")
        taps = [within(kiosk.settings.device, kiosk.handle_card, f"0A11{i:06X}") for i in range(5)]
        wait_until(lambda: kiosk.outbox.depth() == 0, what="taps acknowledged by the broker")
        answer = connack(site, RAW_SENSOR, site.device_users[RAW_SENSOR].password, site.gateway_user.username)
        assert not answer.is_failure  # its own credentials are good; the client id it claims is not its own
        gateway.start()
        ids = {t.event.id for t in taps}

        def stored() -> set[str]:
            return {r[0] for r in query(site.path("gateway/gateway.db"), "SELECT id FROM events")}

        try:
            wait_until(lambda: ids <= stored(), timeout=10, what="the queued taps at the gateway")
        except AssertionError:
            log = site.broker.layout.log.read_text()
            raise AssertionError(
                f"{len(ids - stored())} of {len(ids)} acknowledged taps lost: a device's credentials took over "
                f"the gateway's client id and its clean start discarded the gateway's queued session. "
                f"Broker log: {[line for line in log.splitlines() if site.gateway_user.username in line][-4:]}"
            ) from None
    finally:
        gateway.stop()
        site.broker.stop()


# -- HTTP ----------------------------------------------------------------------------------------------------
def operations(base_url: str) -> list[tuple[str, str, dict]]:
    doc = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    return [(method.upper(), path, op) for path, methods in doc["paths"].items() for method, op in methods.items()]


def call(base_url: str, method: str, path: str, headers: dict[str, str]) -> int:
    url = base_url + path.format(**PATH_VALUES)
    body = {"json": BODIES[method]} if method in BODIES else {}
    return httpx.request(method, url, headers=headers, timeout=30, **body).status_code


def base_url(building: Building, name: str) -> str:
    return building.site.gateway_url if name == "gateway" else building.site.central_url


# The gateway's policy, written out here: its document states the roles its guards admit (``x-roles``, from
# ``web.openapi``) and must agree; a route the document gains that is not listed fails the test until someone
# decides.
_ANYONE = {r.value for r in Role} - {Role.GATEWAY.value}  # the gateway role is central's machine credential
_OPERATIONS = {"staff", "facilities", "technician", "admin"}
GATEWAY_ROLES = {
    ("GET", "/api/v1/spaces"): _ANYONE,
    ("GET", "/api/v1/devices"): _OPERATIONS,
    ("GET", "/api/v1/alerts"): _ANYONE,
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): _ANYONE,
    ("POST", "/api/v1/alerts/{alert_id}/resolve"): _ANYONE,
    ("POST", "/api/v1/alerts/{alert_id}/assign"): _ANYONE,
    ("GET", "/api/v1/alerts/stats"): _ANYONE,
    ("GET", "/api/v1/sync"): _OPERATIONS,
    ("GET", "/api/v1/dead-letters"): {"technician", "admin"},
    ("GET", "/api/v1/quarantine"): {"technician", "admin"},
    ("GET", "/api/v1/overview"): _ANYONE,
    # work orders: every person's role; which departments' orders it sees is the route's own filter
    ("GET", "/api/v1/work-orders"): _ANYONE,
    ("GET", "/api/v1/work-orders/{order_id}"): _ANYONE,
    ("POST", "/api/v1/work-orders/{order_id}"): _ANYONE,
}


def allowed_roles(name: str, method: str, path: str, op: dict) -> set[str] | None:
    """The roles a route admits: declared in the document (``x-roles``) or, for the gateway, listed above."""
    if name == "gateway":
        return GATEWAY_ROLES.get((method, path))
    return set(op["x-roles"]) if "x-roles" in op else None


@pytest.mark.parametrize("name", ["gateway", "central"])
def test_every_route_refuses_callers_without_a_token_or_with_the_wrong_role(building, name):
    url = base_url(building, name)
    ops = operations(url)
    assert len(ops) >= (10 if name == "gateway" else 20), "the OpenAPI document lost its routes"
    problems = []
    for method, path, op in ops:
        if (method, path) in OPEN_ROUTES:
            if call(url, method, path, {}) != 200:
                problems.append(f"{method} {path}: open route does not answer without a token")
            continue
        for headers, what in (({}, "no token"), ({"Authorization": "Bearer not-a-token"}, "an unknown token")):
            if (status := call(url, method, path, headers)) != 401:
                problems.append(f"{method} {path}: {status} with {what} (want 401)")
        allowed = allowed_roles(name, method, path, op)
        if name == "gateway" and set(op.get("x-roles", ())) != (allowed or set()):
            problems.append(f"{method} {path}: the document's roles {op.get('x-roles')} are not the policy's")
        if allowed is None:
            problems.append(f"{method} {path}: neither open by intent nor declaring its roles")
            continue
        for role in Role:
            status = call(url, method, path, bearer(building.site, role.value))
            if role.value not in allowed and status != 403:
                problems.append(f"{method} {path}: {status} for role {role.value} (want 403)")
            if role.value in allowed and status in (401, 403):
                problems.append(f"{method} {path}: {status} for role {role.value}, which it admits")
    assert not problems, "\n".join(problems)


def pinned(case: schemathesis.Case) -> schemathesis.Case:
    """Point a generated request at this building (its site and space) so it reaches the handlers and the
    data behind them, not only the site check; every other value stays generated."""
    if case.path_parameters:
        for name in ("site", "space"):
            if name in case.path_parameters:
                case.path_parameters[name] = PATH_VALUES[name]
    if isinstance(case.body, dict) and "site" in case.body:
        case.body["site"] = PATH_VALUES["site"]
    return case


def fuzz(operation, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    """A bounded, derandomized Hypothesis run of ``operation`` against the live server. Requests are pinned to
    this building except the configuration upload, which would otherwise rewrite the building under the
    module's other tests."""
    strategy = operation.as_strategy()
    if not (operation.method.upper() == "PUT" and operation.path.endswith("/config")):
        strategy = strategy.map(pinned)

    @given(case=strategy)
    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error], timeout=30)

    return run


@pytest.mark.parametrize("name", ["gateway", "central"])
def test_fuzzed_requests_with_valid_tokens_cause_no_server_errors(building, name):
    url = base_url(building, name)
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations_ = [result.ok() for result in schema.get_all_operations()]
    assert len(operations_) >= (10 if name == "gateway" else 20)
    failures: list[str] = []
    for operation in operations_:
        roles = operation.definition.raw.get("x-roles") if name == "central" else ["admin"]
        headers = bearer(building.site, roles[0]) if roles else {}

        run = fuzz(operation, headers)
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - every operation's failure, reported together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert building.gateway.running and building.central.running


# -- logs (last: it scans what the whole module wrote) ---------------------------------------------------------
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[,.]\d+)?:?")


def vital_tokens(line: str) -> set[str]:
    """The vital-sign values that appear in ``line`` as numbers of their own (timestamps stripped)."""
    body = TIMESTAMP.sub("", line)
    found = set()
    for value, _unit in VITALS.values():
        if re.search(rf"(?<![\w.:/-]){re.escape(str(value))}(?:\.0+)?(?!\w)(?!\.\d)", body):
            found.add(str(value))
    return found


def test_no_log_holds_a_card_number_or_a_vital_sign(building):
    site, kiosk, station = building.site, building.kiosk, building.station
    tap, screen = kiosk.settings.device, station.settings.device
    for _ in range(6):  # students in and out
        card = building.card()
        assert within(tap, kiosk.handle_card, card).event and within(tap, kiosk.handle_card, card).event
    subjects = []
    # At the health station: alarming readings, then a PHQ-9 with item 9 answered (a same-day alert).
    card = building.card()
    subjects.append(card)
    within(screen, station.handle_card, card)
    within(screen, station.accept_consent)
    for code, (value, unit) in VITALS.items():
        assert station.measurement(Measurement(code=code, value=value, unit=unit, device_model="sec-test"))
    within(screen, station.begin, "PHQ-9")
    for answer in (2, 3, 2, 3, 2, 3, 2, 3, 2):
        within(screen, station.answer, answer)
    assert within(screen, station.finish) is not None
    within(screen, station.done)
    # The same from a raw health station, plus messages that break the contract while carrying a card and
    # vital signs, which the gateway quarantines (and logs).
    raw = RawDevice(site, RAW_STATION)
    card = building.card()
    subjects.append(card)
    values = {"systolic": 187, "diastolic": 121, "pulse": 143, "spo2": 87, "temperature": 39.7, "weight": 93.4}
    raw.publish("screening", screening(card, **values))
    leaky = json.loads(new_event(RAW_STATION, 99, "screening", screening(building.card(), **values)).to_json())
    bad_messages = [
        json.dumps({**leaky, "device": RAW_SENSOR}).encode(),  # device-mismatch
        json.dumps({**leaky, "data": {**leaky["data"], "complete": "maybe"}}).encode(),  # schema
        json.dumps({**leaky, "v": 2}).encode(),  # version
        b"{not json " + json.dumps(leaky).encode(),  # invalid-json
        json.dumps({**leaky, "pad": building.card() * 2000}).encode(),  # too-large
    ]
    for payload in bad_messages:
        raw.publish_raw("screening", payload)
    raw.settle()
    raw.close()
    # Health staff look students up at central (card numbers in query strings); others are refused.
    central = site.central_url
    for card in subjects:
        for route in ("/api/v1/screenings", "/api/v1/questionnaires", "/api/v1/fhir/Observation"):
            for role in ("clinic", "staff"):
                httpx.get(f"{central}{route}", params={"subject": card}, headers=bearer(site, role), timeout=10)
        httpx.get(f"{central}/api/v1/screenings", params={"subject": card}, timeout=10)

    def at_central(card: str) -> bool:
        answer = httpx.get(f"{central}/api/v1/screenings", params={"subject": card},
                           headers=bearer(site, "clinic"), timeout=10)
        return answer.status_code == 200 and len(answer.json()) >= 1

    wait_until(lambda: all(at_central(card) for card in subjects), timeout=60, what="the screenings at central")
    wait_until(lambda: httpx.get(f"{site.gateway_url}/api/v1/stats").json()["quarantined"] >= len(bad_messages),
               what="the bad messages quarantined")
    alerts = httpx.get(f"{site.gateway_url}/api/v1/alerts", headers=bearer(site, "clinic")).json()
    assert alerts, "the alarming screenings raised no alert: the scan would miss the alert path"
    time.sleep(1.0)  # let the services write what they log about the last of it

    logs = sorted(p for p in site.root.rglob("*.log") if p.is_file())
    names = {p.relative_to(site.root).as_posix() for p in logs}
    assert {"logs/gateway.log", "logs/central.log", "logs/devices.log", "broker/mosquitto.log"} <= names, names
    leaks = []
    for path in logs:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert text.strip(), f"{path} is empty: nothing to scan"
        for number, line in enumerate(text.splitlines(), 1):
            cards = sorted(c for c in building.cards if c in line or c.lower() in line)
            vitals = vital_tokens(line)
            if cards or vitals:
                leaks.append(f"{path.relative_to(site.root)}:{number}: cards {cards} vitals {sorted(vitals)}: "
                             f"{line[:300]}")
    assert len(building.cards) >= 10
    assert not leaks, "personal data in logs:\n" + "\n".join(leaks[:40])
