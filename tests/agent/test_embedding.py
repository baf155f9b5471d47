"""Which embedders the service uses (`agent.embedding`)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent.embedding import (
    DEFAULT_RERANKER,
    INT8_FROM_APIS,
    catalog_model_path,
    catalog_precision,
    catalog_reranker,
    default_tuned_model_dir,
    precision_for_size,
    tools_embedder,
)
from agent.settings import Settings
from apidb import APIDoc, CatalogStore
from retriever import HybridRetriever
from retriever.embedder import SentenceTransformerEmbedder
from retriever.rerank import Example, RerankSettings, train_reranker
from retriever.tuning import PROVENANCE_FILE


def test_an_explicit_model_wins_and_tuning_off_means_the_shipped_one(
    store: CatalogStore, tmp_path: Path
) -> None:
    explicit = Settings(data_dir=tmp_path, embedder_model=tmp_path / "mine")
    assert catalog_model_path(explicit, store) == tmp_path / "mine"
    assert catalog_model_path(Settings(data_dir=tmp_path, embedder_tuning="off"), store) is None


def test_the_default_is_the_tuned_model_in_the_data_dir_once_trained(
    store: CatalogStore, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, embedder_tuning="apibench")
    trained = default_tuned_model_dir(settings)
    trained.mkdir(parents=True)
    (trained / PROVENANCE_FILE).write_text("{}")  # what a finished training leaves

    assert catalog_model_path(settings, store) == trained


def test_a_catalog_with_nothing_to_train_on_falls_back_to_the_shipped_model(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path, embedder_tuning="apibench")
    with CatalogStore(tmp_path / "catalog.db") as own:
        own.add(APIDoc(id="mine/weather", hub="mine", kind="function", name="weather"))
        with caplog.at_level(logging.WARNING, logger="toolroute.embedding"):
            assert catalog_model_path(settings, own) is None
    assert "using the shipped embedder" in caplog.text
    assert not default_tuned_model_dir(settings).exists()


def test_agents_tools_share_the_catalogs_embedder_when_it_is_the_same_model(
    embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    assert tools_embedder(Settings(data_dir=tmp_path), embedder) is embedder


def test_the_reranker_stage_is_off_by_default_and_reused_once_trained(
    retriever: HybridRetriever, tmp_path: Path
) -> None:
    assert catalog_reranker(Settings(data_dir=tmp_path), retriever) is None
    target = tmp_path / "models" / DEFAULT_RERANKER
    examples = [Example("q", "an API", 1.0), Example("q", "another API", 0.0)]
    train_reranker(examples, target, settings=RerankSettings(batch_size=2))

    # Found where the first build left it: nothing is mined or trained again.
    reranker = catalog_reranker(Settings(data_dir=tmp_path, rerank="on"), retriever)

    assert reranker is not None and reranker.path == target


def test_precision_keeps_the_existing_index_and_picks_int8_for_a_large_new_one(
    store: CatalogStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from agent import embedding

    settings = Settings(data_dir=tmp_path)
    assert precision_for_size(INT8_FROM_APIS - 1) == "fp32"
    assert precision_for_size(INT8_FROM_APIS) == "int8"
    # No index yet: by the catalog's size.
    assert catalog_precision(settings, store) == "fp32"
    monkeypatch.setattr(embedding, "INT8_FROM_APIS", 1)
    assert catalog_precision(settings, store) == "int8"
    # An index exists: its own precision, whatever the size says now.
    settings.index_dir.mkdir(parents=True)
    manifest = {"embedder": {"fingerprint": "abc-128"}}
    (settings.index_dir / "manifest.json").write_text(json.dumps(manifest))
    assert catalog_precision(settings, store) == "fp32"
    # An explicit setting wins.
    explicit = Settings(data_dir=tmp_path, embedder_precision="int8")
    assert catalog_precision(explicit, store) == "int8"


def test_int8_is_another_index_identity_and_close_to_fp32(
    embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    int8 = SentenceTransformerEmbedder(embedder.path, precision="int8")
    assert int8.fingerprint != embedder.fingerprint and int8.fingerprint.endswith("-int8")
    texts = ["translate English to French", "detect objects in a photo"]
    cosines = (int8.encode(texts) * embedder.encode(texts)).sum(axis=1)
    assert cosines.min() > 0.95  # the same model, slightly rounded
    # Agents' tools never get the int8 model, even when it is the same weights.
    assert tools_embedder(Settings(data_dir=tmp_path), int8) is not int8
