"""Bearer tokens for machines expire and rotate: against central served by uvicorn, configured from the
entries ``onestop central token rotate`` prints."""

from __future__ import annotations

import logging
import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import tomli_w
from typer.testing import CliRunner

from central.api import create_app
from central.settings import CentralSettings
from central.store import CentralStore
from onestop.cli import app as cli
from onestop.roles import Role, TokenEntry, entry_toml, new_token, rotate
from tests.helpers import served

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def central_toml(path: Path, entries: list[TokenEntry]) -> Path:
    config = path / "central.toml"
    config.write_text(tomli_w.dumps({"database_url": f"sqlite:///{path / 'central.db'}",
                                     "pseudonym_key_file": str(path / "pseudonym.key")})
                      + "\n" + "\n\n".join(entry_toml(e) for e in entries) + "\n")
    return config


def serve(config: Path):
    settings = CentralSettings.model_validate(tomllib.loads(config.read_text()))
    store = CentralStore(settings.database_url)
    return served(create_app(settings, store)), store


def test_rotation_overlaps_the_holders_old_and_new_tokens_then_refuses_the_expired_one(tmp_path, caplog):
    old_token, old = new_token("ops-script", Role.STAFF)
    config = central_toml(tmp_path, [old])
    printed = CliRunner().invoke(cli, ["central", "token", "rotate", "-c", str(config), "ops-script",
                                       "--days", "30", "--overlap-days", "2"])
    assert printed.exit_code == 0, printed.output
    new_token_value = re.search(r"give it to ops-script\):\n(\S+)", printed.output).group(1)
    entries_toml = printed.output.split("with these:\n", 1)[1]
    entries = [TokenEntry(**t) for t in tomllib.loads(entries_toml)["tokens"]]
    assert [(e.name, e.role, e.sha256 == old.sha256) for e in entries] == \
        [("ops-script", Role.STAFF, True), ("ops-script", Role.STAFF, False)]
    soon = datetime.now(UTC)
    assert timedelta(days=1.9) < entries[0].expires - soon <= timedelta(days=2)
    assert timedelta(days=29.9) < entries[1].expires - soon <= timedelta(days=30)

    config.write_text(config.read_text().split("[[tokens]]")[0] + entries_toml)
    caplog.set_level(logging.WARNING, logger="web.auth")
    server, store = serve(config)
    with server as client:
        for token in (old_token, new_token_value):  # both accepted while the holder changes over
            answer = client.get("/api/v1/alerts/summary", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200, answer.text
        assert "onestop_central_tokens_expiring_soon 1.0" in client.get("/metrics").text
    store.close()
    assert any("'ops-script' expires at" in r.getMessage() for r in caplog.records), "warned before expiry"

    # After the overlap: the old entry has expired and is refused, saying so; the new one goes on.
    ended = [entries[0].model_copy(update={"expires": datetime.now(UTC) - timedelta(seconds=1)}), entries[1]]
    server, store = serve(central_toml(tmp_path, ended))
    with server as client:
        refused = client.get("/api/v1/alerts/summary", headers={"Authorization": f"Bearer {old_token}"})
        assert refused.status_code == 401
        assert refused.json()["detail"].startswith("bearer token expired at ")
        assert client.get("/api/v1/alerts/summary",
                          headers={"Authorization": f"Bearer {new_token_value}"}).status_code == 200
    store.close()


def test_rotating_a_gateway_token_keeps_its_site_and_shortens_no_earlier_expiry():
    _, first = new_token("gateway-north-b3", Role.GATEWAY, site="north-b3", expires=NOW + timedelta(hours=1))
    _, other = new_token("staff-script", Role.STAFF)
    token, entry, old = rotate([first, other], "gateway-north-b3", NOW, timedelta(days=90), timedelta(days=7))
    assert (entry.role, entry.site, entry.expires) == (Role.GATEWAY, "north-b3", NOW + timedelta(days=90))
    assert [o.expires for o in old] == [NOW + timedelta(hours=1)], "an earlier expiry is kept"
    assert token and entry.sha256 != first.sha256


def test_rotating_an_unknown_holder_is_a_clear_configuration_error(tmp_path):
    _, entry = new_token("ops-script", Role.STAFF)
    printed = CliRunner().invoke(cli, ["central", "token", "rotate", "-c", str(central_toml(tmp_path, [entry])),
                                       "nobody"])
    assert printed.exit_code == 2
    assert "no token entry named 'nobody'" in printed.output


def test_issue_prints_a_token_and_an_entry_that_admits_it():
    printed = CliRunner().invoke(cli, ["central", "token", "issue", "report-bot", "--role", "staff", "--days", "10"])
    assert printed.exit_code == 0, printed.output
    token = re.search(r"give it to report-bot\):\n(\S+)", printed.output).group(1)
    entry = TokenEntry(**tomllib.loads(printed.output.split("configuration:\n", 1)[1])["tokens"][0])
    from onestop.roles import digest

    assert entry.sha256 == digest(token) and entry.role is Role.STAFF and entry.expires is not None


def test_a_gateway_token_can_be_provisioned_with_an_expiry(tmp_path):
    printed = CliRunner().invoke(cli, ["provision", "gateway", "register", "--site", "north-b3", "--days", "30",
                                       "--dir", str(tmp_path)])
    assert printed.exit_code == 0, printed.output
    entry = TokenEntry(**tomllib.loads(printed.output.split("(the token acts for this site only):\n", 1)[1])
                       ["tokens"][0])
    assert (entry.role, entry.site) == (Role.GATEWAY, "north-b3")
    assert timedelta(days=29.9) < entry.expires - datetime.now(UTC) <= timedelta(days=30)
