"""The task-type prior (`retriever.prior`): fitting, saving, and its place in hybrid search."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from apidb import CatalogStore
from retriever import HybridRetriever
from retriever.config import TUNED_FUSION, RetrieverConfig, fusion_for
from retriever.embedder import SentenceTransformerEmbedder
from retriever.prior import DomainPrior, fit_domain_prior


def _clusters(
    rng: np.random.Generator, centres: dict[str, int], n: int = 20
) -> tuple[np.ndarray, list[str]]:
    vectors, labels = [], []
    for label, axis in centres.items():
        for _ in range(n):
            vector = rng.normal(0, 0.05, 8)
            vector[axis] += 1
            vectors.append(vector / np.linalg.norm(vector))
            labels.append(label)
    return np.asarray(vectors, dtype=np.float32), labels


def test_it_learns_which_domain_a_region_of_the_space_means() -> None:
    vectors, labels = _clusters(np.random.default_rng(0), {"Audio": 0, "Vision": 1, "Text": 2})

    prior = fit_domain_prior(vectors, labels)

    assert prior is not None and set(prior.classes) == {"Audio", "Vision", "Text"}
    probabilities = prior.probabilities(np.eye(8, dtype=np.float32)[1])
    assert max(probabilities, key=lambda d: probabilities[d]) == "Vision"
    assert sum(probabilities.values()) == pytest.approx(1.0)


def test_two_domains_are_a_full_distribution_and_one_is_no_prior() -> None:
    vectors, labels = _clusters(np.random.default_rng(1), {"Audio": 0, "Vision": 1})

    prior = fit_domain_prior(vectors, labels)

    assert prior is not None and prior.coef.shape == (2, 8)
    assert prior.probabilities(np.eye(8, dtype=np.float32)[0])["Audio"] > 0.7
    assert fit_domain_prior(vectors[:5], ["Audio"] * 5) is None


def test_a_saved_prior_loads_the_same_and_a_broken_file_is_ignored(tmp_path: Path) -> None:
    vectors, labels = _clusters(np.random.default_rng(2), {"Audio": 0, "Vision": 1, "Text": 2})
    prior = fit_domain_prior(vectors, labels)
    assert prior is not None
    path = tmp_path / "prior.npz"

    prior.save(path)
    loaded = DomainPrior.load(path)

    assert loaded is not None and loaded.classes == prior.classes
    assert loaded.probabilities(vectors[0]) == pytest.approx(prior.probabilities(vectors[0]))
    assert DomainPrior.load(tmp_path / "missing.npz") is None
    path.write_bytes(b"not an npz file")
    assert DomainPrior.load(path) is None
    np.savez(path, classes=np.array(["a", "b"]), coef=np.zeros((3, 8)), intercept=np.zeros(2))
    assert DomainPrior.load(path) is None  # shapes that disagree


def test_search_with_a_prior_favours_the_domain_it_predicts(retriever: HybridRetriever) -> None:
    query = "a model for my images"
    config = replace(RetrieverConfig(), domain_weight=0.0)
    retriever.config = config
    before = retriever.search(query, 5, hub="torchhub")
    wider = retriever.search(query, 50, hub="torchhub")
    favoured = next(h.doc.domain for h in wider if h.doc.domain != before[0].doc.domain)
    dim = retriever.embedder.dim
    # A prior sure of one domain, whatever the request.
    retriever.prior = DomainPrior(
        (favoured, before[0].doc.domain),
        np.zeros((2, dim)),
        np.array([10.0, -10.0]),
    )

    retriever.config = replace(config, prior_weight=0.0)
    assert [h.doc.id for h in retriever.search(query, 5, hub="torchhub")] == [
        h.doc.id for h in before
    ]  # weight 0: no effect
    retriever.config = replace(config, prior_weight=1.0)
    after = retriever.search(query, 5, hub="torchhub")
    assert after[0].doc.domain == favoured != before[0].doc.domain
    assert retriever.search(query, 5, hub="torchhub", mode="dense") == retriever.search(
        query, 5, hub="torchhub", mode="dense"
    )


def test_an_embedder_without_a_prior_file_gives_the_retriever_none(
    store: CatalogStore, retriever: HybridRetriever
) -> None:
    assert retriever.prior is None


def test_an_embedder_with_a_prior_gets_the_fusion_weights_chosen_for_it(
    embedder: SentenceTransformerEmbedder,
) -> None:
    class Tuned:
        domain_prior = DomainPrior(("a", "b"), np.zeros((2, 4)), np.zeros(2))

    base = RetrieverConfig(index_type="hnsw")

    tuned, shipped = fusion_for(Tuned(), base), fusion_for(embedder, base)

    assert (tuned.dense_weight, tuned.domain_weight, tuned.prior_weight) == (
        TUNED_FUSION.dense_weight,
        TUNED_FUSION.domain_weight,
        TUNED_FUSION.prior_weight,
    )
    assert tuned.prior_weight > 0 and shipped.prior_weight == 0
    assert shipped.dense_weight == RetrieverConfig().dense_weight
    assert tuned.index_type == shipped.index_type == "hnsw"  # only the weights change
