"""The card directory end to end (#18): the example CSV imported at central, central's share for the site
fetched by the gateway, each kiosk's cfg carrying keyed hashes only; lost, blocked and graduated cards refused
at a kiosk with central down, and with the gateway restarted from its last good copy."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from typer.testing import CliRunner

from harness.localsite import gateway_process
from onestop.cli import app
from tests.conftest import KIOSKS
from tests.helpers import Collector, raw_client, wait_until

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "directory.csv"
ACTIVE_CLINICAL, LOST, ACTIVE_LIBRARY, BLOCKED, GRADUATED, STAFF_CLINICAL = (
    "04A1B2C3D4", "04B2C3D4E5", "04C3D4E5F6", "04D4E5F607", "04E5F60718", "1234567890")
STUDY_A, STUDY_B, LAB = (k.device for k in KIOSKS)  # study-24h-2f twice, skills-lab-1


def test_lost_cards_are_refused_offline_and_no_card_number_is_on_mqtt(site, broker, central, kiosk_factory):
    imported = CliRunner().invoke(app, ["central", "directory", "import", str(EXAMPLE),
                                        "--config", str(site.path("central.toml"))])
    assert imported.exit_code == 0, imported.output
    config = site.site_config()
    for space in config["spaces"]:
        if space["id"] == "skills-lab-1":
            space["groups"] = ["clinical-y3"]
    admin = {"Authorization": f"Bearer {site.tokens['admin']}"}
    assert httpx.put(f"{site.central_url}/api/v1/gateways/{site.site}/config", json=config,
                     headers=admin).status_code == 200

    gateway = gateway_process(site)
    gateway.env["ONESTOP_GATEWAY__CENTRAL__CONFIG_INTERVAL_S"] = "0.5"
    gateway.start()
    watcher = raw_client(site.broker_port, site.observer.username, site.observer.password, "cards-watch")
    collector = Collector(watcher, f"onestop/v1/{site.site}/#")
    try:
        study, lab = kiosk_factory(STUDY_A), kiosk_factory(LAB)
        wait_until(lambda: study.config.cards is not None and lab.config.cards is not None
                   and lab.config.cards.allowed is not None, timeout=30, what="the card lists in the kiosks' cfg")
        central.stop()  # the WAN is down from here on: kiosks decide from their last good copy

        assert study.handle_card(ACTIVE_LIBRARY).decision.feedback == "welcome"
        for card, feedback in ((LOST, "card-lost"), (BLOCKED, "card-blocked"), (GRADUATED, "card-expired")):
            tap = study.handle_card(card)
            assert tap.decision.feedback == feedback and tap.event is None
        assert lab.handle_card(ACTIVE_CLINICAL).decision.feedback == "welcome"
        assert lab.handle_card(STAFF_CLINICAL).decision.feedback == "welcome"
        refused = lab.handle_card(ACTIVE_LIBRARY)
        assert refused.decision.feedback == "not-admitted" and refused.event is None
        assert lab.handle_card(LOST).decision.feedback == "card-lost"
        assert study.controller.refused == {"card-lost": 1, "card-blocked": 1, "card-expired": 1}
        assert lab.controller.refused == {"not-admitted": 1, "card-lost": 1}

        study_cfg, lab_cfg = (json.loads(collector.on(f"dev/{d}/cfg")[-1]) for d in (STUDY_A, LAB))
        assert "allowed" not in study_cfg["cards"] and lab_cfg["cards"]["allowed"]  # keyed hashes only
        # A refused card is on no topic at all; no card is on a topic but the kiosks' own events (which only
        # the gateway reads): not in any cfg, presence or occupancy.
        everything = b"".join(payload for _topic, payload, _at in collector.messages)
        shared = b"".join(payload for topic, payload, _at in collector.messages if "/evt/" not in topic)
        for card in (LOST, BLOCKED, GRADUATED):
            assert card.encode() not in everything
        for card in (ACTIVE_CLINICAL, ACTIVE_LIBRARY, STAFF_CLINICAL):
            assert card.encode() not in shared and card.lower().encode() not in shared
    finally:
        gateway.stop()
        watcher.loop_stop()

    # The gateway restarts with central still down: its last good copy reaches a kiosk that starts now.
    assert site.path("gateway/site-cards.json").exists()
    assert LOST.encode() not in site.path("gateway/site-cards.json").read_bytes()
    offline = gateway_process(site)
    offline.start()
    try:
        late = kiosk_factory(STUDY_B)
        wait_until(lambda: late.config.cards is not None, timeout=30, what="the card list from the gateway's copy")
        tap = late.handle_card(LOST)
        assert tap.decision.feedback == "card-lost" and tap.event is None
        assert late.handle_card("04FF000001").decision.feedback == "welcome"  # a card the directory does not refuse
    finally:
        offline.stop()
