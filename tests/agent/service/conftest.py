"""A real uvicorn server on loopback around the real app: the small catalog's index, the
real embedder, the real sandbox, the template arm plus fake arms that tests steer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from agent.pipeline import Pipeline
from agent.pool import PoolConfig
from agent.service import create_app
from agent.settings import Settings
from apidb import CatalogStore
from retriever import HybridRetriever
from retriever.embedder import SentenceTransformerEmbedder
from tests.conftest import private_copy
from tests.fakes import FakeArm

API_KEY = "test-key-alpha"
OTHER_KEY = "test-key-beta"
ADMIN_KEY = "test-key-admin"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
GOOD_CALL = "torch.hub.load(repo_or_dir='pytorch/vision', model='resnet50', pretrained=True)"
RESNET_QUERY = "classify images with a ResNet-50 trained on ImageNet"


class LiveServer:
    """uvicorn in a thread on an ephemeral loopback port; `stop()` shuts it down as
    SIGTERM would (in-flight requests finish, then the app's shutdown runs)."""

    def __init__(self, app: Any, data_dir: Path) -> None:
        self.data_dir = data_dir
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=30
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)


def pipeline_factory(
    embedder: SentenceTransformerEmbedder, arms: dict[str, FakeArm]
) -> Callable[[Settings], Pipeline]:
    def open_pipeline(settings: Settings) -> Pipeline:
        store = CatalogStore(settings.catalog_location)
        if store.count() == 0 and settings.catalog_location != settings.catalog_path:
            # A shared (PostgreSQL) catalog starts as the private copy's, as production
            # seeds the bundled catalog into a new one (idempotent: replicas race safely).
            with CatalogStore(settings.catalog_path) as local:
                store.upsert_many(local.iter_docs())
        retriever = HybridRetriever.open(store, embedder, settings.index_dir)
        pool = PoolConfig.model_validate(
            {"arms": {"template": {"type": "template"}}, "router": {"policy": "fixed:template"}}
        )
        return Pipeline.open(settings, retriever=retriever, pool_config=pool, extra_arms=arms)

    return open_pipeline


def service_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "auth": "required",
        "api_keys": SecretStr(f"{API_KEY},{OTHER_KEY}"),
        "admin_keys": SecretStr(ADMIN_KEY),
        "max_body_bytes": 64 * 1024,
        "max_import_bytes": 4 << 20,
    }
    return Settings(**(values | overrides))


def start_live_server(
    index_dir: Path,
    workdir: Path,
    embedder: SentenceTransformerEmbedder,
    arms: dict[str, FakeArm],
    **overrides: Any,
) -> LiveServer:
    """A started server over a private copy of the built small catalog in `index_dir`."""
    data_dir = private_copy(index_dir, workdir)
    app = create_app(
        service_settings(data_dir, **overrides), pipeline_factory=pipeline_factory(embedder, arms)
    )
    return LiveServer(app, data_dir).start()


@pytest.fixture
def fake_arms() -> dict[str, FakeArm]:
    return {"good": FakeArm("good", default=GOOD_CALL)}


@pytest.fixture
def start_server(
    small_index_dir: Path,
    tmp_path: Path,
    embedder: SentenceTransformerEmbedder,
    fake_arms: dict[str, FakeArm],
) -> Iterator[Callable[..., LiveServer]]:
    """Starts a server on a private copy of the small catalog, with settings overridden
    as asked; stopped after the test."""
    servers: list[LiveServer] = []

    def start(**overrides: Any) -> LiveServer:
        workdir = tmp_path / f"s{len(servers)}"
        server = start_live_server(small_index_dir, workdir, embedder, fake_arms, **overrides)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def shared_server(
    small_index_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    embedder: SentenceTransformerEmbedder,
) -> Iterator[LiveServer]:
    """One server for the tests of a module that do not need their own settings."""
    arms = {"good": FakeArm("good", default=GOOD_CALL)}
    server = start_live_server(small_index_dir, tmp_path_factory.mktemp("service"), embedder, arms)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def template_server(
    small_index_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    embedder: SentenceTransformerEmbedder,
) -> Iterator[LiveServer]:
    """One server per module with the real template arm alone: every answer is computed
    from the request, none is queued."""
    server = start_live_server(small_index_dir, tmp_path_factory.mktemp("template"), embedder, {})
    yield server
    server.stop()


@pytest.fixture
def api(shared_server: LiveServer) -> Iterator[httpx.Client]:
    """A user key's client."""
    with shared_server.client(headers=AUTH) as client:
        yield client


@pytest.fixture
def admin(shared_server: LiveServer) -> Iterator[httpx.Client]:
    """An admin key's client: catalog writes, router changes, every task."""
    with shared_server.client(headers=ADMIN_AUTH) as client:
        yield client
