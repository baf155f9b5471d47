"""Retrieval settings. Defaults were chosen on the dev sets (BENCHMARKS.md)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

IndexType = Literal["flat", "hnsw"]
FusionMethod = Literal["weighted", "rrf"]
SearchMode = Literal["hybrid", "bm25", "dense"]
SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "bm25", "dense")
# APIBench question splits (retriever.benchmark): every question, the dev split
# (question_id % 5 == 0, for choosing), the held-out rest (for reporting), torchhub_train.
Split = Literal["all", "dev", "heldout", "train"]
SPLITS: tuple[Split, ...] = ("all", "dev", "heldout", "train")

MAX_QUERY_CHARS = 10_000
MAX_K = 100


@dataclass(frozen=True, slots=True)
class RetrieverConfig:
    index_type: IndexType = "flat"
    fusion: FusionMethod = "weighted"
    # weighted: dense_weight * cosine + (1 - dense_weight) * bm25 / max(bm25)
    dense_weight: float = 0.8
    # rrf: sum of 1 / (rrf_k + rank)
    rrf_k: int = 10
    # Domain grouping: the top `domain_top` fused hits vote for their domain (softmax at
    # `domain_temperature`); each doc then gains `domain_weight` times its domain's share.
    domain_weight: float = 0.2
    domain_top: int = 30
    domain_temperature: float = 0.1
    # The task-type prior (retriever/prior.py), where the embedder has one: each doc gains
    # `prior_weight` times the probability of its domain given the request.
    prior_weight: float = 0.0
    # How many candidates each side contributes before fusion. Scoring every doc of a hub
    # beat a top-100 cut on the dev sets (a cut gives the docs only one side found a guessed
    # score); BM25 scores every doc anyway, so this only bounds the FAISS search.
    candidates: int = 2000
    # Show one hit per distinct call (APIBench lists some APIs more than once).
    collapse_duplicates: bool = True


# The fusion weights above were chosen on the dev splits for the shipped MiniLM. A tuned
# embedder carries a task-type prior, and its own weights were chosen by 5-fold
# cross-validation on the dev split (scripts/dev_cv.py; BENCHMARKS.md): dense counts for
# more, and the prior takes the place of the domain vote.
@dataclass(frozen=True, slots=True)
class FusionWeights:
    dense_weight: float
    domain_weight: float
    prior_weight: float


SHIPPED_FUSION = FusionWeights(dense_weight=0.8, domain_weight=0.2, prior_weight=0.0)
TUNED_FUSION = FusionWeights(dense_weight=0.9, domain_weight=0.0, prior_weight=0.4)


def fusion_for(embedder: object, config: RetrieverConfig) -> RetrieverConfig:
    """`config` with the fusion weights chosen for `embedder`: the tuned ones when it
    carries a task-type prior, the shipped ones otherwise."""
    has_prior = getattr(embedder, "domain_prior", None) is not None
    weights = TUNED_FUSION if has_prior else SHIPPED_FUSION
    return replace(
        config,
        dense_weight=weights.dense_weight,
        domain_weight=weights.domain_weight,
        prior_weight=weights.prior_weight,
    )
