"""Staff display accounts against a real Mosquitto run from the files provisioning wrote: a display reads its
own teams' alert topics and nothing else, and publishes nothing."""

from __future__ import annotations

import re
import time

from typer.testing import CliRunner

from onestop import topics
from provisioning.cli import app
from tests.helpers import wait_until
from tests.provisioning.conftest import LiveSite
from tests.provisioning.mqtt_probe import NOT_AUTHORIZED, Probe

runner = CliRunner()
DISPLAY = "clinic-desk-1"


def add_display(live: LiveSite, *teams: str) -> str:
    """``onestop provision display add``; returns the password it printed."""
    options = [arg for team in teams for arg in ("--team", team)]
    result = runner.invoke(app, ["display", "add", DISPLAY, *options, "--dir", str(live.root)])
    assert result.exit_code == 0, result.output
    assert "reloaded" in result.output
    return re.search(r'^password = "([^"]+)"$', result.output, re.M).group(1)


def test_a_display_reads_its_teams_alerts_only_and_publishes_nothing(live):
    site = live.site.name
    live.site.add_device("kiosk-a1", "kiosk", "study")
    password = add_display(live, "clinic")
    passwd = live.site.layout.passwd.read_text()
    assert f"{DISPLAY}:$7$" in passwd and password not in passwd
    assert password.encode() not in live.site.paths.registry.read_bytes()

    gateway = Probe(live.site.settings["port"], live.gateway_user, live.gateway_password, client_id="gw-probe")
    display = Probe(live.site.settings["port"], DISPLAY, password, client_id=DISPLAY)
    try:
        assert gateway.connect() == 0 and display.connect() == 0
        elsewhere = [topics.alert(site, "counselling"), topics.alert(site, "facilities"),
                     topics.event(site, "kiosk-a1", "checkin"), topics.state(site, "kiosk-a1"),
                     topics.cfg(site, "kiosk-a1"), topics.occupancy(site, "study"), topics.gateway_state(site),
                     topics.event(site, DISPLAY, "heartbeat"), topics.cfg(site, DISPLAY)]
        for wanted in ["#", topics.site_tree(site), topics.alert(site, "clinic"), *elsewhere]:
            display.subscribe(wanted)
        for topic in [*elsewhere, topics.alert(site, "clinic")]:  # the clinic's last: then all have arrived
            assert gateway.publish(topic, b'{"summary": "probe"}') == 0
        wait_until(lambda: display.received(topics.alert(site, "clinic")), 5, what="the clinic's alert")
        time.sleep(0.3)
        assert {m.topic for m in display.messages} == {topics.alert(site, "clinic")}

        for topic in [topics.alert(site, "clinic"), topics.event(site, DISPLAY, "heartbeat"),
                      topics.state(site, DISPLAY), topics.event(site, "kiosk-a1", "screening"),
                      topics.occupancy(site, "study"), topics.gateway_state(site), "anything/else"]:
            assert display.publish(topic, b"{}") == NOT_AUTHORIZED, topic
    finally:
        display.close()
        gateway.close()


def test_a_display_for_two_teams_reads_both_and_removing_it_ends_its_access(live):
    site = live.site.name
    password = add_display(live, "clinic", "counselling")
    listed = runner.invoke(app, ["display", "list", "--dir", str(live.root)]).output
    assert DISPLAY in listed and "clinic, counselling" in listed
    gateway = Probe(live.site.settings["port"], live.gateway_user, live.gateway_password, client_id="gw-probe")
    display = Probe(live.site.settings["port"], DISPLAY, password, client_id=DISPLAY)
    try:
        assert gateway.connect() == 0 and display.connect() == 0
        display.subscribe(topics.branch_filter("alert", site))
        for team in ("facilities", "clinic", "counselling"):
            assert gateway.publish(topics.alert(site, team), b"{}") == 0
        wait_until(lambda: display.received(topics.alert(site, "counselling")), 5, what="counselling's alert")
        assert {m.topic for m in display.messages} == {topics.alert(site, "clinic"), topics.alert(site, "counselling")}

        result = runner.invoke(app, ["display", "remove", DISPLAY, "--dir", str(live.root)])
        assert result.exit_code == 0, result.output
        assert display.disconnected.wait(5)
        assert Probe(live.site.settings["port"], DISPLAY, password, client_id=DISPLAY).connect() == NOT_AUTHORIZED
    finally:
        display.close()
        gateway.close()


def test_display_names_and_teams_are_checked(live):
    live.site.add_device("kiosk-a1", "kiosk", "study")
    for args, message in [(["kiosk-a1", "--team", "clinic"], "device id"),
                          ([f"{live.site.name}-gateway", "--team", "clinic"], "service"),
                          ([DISPLAY, "--team", "students"], "invalid team"),
                          (["Bad Name", "--team", "clinic"], "invalid device id")]:
        result = runner.invoke(app, ["display", "add", *args, "--dir", str(live.root)])
        assert result.exit_code == 1 and message in result.output, result.output
    add_display(live, "clinic")
    assert "already exists" in runner.invoke(app, ["display", "add", DISPLAY, "--team", "clinic", "--dir",
                                                   str(live.root)]).output
    result = runner.invoke(app, ["device", "add", DISPLAY, "--kind", "kiosk", "--space", "study", "--dir",
                                 str(live.root)])
    assert result.exit_code == 1 and "staff display" in result.output
