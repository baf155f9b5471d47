"""The hybrid retriever with the real MiniLM embedder and real FAISS."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from apidb import APIDoc, CatalogStore
from retriever import HybridRetriever, QueryError, RetrieverConfig
from retriever.embedder import SentenceTransformerEmbedder

WEATHER = APIDoc(
    id="functions/get_current_weather",
    hub="functions",
    kind="function",
    name="get_current_weather",
    call="get_current_weather(city=<string>)",
    description="Get the current weather forecast, temperature and rain for a city.",
)


def ids(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [hit.doc.id for hit in hits]


def test_finds_the_matching_api_with_ranks_from_both_sides(retriever: HybridRetriever) -> None:
    hits = retriever.search("estimate the depth of objects from a single image", 5)
    assert len(hits) == 5
    assert any("MiDaS" in hit.doc.id for hit in hits[:3])
    assert hits[0].score >= hits[-1].score
    assert set(hits[0].ranks) == {"bm25", "dense"}


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_every_mode_answers(retriever: HybridRetriever, mode: str) -> None:
    hits = retriever.search("classify images with a residual network", 3, mode=mode)  # type: ignore[arg-type]
    assert len(hits) == 3
    assert all(hit.doc.hub in {"torchhub", "huggingface"} for hit in hits)


def test_bm25_mode_returns_only_docs_that_share_a_term(retriever: HybridRetriever) -> None:
    assert retriever.search("xyzzy plugh", 5, mode="bm25") == []
    hits = retriever.search("xyzzy depth", 5, mode="bm25")
    assert hits and all(hit.ranks["bm25"] is not None for hit in hits)


def test_hub_filter(retriever: HybridRetriever) -> None:
    hits = retriever.search("extract features from text", 10, hub="huggingface")
    assert hits and all(hit.doc.hub == "huggingface" for hit in hits)
    hits = retriever.search("extract features from text", 10, hub="TorchHub")
    assert hits and all(hit.doc.hub == "torchhub" for hit in hits)


def test_duplicate_calls_are_shown_once(retriever: HybridRetriever) -> None:
    hits = retriever.search("image classification", 20)
    calls = [(hit.doc.hub, hit.doc.call.replace(" ", "")) for hit in hits]
    assert len(calls) == len(set(calls))


@pytest.mark.parametrize(
    ("query", "k", "hub", "message"),
    [
        ("", 5, None, "the query is empty"),
        ("   \n\t", 5, None, "the query is empty"),
        ("x" * 10_001, 5, None, "the limit is 10,000"),
        ("images", 0, None, "k must be between 1 and 100"),
        ("images", 101, None, "k must be between 1 and 100"),
        ("images", 5, "pypi", "unknown hub 'pypi'; known hubs: huggingface, torchhub"),
    ],
)
def test_bad_queries_are_clear_errors(
    retriever: HybridRetriever, query: str, k: int, hub: str | None, message: str
) -> None:
    with pytest.raises(QueryError, match=message):
        retriever.search(query, k, hub=hub)


def test_a_query_of_exactly_the_limit_is_fine(retriever: HybridRetriever) -> None:
    assert retriever.search("image " * 1666 + "dog", 1)


def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not within the timeout"
        time.sleep(0.02)


def test_another_process_changes_are_followed_in_the_background(
    retriever: HybridRetriever, store: CatalogStore
) -> None:
    # The store is a second connection, as another process (the CLI, another worker) would be.
    size = len(retriever)
    follower = retriever.follow(interval_s=0.05)
    try:
        store.add(WEATHER)
        eventually(lambda: len(retriever) == size + 1)
        assert ids(retriever.search("what's the weather like in Paris today", 1)) == [WEATHER.id]

        store.update(WEATHER.model_copy(update={"description": "Translate Klingon poetry."}))
        eventually(
            lambda: (
                retriever.search("klingon", 1, hub="functions")[0].doc.description
                == "Translate Klingon poetry."
            )
        )

        store.delete(WEATHER.id)
        eventually(lambda: len(retriever) == size)
        assert WEATHER.id not in ids(retriever.search("weather in Paris", 10))
        with pytest.raises(QueryError, match="unknown hub 'functions'"):
            retriever.search("weather", 1, hub="functions")
    finally:
        follower.stop()


def test_a_search_never_changes_the_index(retriever: HybridRetriever, store: CatalogStore) -> None:
    """Embedding another process's import is the follower's job, never a request's."""
    size = len(retriever)
    store.add(WEATHER)
    assert WEATHER.id not in ids(retriever.search("weather in Paris", 10))
    assert len(retriever) == size
    assert retriever.sync() == 1
    assert ids(retriever.search("what's the weather like in Paris today", 1)) == [WEATHER.id]


def test_the_index_is_reloaded_not_rebuilt(
    retriever: HybridRetriever,
    store: CatalogStore,
    small_data: Path,
    embedder: SentenceTransformerEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store.add(WEATHER)
    retriever.sync()
    before = retriever.search("weather in Paris", 5)

    def no_build(self: HybridRetriever, **_: object) -> None:
        raise AssertionError("the index was rebuilt")

    monkeypatch.setattr(HybridRetriever, "build", no_build)
    reopened = HybridRetriever.open(store, embedder, small_data / "index")
    assert len(reopened) == len(retriever)
    after = reopened.search("weather in Paris", 5)
    assert ids(after) == ids(before)
    assert [h.score for h in after] == pytest.approx([h.score for h in before])


def test_changes_made_while_closed_are_caught_up_at_open(
    store: CatalogStore, small_data: Path, embedder: SentenceTransformerEmbedder
) -> None:
    removed = store.list_docs(hub="torchhub", limit=1)[0]
    store.delete(removed.id)
    store.add(WEATHER)
    reopened = HybridRetriever.open(store, embedder, small_data / "index")
    assert len(reopened) == store.count()
    assert ids(reopened.search("weather in Paris", 1)) == [WEATHER.id]
    manifest = json.loads((small_data / "index" / "manifest.json").read_text())
    assert WEATHER.id in manifest["docs"] and removed.id not in manifest["docs"]


class OtherEmbedder:
    """The real model under another identity, as if the configured model had changed."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner = inner
        self.name = "other-model"
        self.fingerprint = "0123456789abcdef"
        self.dim = inner.dim

    def encode(self, texts: list[str]):  # type: ignore[no-untyped-def]
        return self.inner.encode(texts)


@pytest.mark.parametrize("damage", ["embedder", "faiss", "manifest", "bm25"])
def test_an_unusable_index_is_rebuilt_with_a_warning(
    store: CatalogStore,
    small_data: Path,
    embedder: SentenceTransformerEmbedder,
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    index_dir = small_data / "index"
    use: object = embedder
    if damage == "embedder":
        use = OtherEmbedder(embedder)
    elif damage == "faiss":
        (index_dir / "dense.faiss").write_bytes(b"\0garbage")
    elif damage == "manifest":
        (index_dir / "manifest.json").write_text("{ not json")
    else:
        (index_dir / "bm25.json").write_text('{"ids": [], "tokens": []}')
    with caplog.at_level(logging.WARNING, logger="toolroute.retriever"):
        reopened = HybridRetriever.open(store, use, index_dir)  # type: ignore[arg-type]
    assert "rebuilding the search index" in caplog.text
    assert len(reopened) == store.count()
    assert any("MiDaS" in i for i in ids(reopened.search("depth from a single image", 3)))
    if damage == "embedder":
        assert "other-model" in (index_dir / "manifest.json").read_text()


def test_hnsw_index_supports_live_updates(
    store: CatalogStore, tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    config = RetrieverConfig(index_type="hnsw")
    hnsw = HybridRetriever.open(store, embedder, tmp_path / "hnsw", config)
    assert any("MiDaS" in i for i in ids(hnsw.search("depth from a single image", 3)))
    store.add(WEATHER)
    hnsw.sync()
    assert ids(hnsw.search("weather in Paris today", 1)) == [WEATHER.id]
    store.delete(WEATHER.id)
    hnsw.sync()
    assert WEATHER.id not in ids(hnsw.search("weather in Paris today", 5))
    reopened = HybridRetriever.open(store, embedder, tmp_path / "hnsw", config)
    assert WEATHER.id not in ids(reopened.search("weather in Paris today", 5))


def test_rrf_fusion_is_selectable(
    store: CatalogStore, small_data: Path, embedder: SentenceTransformerEmbedder
) -> None:
    rrf = HybridRetriever.open(store, embedder, small_data / "index", RetrieverConfig(fusion="rrf"))
    assert any("MiDaS" in i for i in ids(rrf.search("depth from a single image", 3)))


def test_an_empty_catalog_returns_no_hits(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    with CatalogStore(tmp_path / "catalog.db") as empty:
        retriever = HybridRetriever.open(empty, embedder, tmp_path / "index")
        assert retriever.search("anything", 5) == []
        empty.add(WEATHER)
        retriever.sync()
        assert ids(retriever.search("weather", 5)) == [WEATHER.id]
        empty.delete(WEATHER.id)
        retriever.sync()
        assert retriever.search("weather", 5) == []


def test_langchain_adapter_returns_documents(retriever: HybridRetriever) -> None:
    from langchain_core.documents import Document

    from retriever.langchain import APIDocRetriever

    adapter = APIDocRetriever(hybrid=retriever, k=3, hub="torchhub")
    documents = adapter.invoke("estimate depth from one image")
    assert len(documents) == 3
    assert all(isinstance(d, Document) for d in documents)
    assert documents[0].metadata["hub"] == "torchhub"
    assert documents[0].metadata["call"] in documents[0].page_content


class CountingEmbedder(OtherEmbedder):
    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        super().__init__(inner)
        self.fingerprint = inner.fingerprint
        self.texts = 0

    def encode(self, texts: list[str]):  # type: ignore[no-untyped-def]
        self.texts += len(texts)
        return self.inner.encode(texts)


def test_hnsw_compaction_copies_vectors_instead_of_re_embedding(
    store: CatalogStore, tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    counting = CountingEmbedder(embedder)
    config = RetrieverConfig(index_type="hnsw")
    hnsw = HybridRetriever.open(store, counting, tmp_path / "hnsw", config)  # type: ignore[arg-type]
    before = hnsw.search("depth from a single image", 3, hub="torchhub")
    doomed = [d.id for d in store.list_docs(hub="huggingface")[:50]]  # > 25% of 154: compacts
    for doc_id in doomed:
        store.delete(doc_id)
    counting.texts = 0
    assert hnsw.sync() == len(doomed)
    assert counting.texts == 0  # compaction embedded nothing
    assert hnsw._state.dense.removed == set()  # and it did compact
    assert len(hnsw._state.dense) == len(hnsw) == store.count()
    after = hnsw.search("depth from a single image", 3, hub="torchhub")
    assert ids(after) == ids(before)
    assert not set(doomed) & set(ids(hnsw.search("text feature extraction", 20)))


def test_one_query_embeds_exactly_as_a_batch_does(embedder: SentenceTransformerEmbedder) -> None:
    # The single-query fast path must not move a vector the index was built with.
    texts = ["classify images with a ResNet-50", "translate English to German", "x" * 2000]
    batch = embedder.encode(texts)
    for text, expected in zip(texts, batch, strict=True):
        one = embedder.encode([text])
        assert one.shape == (1, embedder.dim) and one.dtype == np.float32
        np.testing.assert_allclose(one[0], expected, atol=1e-5)


def test_a_service_saves_changes_late_but_searches_them_at_once(
    retriever: HybridRetriever,
    store: CatalogStore,
    small_data: Path,
    embedder: SentenceTransformerEmbedder,
) -> None:
    """With a save delay the index on disk lags (a cache, reconciled at open); search does
    not, and `flush` writes what is pending."""
    manifest_path = small_data / "index" / "manifest.json"
    retriever.save_delay_s = 3600
    retriever.save()  # the delay counts from the last save
    saved_seq = json.loads(manifest_path.read_text())["catalog_seq"]
    store.add(WEATHER)
    assert retriever.sync() == 1
    assert ids(retriever.search("what's the weather like in Paris today", 1)) == [WEATHER.id]
    assert json.loads(manifest_path.read_text())["catalog_seq"] == saved_seq

    # A process that stops without flushing loses nothing: the next open catches up.
    reopened = HybridRetriever.open(store, embedder, small_data / "index")
    assert ids(reopened.search("what's the weather like in Paris today", 1)) == [WEATHER.id]

    retriever.flush()
    manifest = json.loads(manifest_path.read_text())
    assert manifest["catalog_seq"] == store.last_seq() and WEATHER.id in manifest["docs"]


def test_removing_docs_keeps_every_other_doc_findable(
    retriever: HybridRetriever, store: CatalogStore
) -> None:
    """A removal moves the last doc into the gap: the moved doc, and every other, must
    still be found by its own description on both sides."""
    docs = store.list_docs()
    for doc in (docs[0], docs[len(docs) // 2]):
        store.delete(doc.id)
    retriever.sync()
    assert len(retriever) == len(docs) - 2
    for doc in store.list_docs()[-5:] + store.list_docs()[:5]:
        for mode in ("bm25", "dense"):
            found = retriever.search(doc.description or doc.name, 10, hub=doc.hub, mode=mode)
            assert doc.call in {hit.doc.call for hit in found}, (mode, doc.id)
