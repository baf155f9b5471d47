"""Shared fixtures. The real embedder loads once per session; indexes are built once and
copied per test, so tests that change the catalog never see each other's changes."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from apidb import APIDoc, CatalogStore
from apidb.bundled import apibench_docs
from retriever import HybridRetriever
from retriever.embedder import SentenceTransformerEmbedder
from tests.postgres import PostgresServer, require_server_bindir

FIXTURES = Path(__file__).parent / "fixtures"

# In-process tests index with the shipped MiniLM (the session's `embedder`): training the
# default tuned one takes minutes. The e2e tests run the real default (tests/e2e/conftest.py),
# and tests/retriever/test_tuning.py trains it on a small slice.
os.environ["TOOLROUTE_EMBEDDER_TUNING"] = "off"


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


def small_catalog_docs() -> list[APIDoc]:
    """The 94 torchhub APIs plus the first 60 huggingface ones: two hubs, quick to embed."""
    return apibench_docs("torchhub") + apibench_docs("huggingface")[:60]


@pytest.fixture(scope="session")
def small_index_dir(
    tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder
) -> Path:
    root = tmp_path_factory.mktemp("small-index")
    with CatalogStore(root / "catalog.db") as store:
        store.upsert_many(small_catalog_docs())
        HybridRetriever(store, embedder, root / "index").build()
    return root


def private_copy(data_dir: Path, tmp_path: Path) -> Path:
    """A copy of a built data dir (catalog + index) that one test may change freely."""
    target = tmp_path / "data"
    shutil.copytree(data_dir, target)
    return target


@pytest.fixture
def small_data(small_index_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the small catalog and its built index."""
    return private_copy(small_index_dir, tmp_path)


@pytest.fixture
def store(small_data: Path) -> Iterator[CatalogStore]:
    with CatalogStore(small_data / "catalog.db") as catalog:
        yield catalog


@pytest.fixture
def retriever(
    store: CatalogStore, small_data: Path, embedder: SentenceTransformerEmbedder
) -> HybridRetriever:
    return HybridRetriever.open(store, embedder, small_data / "index")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (see tests/postgres.py)."""
    server = PostgresServer(require_server_bindir()).start()
    yield server
    server.remove()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's server."""
    return postgres_server.create_database()
