"""The card directory at central (#18): CSV import with a report of every bad row, the push API for a
campus-card system, and each site's share of it as keyed hashes, with no card number stored or shown."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from central.pseudonyms import Pseudonyms
from onestop import presence as tags
from onestop.cards import SiteCards
from onestop.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "directory.csv"
BAD_ROWS = Path(__file__).parent / "data" / "directory-bad-rows.csv"
EXAMPLE_CARDS = ("04A1B2C3D4", "04B2C3D4E5", "04C3D4E5F6", "0499887766", "04D4E5F607", "04E5F60718", "1234567890")


def tag_of(cards: SiteCards, card: str) -> bytes:
    return tags.tag(bytes.fromhex(cards.key), card)


def in_list(cards: SiteCards, card: str, where: dict[str, str], name: str) -> bool:
    return tag_of(cards, card) in tags.decode(where.get(name, ""))


@pytest.fixture
def central_toml(tmp_path: Path) -> Path:
    config = tmp_path / "central.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "central.db"}"\n'
                      f'pseudonym_key_file = "{tmp_path / "keys" / "pseudonym.key"}"\n', encoding="utf-8")
    return config


def run_import(config: Path, csv_file: Path):
    return CliRunner().invoke(app, ["central", "directory", "import", str(csv_file), "--config", str(config)])


def test_csv_import_reports_every_bad_row_and_is_idempotent(central_toml, tmp_path):
    first = run_import(central_toml, BAD_ROWS)
    assert first.exit_code == 1, first.output
    out = first.output
    reported = {int(m.group(1)): m.group(2) for m in re.finditer(r"│\s+(\d+) │ ([^│]*)│", out)}
    expected = {3: "email: not an e-mail address", 4: "cards: not a card number", 5: "kind: Input should be",
                6: "status: Input should be", 7: "groups: not a group name", 8: "id: repeats an earlier row's id",
                9: "cards: a card of an earlier row", 10: "5 fields, the header has 6"}
    assert sorted(reported) == sorted(expected), out
    for line, reason in expected.items():
        assert reported[line].startswith(reason), (line, reported[line])
    assert "8 row(s) not imported" in out
    assert "2 added, 0 changed, 0 unchanged" in out
    for card in ("04A1B2C399", "0401020304", "0417181920", "NOT-A-CARD"):
        assert card not in out and card.lower() not in out  # a report never shows a card number
    again = run_import(central_toml, BAD_ROWS)
    assert "0 added, 0 changed, 2 unchanged" in again.output  # idempotent: nothing written the second time
    db = (tmp_path / "central.db").read_bytes()
    assert b"04A1B2C399" not in db and b"0425262728" not in db  # cards are stored keyed and sealed, never as such


def test_a_file_without_the_columns_is_refused_as_a_whole(central_toml, tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_text("student,mail\nS1,a@b.edu\n", encoding="utf-8")
    result = run_import(central_toml, broken)
    assert result.exit_code == 1 and "lacks column(s) id, kind" in result.output


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_push_then_each_site_gets_its_share_as_keyed_hashes(client, tokens, settings):
    admin = tokens.header("admin")
    site_config = {"spaces": [{"id": "skills-lab", "capacity": 10, "groups": ["clinical-y3"]},
                              {"id": "study-24h-2f", "capacity": 40}]}
    assert client.put("/api/v1/gateways/north-b3/config", json=site_config, headers=admin).status_code == 200
    holders = [{"id": "S1", "kind": "student", "email": "s1@example.edu", "cards": ["04aa0001"], "status": "active",
                "groups": ["clinical-y3"]},
               {"id": "S2", "kind": "student", "email": "s2@example.edu", "cards": ["04AA0002"], "status": "lost"},
               {"id": "S3", "kind": "student", "email": "s3@example.edu", "cards": ["04AA0003", "04AA0033"],
                "status": "active"}]
    pushed = client.post("/api/v1/directory/cardholders", json={"cardholders": holders}, headers=admin)
    assert pushed.status_code == 200 and pushed.json()["added"] == 3
    assert client.post("/api/v1/directory/cardholders", json={"cardholders": holders},
                       headers=admin).json()["unchanged"] == 3
    # S3 reports a card lost and gets a new one: the old card stays on file, refused as lost.
    holders[2] = {**holders[2], "cards": ["04AA0033"]}
    assert client.post("/api/v1/directory/cardholders", json={"cardholders": holders[2:]},
                       headers=admin).json()["cards_withdrawn"] == 1

    answer = client.get("/api/v1/gateways/north-b3/cards", headers=tokens.header("gateway:north-b3"))
    assert answer.status_code == 200
    cards = SiteCards.model_validate(answer.json())
    assert "04AA000" not in answer.text
    assert in_list(cards, "04AA0002", cards.refused, "lost") and in_list(cards, "04AA0003", cards.refused, "lost")
    assert not in_list(cards, "04AA0033", cards.refused, "lost")
    assert in_list(cards, "04AA0001", cards.groups, "clinical-y3")
    assert set(cards.groups) == {"clinical-y3"}
    etag = answer.headers["ETag"]
    unchanged = client.get("/api/v1/gateways/north-b3/cards",
                           headers={**tokens.header("gateway:north-b3"), "If-None-Match": etag})
    assert unchanged.status_code == 304
    # Another site's gateway may not read it; its own share uses another key.
    assert client.get("/api/v1/gateways/north-b3/cards", headers=tokens.header("gateway:south-a1")).status_code == 403
    other = SiteCards.model_validate(client.get("/api/v1/gateways/south-a1/cards",
                                                headers=tokens.header("gateway:south-a1")).json())
    assert other.key != cards.key and other.refused["lost"] != cards.refused["lost"] and other.groups == {}

    shown = client.get("/api/v1/directory/cardholders/S3", headers=admin).json()
    assert shown == {"id": "S3", "kind": "student", "email": "s3@example.edu", "status": "active", "groups": [],
                     "cards": 1, "withdrawn_cards": 1}
    audit = client.get("/api/v1/audit", headers=admin).json()
    assert any(a["route"] == "/api/v1/directory/cardholders/{id}" for a in audit)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_card_handed_to_another_holder_in_the_same_push_is_theirs_and_not_refused(client, tokens):
    admin = tokens.header("admin")
    amy = {"id": "A1", "kind": "student", "email": "a1@example.edu", "cards": ["04BB0001"], "status": "active"}
    ben = {"id": "B1", "kind": "staff", "email": "b1@example.edu", "cards": ["04BB0001"], "status": "active"}
    client.post("/api/v1/directory/cardholders", json={"cardholders": [amy]}, headers=admin)
    moved = client.post("/api/v1/directory/cardholders", headers=admin,
                        json={"cardholders": [ben, {**amy, "cards": ["04BB0002"]}]}).json()
    assert moved["cards_moved"] == 1 and moved["cards_withdrawn"] == 0
    cards = SiteCards.model_validate(client.get("/api/v1/gateways/north-b3/cards", headers=admin).json())
    assert "lost" not in cards.refused
    assert client.get("/api/v1/directory/cardholders/B1", headers=admin).json()["cards"] == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_push_is_bounded_and_validated(client, tokens):
    admin = tokens.header("admin")
    bad = {"id": "S1", "kind": "student", "email": "s1@example.edu", "cards": ["not a card"], "status": "active"}
    refused = client.post("/api/v1/directory/cardholders", json={"cardholders": [bad]}, headers=admin)
    assert refused.status_code == 422 and "not a card" not in refused.text
    many = {"cardholders": [{**bad, "id": f"S{i}", "cards": [f"04{i:08X}"]} for i in range(1001)]}
    assert client.post("/api/v1/directory/cardholders", json=many, headers=admin).status_code in (413, 422)
    assert client.post("/api/v1/directory/cardholders", json={"cardholders": [bad]},
                       headers=tokens.header("staff")).status_code == 403


def test_the_example_file_imports_cleanly(central_toml, tmp_path):
    result = run_import(central_toml, EXAMPLE)
    assert result.exit_code == 0, result.output
    assert "6 added" in result.output
    db = (tmp_path / "central.db").read_bytes()
    for card in EXAMPLE_CARDS:
        assert card.encode() not in db
    with sqlite3.connect(tmp_path / "central.db") as conn:
        assert conn.execute("SELECT count(*) FROM directory_cards").fetchone()[0] == len(EXAMPLE_CARDS)
    refs = Pseudonyms.from_file(tmp_path / "keys" / "pseudonym.key").all_of("04A1B2C3D4")
    with sqlite3.connect(tmp_path / "central.db") as conn:
        owner = conn.execute("SELECT holder_id FROM directory_cards WHERE card_ref = ?", refs[:1]).fetchone()
    assert owner == ("S2026001",)
    shutil.rmtree(tmp_path / "keys")
