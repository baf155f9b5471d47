"""The cross-encoder reranker (`retriever.rerank`), trained from the real MiniLM weights on
a few pairs with hard negatives mined from the real retriever."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retriever import Hit, HybridRetriever
from retriever.errors import EmbedderError, TuningError
from retriever.rerank import (
    RERANKER_PROVENANCE,
    CrossEncoderReranker,
    Example,
    RerankSettings,
    mine_examples,
    train_reranker,
)
from retriever.text import doc_views
from retriever.tuning import TrainingPair

_REQUESTS = {
    "torchhub/pytorch/vision/resnet50": "which breed is the dog in my photo",
    "torchhub/pytorch/vision/deeplabv3_resnet101": "paint every pixel of a street scene",
    "torchhub/ultralytics/yolov5/yolov5s": "draw boxes around the cars in a camera frame",
    "torchhub/snakers4/silero-models/silero_tts": "read my bedtime story aloud",
}
_QUICK = RerankSettings(epochs=6, learning_rate=1e-4, batch_size=8, negatives=2, depth=5)


@pytest.fixture
def pairs(retriever: HybridRetriever) -> list[TrainingPair]:
    docs = {doc.id: doc for doc in retriever.store.list_docs(hub="torchhub")}
    return [TrainingPair(request, docs[doc_id]) for doc_id, request in _REQUESTS.items()]


def test_mined_negatives_are_the_retrievers_hits_for_other_apis(
    pairs: list[TrainingPair], retriever: HybridRetriever
) -> None:
    examples = mine_examples(pairs, retriever, _QUICK)

    positives = [e for e in examples if e.label == 1.0]
    assert len(positives) == len(pairs)
    assert len(examples) == len(pairs) * (1 + _QUICK.negatives)
    for pair in pairs:
        negatives = [e for e in examples if e.query == pair.query and e.label == 0.0]
        assert len(negatives) == _QUICK.negatives
        assert doc_views(pair.doc)[0] not in {e.text for e in negatives}


def test_a_trained_reranker_puts_each_trained_request_s_api_first(
    pairs: list[TrainingPair], retriever: HybridRetriever, tmp_path: Path
) -> None:
    ticks: list[int] = []
    out = train_reranker(
        mine_examples(pairs, retriever, _QUICK),
        tmp_path / "models" / "reranker",
        settings=_QUICK,
        progress=lambda done, _total: ticks.append(done),
    )
    reranker = CrossEncoderReranker(out)

    assert ticks and reranker.settings == _QUICK  # its settings come back with it
    provenance = json.loads((out / RERANKER_PROVENANCE).read_text())
    assert provenance["positives"] == len(pairs)
    for pair in pairs:
        hits = retriever.search(pair.query, _QUICK.depth, hub="torchhub")
        if pair.doc.id not in {hit.doc.id for hit in hits}:
            continue
        assert reranker.rerank(pair.query, hits)[0].doc.id == pair.doc.id
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["reranker"]  # no scratch left


def test_the_reranker_keeps_hits_beyond_its_depth_in_order(
    pairs: list[TrainingPair], retriever: HybridRetriever, tmp_path: Path
) -> None:
    examples = [Example("q", "an API", 1.0), Example("q", "another API", 0.0)]
    out = train_reranker(examples, tmp_path / "r", settings=RerankSettings(depth=2, batch_size=2))
    hits = retriever.search("classify images", 6, hub="torchhub")

    reranked = CrossEncoderReranker(out).rerank("classify images", hits)

    assert {h.doc.id for h in reranked[:2]} == {h.doc.id for h in hits[:2]}
    assert reranked[2:] == hits[2:]


def test_training_needs_both_kinds_of_example_and_loading_needs_a_trained_model(
    tmp_path: Path,
) -> None:
    with pytest.raises(TuningError, match="positive and negative"):
        train_reranker([Example("q", "t", 1.0)], tmp_path / "r")
    with pytest.raises(EmbedderError, match="no trained reranker"):
        CrossEncoderReranker(tmp_path / "nothing")


class _Reversing:
    """A stand-in reranker that reverses what it is given (the stage's plumbing only)."""

    settings = RerankSettings(depth=8)

    def rerank(self, query: str, hits: list[Hit]) -> list[Hit]:
        return hits[: self.settings.depth][::-1] + hits[self.settings.depth :]


def test_search_passes_its_top_depth_hybrid_hits_through_the_reranker(
    retriever: HybridRetriever,
) -> None:
    plain = retriever.search("classify images", 8, hub="torchhub")
    dense = retriever.search("classify images", 3, hub="torchhub", mode="dense")

    retriever.reranker = _Reversing()  # type: ignore[assignment]

    assert retriever.search("classify images", 3, hub="torchhub") == plain[::-1][:3]
    assert retriever.search("classify images", 3, hub="torchhub", mode="dense") == dense
