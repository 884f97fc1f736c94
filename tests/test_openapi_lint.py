"""Both OpenAPI documents (gateway and central) are what a university's IT team reads first: they lint with no
errors under Redocly's linter (``@redocly/cli lint``, recommended rules), name their server, mark public routes
``security: []``, and list every guarded route's roles with its 401/403 answers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from central.api import create_app as central_app
from central.settings import CentralSettings
from central.store import CentralStore
from gateway.api import create_app as gateway_app
from onestop.roles import Role, TokenEntry

ROOT = Path(__file__).resolve().parent.parent
# Routes public by intent (they hold no personal data); every other route must be guarded.
# /auth/me answers who the caller's own session is, or that nobody is signed in (web/oidc.py).
PUBLIC = {"gateway": {"/healthz", "/metrics", "/api/v1/stats", "/auth/me"},
          "central": {"/healthz", "/metrics", "/api/v1/stats", "/dashboard", "/auth/me"}}
REDOCLY = ROOT / "tests" / "openapi" / "node_modules" / "@redocly" / "cli" / "bin" / "cli.js"


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("openapi")
    settings = CentralSettings(database_url=f"sqlite:///{tmp / 'central.db'}", tokens=[], test_rig=True,
                               pseudonym_key_file=tmp / "keys" / "pseudonym.key")
    store = CentralStore(settings.database_url)
    tokens = [TokenEntry(name="t", role=Role.ADMIN, sha256="0" * 64)]
    docs = {"central": central_app(settings, store).openapi(), "gateway": gateway_app(None, tokens).openapi()}  # type: ignore[arg-type]
    store.close()
    return docs


@pytest.fixture(scope="module")
def findings(documents, tmp_path_factory) -> dict[str, list[str]]:
    """One linter run (node starts once) over both documents and a broken copy: each file's problem lines."""
    if not REDOCLY.is_file():
        pytest.fail("the Redocly CLI is not installed: run scripts/setup dev")
    node = shutil.which("node")
    assert node, "node is required (scripts/setup dev installs it)"
    tmp = tmp_path_factory.mktemp("lint")
    broken = json.loads(json.dumps(documents["gateway"]))
    del broken["paths"]["/healthz"]["get"]["security"]
    del broken["servers"]
    files = {}
    for name, doc in (*documents.items(), ("broken", broken)):
        files[name] = tmp / f"{name}.json"
        files[name].write_text(json.dumps(doc, indent=1), encoding="utf-8")
    proc = subprocess.run([node, str(REDOCLY), "lint", *map(str, files.values()), "--format=stylish"],
                          capture_output=True, text=True, timeout=120, cwd=tmp,
                          env={"PATH": "/usr/bin:/bin", "REDOCLY_TELEMETRY": "off",
                               "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"})
    report: dict[str, list[str]] = {name: [] for name in files}
    current = None
    for line in (proc.stdout + proc.stderr).splitlines():
        header = re.match(r"^(\S.*)\.json:$", line)
        if header:
            current = Path(header.group(1)).name
        elif current and line.startswith("  "):
            report[current].append(line.strip())
    assert proc.returncode != 0, "the broken copy must fail the lint"
    return report


@pytest.mark.parametrize("name", ["gateway", "central"])
def test_document_lints_without_errors(findings, name):
    errors = [line for line in findings[name] if re.search(r"\berror\b", line)]
    assert not errors, "\n".join(findings[name])


def test_the_linter_does_reject_an_undocumented_public_route(findings):
    rules = " ".join(findings["broken"])
    assert "security-defined" in rules and "no-empty-servers" in rules


@pytest.mark.parametrize("name", ["gateway", "central"])
def test_every_operation_is_public_by_intent_or_lists_its_roles_and_401_403(documents, name):
    doc = documents[name]
    assert doc["servers"]
    public = {path for path, methods in doc["paths"].items() for op in methods.values() if op["security"] == []}
    assert public == PUBLIC[name]
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            where = f"{name} {method.upper()} {path}"
            assert "200" in op["responses"] or "204" in op["responses"], where
            if op["security"] == []:
                assert "x-roles" not in op, where
                continue
            assert op["x-roles"] and f"Roles: {', '.join(op['x-roles'])}." in op["description"], where
            assert {"401", "403"} <= set(op["responses"]), where
            for response in op["responses"].values():
                for content in response.get("content", {}).values():
                    assert content["schema"] not in ({}, {"type": "object"}), where


def test_configuration_and_fhir_answers_have_real_schemas(documents):
    doc = documents["central"]
    config = doc["paths"]["/api/v1/gateways/{site}/config"]
    for method in ("get", "put"):
        assert config[method]["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/SiteConfig"}
    hours = doc["components"]["schemas"]["OpeningHours"]["properties"]["open"]
    assert "pattern" in hours and "format" not in hours
    for path, schema in (("/api/v1/fhir/metadata", "FhirCapabilityStatement"),
                         ("/api/v1/fhir/Observation", "FhirBundle"),
                         ("/api/v1/fhir/Observation/{resource_id}", "FhirObservation")):
        answer = doc["paths"][path]["get"]["responses"]["200"]["content"]
        assert answer == {"application/fhir+json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
        assert doc["components"]["schemas"][schema]["properties"]["resourceType"]["enum"]
