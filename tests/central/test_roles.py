"""The role matrix, read from the OpenAPI document: every guarded route answers 401 without a token, 403 to
every role it does not list and lets every role it lists through; no route is left unguarded by accident."""

from __future__ import annotations

import pytest

from central.api import create_app
from onestop.roles import Role
from web.openapi import api_routes

PUBLIC = {("GET", "/healthz"), ("GET", "/metrics"), ("GET", "/api/v1/stats"), ("GET", "/"),
          ("GET", "/dashboard"), ("GET", "/auth/me"),  # /auth/me: who the caller's own session is, or nobody
          ("GET", "/docs")}  # /docs: Swagger UI, served locally (web/docs.py)
PATH_VALUES = {"site": "north-b3", "space": "study-24h-2f", "resource_id": "x", "card": "922E5832",
               "alert_id": "0193f6c4-7d2a-7c1e-9a51-3f0b2d9e4c11", "holder_id": "S2026001"}
QUERY = {"/api/v1/fhir/Observation": {"subject": "922E5832"}}
BODIES = {"PUT": {"spaces": []}, "POST": {"site": "north-b3"}}


def operations(client):
    doc = client.get("/openapi.json").json()
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            yield method.upper(), path, op


def call(client, method: str, path: str, token: str | None):
    url = path.format(**PATH_VALUES)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs = {"json": BODIES[method]} if method in BODIES else {}
    client.headers.pop("Authorization", None)
    return client.request(method, url, params=QUERY.get(path), headers=headers, **kwargs)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_route_is_public_by_intent_or_declares_its_roles(client, settings, store):
    declared = {(m, p) for m, p, op in operations(client) if "x-roles" in op}
    app = create_app(settings, store)
    # Through included routers: FastAPI keeps each as one entry of ``app.routes`` (web.openapi.api_routes).
    routes = {(m, r.path) for r in api_routes(app) for m in r.methods}
    assert len(routes) > 30 and routes - declared <= PUBLIC, "a route without roles that is not meant to be public"
    assert declared, "no guarded routes found"


def test_role_matrix(client, tokens):
    checked = 0
    for method, path, op in operations(client):
        if "x-roles" not in op:
            continue
        allowed = set(op["x-roles"])
        assert call(client, method, path, None).status_code == 401, (method, path)
        assert call(client, method, path, "not-a-token").status_code == 401, (method, path)
        for role in Role:
            status = call(client, method, path, tokens[role.value]).status_code
            if role.value in allowed:
                assert status not in (401, 403), (method, path, role, status)
            else:
                assert status == 403, (method, path, role, status)
            checked += 1
    assert checked >= len(Role) * 18  # every guarded route of the service


def test_public_routes_answer_without_a_token(client):
    for path in ("/healthz", "/metrics", "/api/v1/stats", "/openapi.json"):
        assert client.get(path).status_code == 200, path
    assert "onestop_central_events" in client.get("/metrics").text
    assert set(client.get("/api/v1/stats").json()) >= {"events", "quarantined", "duplicates"}
