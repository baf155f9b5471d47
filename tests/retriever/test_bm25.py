from __future__ import annotations

import numpy as np
from rank_bm25 import BM25Okapi

from retriever.bm25 import IncrementalBM25
from retriever.text import tokenize

CORPUS = [
    tokenize("Summarize long news articles into a few sentences"),
    tokenize("Classify images of animals with a ResNet"),
    tokenize("Translate English text to French"),
    tokenize("Detect objects in street images"),
]
QUERIES = [tokenize("summarize a news story"), tokenize("images of dogs"), tokenize("french")]


def assert_same_scores(incremental: IncrementalBM25, corpus: list[list[str]]) -> None:
    fresh = BM25Okapi(corpus)
    for query in QUERIES:
        np.testing.assert_allclose(incremental.get_scores(query), fresh.get_scores(query))


def test_matches_rank_bm25_when_built_at_once() -> None:
    assert_same_scores(IncrementalBM25(CORPUS), CORPUS)


def test_add_and_remove_match_a_fresh_build() -> None:
    index = IncrementalBM25(CORPUS[:2])
    index.add(CORPUS[2])
    index.add(CORPUS[3])
    assert_same_scores(index, CORPUS)

    # Removing moves the last document into the gap; nothing else shifts.
    assert index.remove(0) == 3
    assert_same_scores(index, [CORPUS[3], CORPUS[1], CORPUS[2]])
    assert index.remove(2) is None  # the last one: nothing moves
    assert_same_scores(index, [CORPUS[3], CORPUS[1]])


def test_scores_match_after_many_random_changes() -> None:
    """Adds and removals in any order leave the scores a fresh build of the
    same corpus gives, including the idf floor for terms in more than half the docs."""
    import random

    rng = random.Random(7)
    words = ["imag", "text", "translat", "detect", "classifi", "audio", "speech", "news"]
    index = IncrementalBM25()
    corpus: list[list[str]] = []
    for _ in range(300):
        document = [rng.choice(words) for _ in range(rng.randint(1, 6))]
        action = rng.random()
        if action < 0.6 or not corpus:
            index.add(document)
            corpus.append(document)
        else:
            position = rng.randrange(len(corpus))
            moved = index.remove(position)
            last = corpus.pop()
            if moved is not None:
                corpus[position] = last
        if corpus:
            fresh = BM25Okapi(corpus)
            for query in (["imag", "text"], ["news", "news", "audio"], ["unknown"]):
                np.testing.assert_allclose(index.get_scores(query), fresh.get_scores(query))


def test_tokenizer_stems_splits_camel_case_and_drops_stopwords() -> None:
    tokens = tokenize("I want to classify Images using AutoModelForImageClassification")
    assert "i" not in tokens and "want" not in tokens and "to" not in tokens
    assert tokens[:2] == ["classifi", "imag"]
    assert tokens[2:] == ["auto", "imag", "classif"]  # camelCase split; "model", "for" dropped
    assert tokenize("Classifying images") == tokenize("classify image")
