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


def test_add_replace_remove_match_a_fresh_build() -> None:
    index = IncrementalBM25(CORPUS[:2])
    index.add(CORPUS[2])
    index.add(CORPUS[3])
    assert_same_scores(index, CORPUS)

    replacement = tokenize("Translate German speech to text")
    index.replace(2, replacement)
    assert_same_scores(index, [CORPUS[0], CORPUS[1], replacement, CORPUS[3]])

    index.remove(0)
    assert_same_scores(index, [CORPUS[1], replacement, CORPUS[3]])


def test_tokenizer_stems_splits_camel_case_and_drops_stopwords() -> None:
    tokens = tokenize("I want to classify Images using AutoModelForImageClassification")
    assert "i" not in tokens and "want" not in tokens and "to" not in tokens
    assert tokens[:2] == ["classifi", "imag"]
    assert tokens[2:] == ["auto", "imag", "classif"]  # camelCase split; "model", "for" dropped
    assert tokenize("Classifying images") == tokenize("classify image")
