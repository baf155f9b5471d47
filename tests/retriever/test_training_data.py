"""What the embedder trains on besides APIBench's questions: mined hard negatives
(`retriever.hard_negatives`) and pairs written from the catalog (`retriever.synthetic_pairs`)."""

from __future__ import annotations

import pytest

from apidb import APIDoc
from apidb.bundled import apibench_docs
from retriever.hard_negatives import with_hard_negatives
from retriever.progress import staged
from retriever.scoring import Hit
from retriever.synthetic_pairs import catalog_pairs
from retriever.tuning import TrainingPair


def _doc(doc_id: str, domain: str, call: str | None = None, **fields: object) -> APIDoc:
    return APIDoc.model_validate(
        {
            "id": doc_id,
            "hub": "huggingface",
            "kind": "python",
            "domain": domain,
            "name": doc_id.split("/", 1)[1],
            "call": call or f"pipeline(model='{doc_id}')",
            "description": "",
        }
        | fields
    )


class _RankedSearcher:
    """A retriever that answers every request with the same ranking."""

    def __init__(self, ranking: list[APIDoc]) -> None:
        self.ranking = ranking
        self.asked: list[tuple[str, int, str | None]] = []

    def search(self, query: str, k: int = 5, *, hub: str | None = None) -> list[Hit]:
        self.asked.append((query, k, hub))
        return [Hit(doc, 1.0 / rank) for rank, doc in enumerate(self.ranking[:k], start=1)]


GOLD = _doc("huggingface/a/summarise", "NLP Summarization")
GOLD_COPY = _doc("huggingface/a/summarise-copy", "NLP Summarization", call=GOLD.call)
SAME_KIND = _doc("huggingface/b/summarise", "NLP Summarization")
OTHER_KIND = _doc("huggingface/c/translate", "NLP Translation")


def test_the_negative_is_the_best_ranked_api_of_another_domain_never_the_gold_call() -> None:
    searcher = _RankedSearcher([GOLD_COPY, SAME_KIND, OTHER_KIND])
    [pair] = with_hard_negatives([TrainingPair("shorten this article", GOLD)], searcher)
    assert pair.negative == OTHER_KIND
    assert searcher.asked == [("shorten this article", 20, "huggingface")]


def test_no_negative_when_the_retriever_finds_only_the_gold_api() -> None:
    ticks: list[tuple[int, int]] = []
    [pair] = with_hard_negatives(
        [TrainingPair("q", GOLD)],
        _RankedSearcher([GOLD, SAME_KIND]),
        progress=lambda done, total: ticks.append((done, total)),
    )
    assert pair.negative is None and pair.doc == GOLD
    assert ticks == [(1, 1)]


def test_a_catalog_pair_names_the_task_and_hides_the_models_name() -> None:
    doc = _doc(
        "huggingface/Helsinki-NLP/opus-mt-en-fr",
        "Natural Language Processing Translation",
        description="Helsinki-NLP/opus-mt-en-fr translates English to French. Trained on OPUS.",
        extra={"functionality": "Translation"},
    )
    [pair] = catalog_pairs([doc])
    assert pair.doc == doc
    assert pair.query == "Translation: this model translates English to French."


@pytest.mark.parametrize("label", ["Transformers", "", "NLP"])
def test_a_label_that_is_not_a_task_gives_way_to_the_domain(label: str) -> None:
    doc = _doc(
        "huggingface/x/bart-cnn",
        "Natural Language Processing Summarization",
        description="A BART model fine-tuned on CNN Daily Mail news articles.",
        extra={"functionality": label},
    )
    [pair] = catalog_pairs([doc])
    assert pair.query.startswith("Natural Language Processing Summarization: A BART model")


def test_a_doc_that_says_too_little_gives_no_pair() -> None:
    assert catalog_pairs([_doc("huggingface/x/y", "", description="")]) == []


def test_every_bundled_api_gets_a_pair_without_its_name() -> None:
    docs = apibench_docs("torchhub")
    pairs = catalog_pairs(docs)
    assert len(pairs) >= 0.9 * len(docs)
    assert not [p for p in pairs if p.doc.name.rsplit("/", 1)[-1].lower() in p.query.lower()]


def test_staged_progress_rises_through_every_stage_in_its_share() -> None:
    ticks: list[tuple[int, int]] = []
    stages = staged(lambda done, total: ticks.append((done, total)), {"a": 1.0, "b": 3.0})
    first, second = stages["a"], stages["b"]
    assert first is not None and second is not None
    first(5, 10)
    first(10, 10)
    second(0, 0)  # a stage with nothing to count is done
    assert ticks == [(125, 1000), (250, 1000), (1000, 1000)]
    assert staged(None, {"a": 1.0}) == {"a": None}
