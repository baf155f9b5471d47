"""Several service instances on one PostgreSQL database (`TOOLROUTE_DATABASE_URL`): real
uvicorn servers, a real PostgreSQL server, the real pipeline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent.errors import DatabaseUnavailableError
from agent.service import create_app
from retriever.embedder import SentenceTransformerEmbedder
from tests.agent.service.conftest import (
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
    assert "cannot open the task database postgresql+psycopg://toolroute:***@127.0.0.1:1/t" in str(
        info.value
    )
