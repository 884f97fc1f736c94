"""Against a real Mosquitto run from the configuration ``init`` generated: who may connect, publish and
read; what revoke and rotate do to new and live connections; TLS in both directions; a kiosk from a bundle.

What these tests established about Mosquitto 2.0.11 (docs/provisioning.md relies on it):
- an MQTT 5 publish outside the ACL gets PUBACK reason 0x87 (not authorised) and reaches nobody;
- on SIGHUP the broker re-reads the password file and disconnects every connected client whose user is
  gone *or whose password no longer matches*, so revoke and rotate end live sessions within about a
  second; the dropped client's Last Will is *not* published, so provisioning sets its retained state
  offline itself;
- a refused CONNECT is answered with CONNACK 0x87 (MQTT 5) for an unknown user or a wrong password.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import ssl
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from firmware_bridge.simulators import SimulatedDevice
from kiosk.runtime import KioskRuntime
from kiosk.settings import load as load_kiosk
from onestop import topics
from onestop.events import MAX_PACKET_BYTES, MAX_PAYLOAD_BYTES
from onestop.payloads import GatewayState
from provisioning import bundle
from provisioning.cli import app
from tests.helpers import wait_until
from tests.provisioning.conftest import LiveSite, make_site
from tests.provisioning.mqtt_probe import NOT_AUTHORIZED, Probe

runner = CliRunner()


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def device_probe(live: LiveSite, device: str, password: str | None = None, **kwargs) -> Probe:
    secret = password or live.site.registry.pending_secret(device).password
    return Probe(live.site.settings["port"], device, secret, client_id=device, **kwargs)


def gateway_probe(live: LiveSite) -> Probe:
    return Probe(live.site.settings["port"], live.gateway_user, live.gateway_password,
                 client_id=f"{live.gateway_user}-probe")


@pytest.fixture
def watcher(live: LiveSite):
    """The gateway's user subscribed to the whole site tree, with the retained birth a gateway publishes once
    it has subscribed (devices send events only after they have seen it)."""
    probe = gateway_probe(live)
    assert probe.connect() == 0
    probe.subscribe(topics.site_tree(live.site.name))
    birth = GatewayState(online=True, boot="watcher").model_dump_json().encode()
    assert probe.publish(topics.gateway_state(live.site.name), birth, retain=True) == 0
    yield probe
    probe.close()


def test_a_device_publishes_on_its_own_topics_and_the_gateway_receives_them(live, watcher):
    live.site.add_device("kiosk-a1", "kiosk", "study")
    live.site.reload()
    kiosk = device_probe(live, "kiosk-a1")
    try:
        assert kiosk.connect() == 0
        topic = topics.event(live.site.name, "kiosk-a1", "heartbeat")
        assert kiosk.publish(topic, b'{"uptime_s": 1}') == 0
        wait_until(lambda: watcher.received(topic), 5, what="the event at the gateway")
    finally:
        kiosk.close()


def test_a_device_is_denied_another_devices_topics(live, watcher):
    live.site.add_device("kiosk-a1", "kiosk", "study")
    live.site.add_device("kiosk-a2", "kiosk", "study")
    live.site.reload()
    kiosk = device_probe(live, "kiosk-a1")
    try:
        assert kiosk.connect() == 0
        forged = topics.event(live.site.name, "kiosk-a2", "checkin")
        assert kiosk.publish(forged, b"{}") == NOT_AUTHORIZED
        assert kiosk.publish(topics.cfg(live.site.name, "kiosk-a2"), b"{}") == NOT_AUTHORIZED
        own = topics.event(live.site.name, "kiosk-a1", "heartbeat")
        assert kiosk.publish(own, b"{}") == 0
        wait_until(lambda: watcher.received(own), 5, what="the device's own event")
        assert watcher.received(forged) == []  # published before `own`, so it would have arrived first
    finally:
        kiosk.close()


def test_a_packet_larger_than_the_bound_is_refused_and_not_kept_while_a_full_size_event_passes(live, watcher):
    live.site.add_device("kiosk-a1", "kiosk", "study")
    live.site.reload()
    secret = live.site.registry.pending_secret("kiosk-a1").password
    huge, full = (topics.event(live.site.name, "kiosk-a1", kind) for kind in ("fault", "heartbeat"))
    for topic, size in ((huge, MAX_PACKET_BYTES + 1), (full, MAX_PAYLOAD_BYTES)):
        # MQTT 3.1.1, retained: the broker tells such a client no limit, so only the broker's own check stops it.
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(live.site.settings["port"]), "-u", "kiosk-a1",
                        "-P", secret, "-i", "kiosk-a1", "-V", "mqttv311", "-q", "1", "-r", "-t", topic, "-s"],
                       input=b"x" * size, capture_output=True, timeout=10)
    wait_until(lambda: watcher.received(full), 5, what="the full-size event")
    assert watcher.received(huge) == []  # published first, so it would have arrived first
    fresh = gateway_probe(live)
    try:
        assert fresh.connect() == 0
        fresh.subscribe(topics.events_filter(live.site.name))
        wait_until(lambda: fresh.received(full), 5, what="the retained full-size event")
        assert fresh.received(huge) == [], "the broker kept the oversized message"
    finally:
        fresh.close()


def test_anonymous_and_wrong_passwords_are_refused(live):
    live.site.add_device("kiosk-a1", "kiosk", "study")
    live.site.reload()
    for probe in (Probe(live.site.settings["port"]), device_probe(live, "kiosk-a1", "not-the-password"),
                  Probe(live.site.settings["port"], "nobody-here", "x")):
        try:
            assert probe.connect() == NOT_AUTHORIZED
        finally:
            probe.close()


def test_revoke_refuses_new_connections_and_drops_the_live_one(live, watcher):
    live.site.add_device("kiosk-a1", "kiosk", "study")
    password = live.site.registry.pending_secret("kiosk-a1").password
    live.site.reload()
    state = topics.state(live.site.name, "kiosk-a1")
    will = json.dumps({"online": False, "boot": "b1", "from": "will"})
    kiosk = device_probe(live, "kiosk-a1", password)
    kiosk.client.will_set(state, will, qos=1, retain=True)
    try:
        assert kiosk.connect() == 0
        assert kiosk.publish(state, json.dumps({"online": True, "boot": "b1"}), retain=True) == 0
        started = time.monotonic()
        result = runner.invoke(app, ["device", "revoke", "kiosk-a1", "--dir", str(live.root)])
        assert result.exit_code == 0, result.output
        assert "reloaded" in result.output and "state set to offline" in result.output
        assert kiosk.disconnected.wait(5), "the live session survived the revoke"
        assert time.monotonic() - started < 5
        offline = json.dumps({"online": False, "boot": "b1", "reason": "revoked"}).encode()
        wait_until(lambda: offline in watcher.received(state), 5, what="the offline state after revoke")
        time.sleep(0.5)
        assert will.encode() not in watcher.received(state)  # Mosquitto sends no Will for this disconnect
    finally:
        kiosk.close()
    again = device_probe(live, "kiosk-a1", password)
    try:
        assert again.connect() == NOT_AUTHORIZED
    finally:
        again.close()


def test_after_rotate_only_the_new_password_works(live):
    live.site.add_device("kiosk-a1", "kiosk", "study")
    old = live.site.registry.pending_secret("kiosk-a1").password
    live.site.reload()
    session = device_probe(live, "kiosk-a1", old)
    state = topics.state(live.site.name, "kiosk-a1")
    try:
        assert session.connect() == 0
        birth = json.dumps({"online": True, "boot": "b7"})
        assert session.publish(state, birth, retain=True) < 0x80  # 0x10 "no matching subscribers" is a success
        result = runner.invoke(app, ["device", "rotate", "kiosk-a1", "--dir", str(live.root)])
        assert result.exit_code == 0, result.output
        assert session.disconnected.wait(5), "a session with the old password survived the rotation"
        assert "state set to offline" in result.output
    finally:
        session.close()
    new = live.site.registry.pending_secret("kiosk-a1").password
    for password, expected in ((old, NOT_AUTHORIZED), (new, 0)):
        probe = device_probe(live, "kiosk-a1", password)
        try:
            assert probe.connect() == expected
        finally:
            probe.close()


def test_a_kiosk_from_its_bundle_delivers_a_tap_over_tls(live, watcher, tmp_path):
    live.site.add_space("study-24h-2f", 100)
    live.site.add_device("kiosk-b3-lobby", "kiosk", "study-24h-2f")
    live.site.reload()
    out = tmp_path / "bundle"
    bundle.issue(live.site, "kiosk-b3-lobby", out, broker_host="127.0.0.1")
    settings = load_kiosk(out / "kiosk-b3-lobby.toml")
    assert settings.broker.tls_ca and settings.broker.port == live.site.settings["tls_port"]
    runtime = KioskRuntime(settings)
    runtime.start()
    try:
        assert runtime.link.client.wait_connected(10), runtime.link.client.refused
        tap = runtime.handle_card("922E5832")
        assert tap.event is not None
        topic = topics.event(live.site.name, "kiosk-b3-lobby", tap.event.type)

        def delivered():
            return [json.loads(p) for p in watcher.received(topic) if json.loads(p)["id"] == str(tap.event.id)]
        event = wait_until(delivered, 10, what="the tap at the gateway")[0]
        assert event["device"] == "kiosk-b3-lobby" and event["data"]["space"] == "study-24h-2f"
    finally:
        runtime.stop()


def tls_probe(live: LiveSite, device: str, password: str, ca, cert=None, key=None) -> Probe:
    return Probe(live.site.settings["tls_port"], device, password, client_id=device, tls_ca=ca, tls_cert=cert,
                 tls_key=key)


def refused_at_tls(probe: Probe) -> bool:
    """True when the TLS session never reached an accepted CONNACK."""
    try:
        code = probe.connect()
    except (ssl.SSLError, OSError):
        return True
    finally:
        probe.close()
    return code != 0


def test_a_client_that_trusts_another_ca_rejects_the_broker(live, tmp_path):
    other = make_site(tmp_path / "other", "other-site")
    live.site.add_device("kiosk-a1", "kiosk", "study")
    password = live.site.registry.pending_secret("kiosk-a1").password
    live.site.reload()
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_probe(live, "kiosk-a1", password, other.paths.ca_cert).connect()
    good = tls_probe(live, "kiosk-a1", password, live.site.paths.ca_cert)
    try:
        assert good.connect() == 0
    finally:
        good.close()
    other.close()


def test_with_client_certificates_required_only_the_site_cas_certificates_get_in(start_broker, tmp_path):
    strict = make_site(tmp_path / "strict", "strict-site", require_client_cert=True)
    other = make_site(tmp_path / "other", "other-site")
    live = start_broker(strict)
    strict.add_device("kiosk-c1", "kiosk", "study", cert=True)
    other.add_device("kiosk-c1", "kiosk", "study", cert=True)  # same id, foreign CA
    live.site.reload()
    password = strict.registry.pending_secret("kiosk-c1").password
    ours = bundle.issue(strict, "kiosk-c1", tmp_path / "ours")
    bundle.issue(other, "kiosk-c1", tmp_path / "theirs")
    assert {f.name for f in ours.files} >= {"client.crt", "client.key"}
    ca = strict.paths.ca_cert

    good = tls_probe(live, "kiosk-c1", password, ca, tmp_path / "ours" / "client.crt", tmp_path / "ours" / "client.key")
    try:
        assert good.connect() == 0
    finally:
        good.close()
    assert refused_at_tls(tls_probe(live, "kiosk-c1", password, ca, tmp_path / "theirs" / "client.crt",
                                    tmp_path / "theirs" / "client.key"))
    assert refused_at_tls(tls_probe(live, "kiosk-c1", password, ca))
    other.close()


@pytest.mark.skipif(os.geteuid() != 0 or not _user_exists("mosquitto"), reason="needs root and a mosquitto user")
def test_as_root_the_broker_drops_to_the_mosquitto_user_and_still_reads_its_files(start_broker):
    # The deployed shape: files owned by the mosquitto user, DIR passable by its group only. pytest's own
    # tmp_path lies under a 0700 directory the mosquitto user cannot enter, hence a directory of our own.
    base = Path(tempfile.mkdtemp(prefix="onestop-deploy-"))
    try:
        os.chmod(base, 0o711)
        site = make_site(base / "provision", broker_user="mosquitto")
        assert stat.S_IMODE(site.paths.root.stat().st_mode) == 0o710
        assert site.layout.passwd.stat().st_uid == pwd.getpwnam("mosquitto").pw_uid
        live = start_broker(site)
        pid = int(site.layout.pid_file.read_text())
        assert pwd.getpwuid(Path(f"/proc/{pid}").stat().st_uid).pw_name == "mosquitto"
        site.add_device("kiosk-a1", "kiosk", "study")
        assert site.reload().signalled  # re-read as the mosquitto user
        probe = device_probe(live, "kiosk-a1")
        try:
            assert probe.connect() == 0
        finally:
            probe.close()
        live.broker.stop()
        site.close()
    finally:
        shutil.rmtree(base)


def test_a_sensor_node_bundle_made_by_the_cli_runs_a_node_whose_readings_reach_the_broker(live, watcher, tmp_path):
    root = str(live.root)
    with SimulatedDevice("and-scale", seed=5) as scale:
        result = runner.invoke(app, ["device", "add", "sensor-b3-scale", "--kind", "sensor", "--space", "study",
                                     "--sensor", f"and-scale={scale.path}", "--out", str(tmp_path / "node"),
                                     "--dir", root])
        assert result.exit_code == 0, result.output
        assert f"sensors: and-scale (and-scale) on {scale.path}" in result.output
        node = subprocess.Popen([sys.executable, "-m", "onestop", "bridge", "run", "--config",
                                 str(tmp_path / "node" / "sensor-b3-scale.toml")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            topic = topics.event(live.site.name, "sensor-b3-scale", "reading")

            def weighed():
                if node.poll() is not None:
                    raise AssertionError(f"the node exited: {node.stderr.read().decode()}")
                scale.measure(weight=72.5)
                return watcher.received(topic)
            reading = json.loads(wait_until(weighed, 30, interval=1.0, what="a reading at the broker")[0])
            assert reading["data"] == {"sensor": "and-scale", "code": "29463-7", "value": 72.5, "unit": "kg",
                                       "space": "study"}
        finally:
            node.terminate()
            assert node.wait(15) == 0
        assert b"Traceback" not in node.stderr.read()


def test_the_gateway_receiver_takes_events_over_tls_and_refuses_a_broker_another_ca_vouches_for(live, tmp_path,
                                                                                                 caplog):
    """The gateway's own MQTT client (``gateway/receiver.py``, not paho) on the TLS listener: verified against
    the site CA it connects, subscribes and gets a device's event; trusting another CA it never connects and
    says why once."""
    from gateway.receiver import Receiver
    from onestop.mqtt import BrokerAddress

    live.site.add_device("kiosk-a1", "kiosk", "study")
    live.site.reload()
    batches: list[list] = []

    def receiver(ca: Path) -> Receiver:
        address = BrokerAddress(host="127.0.0.1", port=live.site.settings["tls_port"], username=live.gateway_user,
                                password=live.gateway_password, tls_ca=ca)
        return Receiver(address, live.gateway_user, will=None, subscriptions=[(topics.site_tree(live.site.name), 1)],
                        on_batch=batches.append, on_connection=lambda _up: None, batch_max=100, batch_wait_s=0.01,
                        receive_maximum=100)

    distrusting = receiver(make_site(tmp_path / "other", "other-site").paths.ca_cert)
    distrusting.start()
    try:
        assert not distrusting.wait_connected(2)
        assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    finally:
        distrusting.stop()
    trusting = receiver(live.site.paths.ca_cert)
    trusting.start()
    kiosk = device_probe(live, "kiosk-a1")
    try:
        assert trusting.wait_connected(10)
        assert kiosk.connect() == 0
        topic = topics.event(live.site.name, "kiosk-a1", "heartbeat")
        assert kiosk.publish(topic, b'{"over": "tls"}') == 0
        wait_until(lambda: any(m.topic == topic for batch in batches for m in batch), 10, what="the event over TLS")
    finally:
        kiosk.close()
        trusting.stop()
