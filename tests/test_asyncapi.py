"""docs/asyncapi.yaml is generated from the contract's models, current, and valid for the official parser."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import asyncapi

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "asyncapi.yaml"
VALIDATOR = ROOT / "tests" / "asyncapi" / "validate.mjs"


def validate(path: Path) -> tuple[int, dict]:
    if not (ROOT / "tests" / "asyncapi" / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail("the AsyncAPI parser is not installed: run scripts/setup dev")
    node = shutil.which("node")
    assert node, "node is required (scripts/setup dev installs it)"
    proc = subprocess.run([node, str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=120)
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1])


def test_committed_document_is_current():
    assert DOC.read_text(encoding="utf-8") == asyncapi.render(), (
        "docs/asyncapi.yaml is stale: run `python -m harness.asyncapi docs/asyncapi.yaml`")


def test_document_is_valid_for_the_official_asyncapi_parser():
    code, report = validate(DOC)
    assert code == 0 and report["valid"], report["errors"]
    assert report["version"] == "3.0.0" and report["channels"] == 7


def test_the_validator_does_reject_a_broken_document(tmp_path):
    doc = yaml.safe_load(DOC.read_text(encoding="utf-8"))
    doc["operations"]["publishEvent"]["channel"] = {"$ref": "#/channels/doesNotExist"}
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(doc), encoding="utf-8")
    code, report = validate(broken)
    assert code != 0 and not report["valid"]


def test_document_carries_the_contract_qos_retain_and_last_will():
    doc = asyncapi.build()
    ops = doc["operations"]
    assert ops["publishEvent"]["bindings"]["mqtt"] == {"qos": 1, "retain": False, "bindingVersion": "0.2.0"}
    assert ops["announceDeviceState"]["bindings"]["mqtt"]["retain"] is True
    assert ops["sendOccupancy"]["bindings"]["mqtt"]["retain"] is True
    assert ops["sendPresence"]["bindings"]["mqtt"] == {"qos": 1, "retain": True, "bindingVersion": "0.2.0"}
    will = doc["servers"]["building"]["bindings"]["mqtt"]["lastWill"]
    assert will["topic"].endswith("/dev/{device}/state") and will["retain"] is True
    assert doc["channels"]["deviceEvents"]["address"] == "onestop/v1/{site}/dev/{device}/evt/{type}"
