"""Several service instances on one PostgreSQL database (`TOOLROUTE_DATABASE_URL`): real
uvicorn servers, a real PostgreSQL server, the real pipeline."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from agent.errors import DatabaseUnavailableError
from agent.service import create_app
from agent.service.auth import digest, new_key
from agent.service.keystore import DatabaseKeyStore
from retriever.embedder import SentenceTransformerEmbedder
from tests.agent.service.conftest import (
    ADMIN_AUTH,
    AUTH,
    RESNET_QUERY,
    LiveServer,
    pipeline_factory,
    service_settings,
)
from tests.postgres import PostgresServer, require_server_bindir


def test_two_instances_share_tasks_and_feedback(
    postgres_url: str, start_server: Callable[..., LiveServer]
) -> None:
    first = start_server(database_url=postgres_url)
    second = start_server(database_url=postgres_url)
    with first.client(headers=AUTH) as a, second.client(headers=AUTH) as b:
        created = a.post("/v1/tasks", json={"query": RESNET_QUERY, "arm": "good"})
        assert created.status_code == 201, created.text
        task_id = created.json()["id"]
        # Committed before the reply: the other instance sees it at once.
        seen = b.get(f"/v1/tasks/{task_id}")
        assert seen.status_code == 200 and seen.json()["call"] == created.json()["call"]
        assert [t["id"] for t in b.get("/v1/tasks").json()["items"]] == [task_id]

        # Feedback is once per task and caller, whichever instance receives it.
        given = b.post(f"/v1/tasks/{task_id}/feedback", json={"score": 1})
        assert given.status_code == 201 and given.json()["recorded"] is True
        again = a.post(f"/v1/tasks/{task_id}/feedback", json={"score": -1})
        assert again.status_code == 200 and again.json()["recorded"] is False
        assert [f["score"] for f in a.get(f"/v1/tasks/{task_id}").json()["feedback"]] == [1]

        for client in (a, b):
            database = client.get("/readyz").json()["checks"]["database"]
            assert database["ok"] is True and "1 tasks" in database["detail"]


def test_a_database_outage_is_a_503_with_retry_after_and_not_ready(
    start_server: Callable[..., LiveServer],
) -> None:
    postgres = PostgresServer(require_server_bindir()).start()
    try:
        server = start_server(database_url=postgres.create_database())
        with server.client(headers=AUTH) as api:
            assert api.post("/v1/tasks", json={"query": RESNET_QUERY}).status_code == 201
            postgres.stop("immediate")

            down = api.post("/v1/tasks", json={"query": RESNET_QUERY})
            assert down.status_code == 503, down.text
            assert down.json()["error"]["type"] == "database_unavailable"
            assert down.headers["retry-after"] == "5"
            ready = api.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"]["ok"] is False

            postgres.restart()
            assert api.post("/v1/tasks", json={"query": RESNET_QUERY}).status_code == 201
            assert api.get("/v1/tasks").json()["items"][1]["id"]
            assert api.get("/readyz").status_code == 200
    finally:
        postgres.remove()


def test_an_unreachable_database_at_start_is_a_clear_error(
    small_data: Path, embedder: SentenceTransformerEmbedder
) -> None:
    settings = service_settings(small_data, database_url="postgresql://toolroute:pw@127.0.0.1:1/t")
    app = create_app(settings, pipeline_factory=pipeline_factory(embedder, {}))
    with pytest.raises(DatabaseUnavailableError) as info, TestClient(app):
        pass  # the start-up (lifespan) fails: the service does not run without its database
    # The first of its stores to reach the database names it, without the password.
    assert "cannot open the api_keys table of postgresql+psycopg://toolroute:***@127.0.0.1:1/t" in (
        str(info.value)
    )


def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> float:
    """Seconds until `check()` held (fails after `timeout_s`)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout_s, "the condition never held"
        time.sleep(0.02)
    return time.monotonic() - started


def test_replicas_share_one_catalog_one_router_and_one_set_of_keys(
    postgres_url: str, start_server: Callable[..., LiveServer]
) -> None:
    """Three instances on one PostgreSQL database: an API imported through one is found
    through every other (each follows the shared change log into its own index); the
    router's statistics on every replica are the sum of all replicas' tasks; a key created
    for one is accepted by all."""
    servers = [start_server(database_url=postgres_url, api_keys=SecretStr("")) for _ in range(3)]
    clients = [s.client(headers=ADMIN_AUTH) for s in servers]
    try:
        # One catalog: the import lands in PostgreSQL and in the other replicas' indexes.
        weather = {
            "id": "weather/get_weather",
            "hub": "weather",
            "kind": "function",
            "name": "get_weather",
            "description": "Current weather conditions for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
        imported = clients[0].post("/v1/apis", json=weather)
        assert imported.status_code == 201, imported.text

        def found_on(client: httpx.Client) -> bool:
            found = client.get("/v1/search", params={"q": "weather in Paris", "k": 1})
            return (
                found.status_code == 200 and found.json()["hits"][0]["id"] == "weather/get_weather"
            )

        for client in clients[1:]:
            eventually(lambda c=client: found_on(c))

        # One router: concurrent tasks on every replica, each counted once, everywhere.
        per_replica = 6

        def serve(client: httpx.Client) -> list[int]:
            return [
                client.post("/v1/tasks", json={"query": RESNET_QUERY, "arm": "good"}).status_code
                for _ in range(per_replica)
            ]

        with ThreadPoolExecutor(3) as pool:
            statuses = [code for codes in pool.map(serve, clients) for code in codes]
        assert statuses == [201] * (3 * per_replica)
        pulls = [c.get("/v1/router").json()["arms"]["good"]["pulls"] for c in clients]
        assert pulls == [3 * per_replica] * 3

        # One set of keys: created through the shared store, accepted by every replica.
        key = new_key()
        keys = DatabaseKeyStore(postgres_url)
        keys.add(digest(key), "user")
        keys.close()
        for server in servers:
            with server.client(headers={"Authorization": f"Bearer {key}"}) as user:
                eventually(lambda u=user: u.get("/v1/tasks").status_code == 200)
    finally:
        for client in clients:
            client.close()
