"""Scoring one query against an `IndexState`: each side, their fusion, the top hits.

Pure functions of the state, its layout and the config; the caller holds the lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from apidb import APIDoc
from retriever.config import RetrieverConfig, SearchMode
from retriever.embedder import Vectors
from retriever.fusion import (
    Floats,
    Ints,
    domain_shares,
    iter_best_first,
    rank_at,
    ranks,
    reciprocal_rank_fusion,
    weighted_fusion,
)
from retriever.index_state import IndexState, Layout
from retriever.text import tokenize


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: the doc, its final score, its rank on each side (1-based), and
    its cosine similarity to the request (None when the dense side did not score it)."""

    doc: APIDoc
    score: float
    ranks: dict[str, int | None] = field(default_factory=dict)
    similarity: float | None = None


def score(
    state: IndexState,
    config: RetrieverConfig,
    query: str,
    vector: Vectors | None,
    positions: Ints,
    mode: SearchMode,
    k: int,
    prior: dict[str, float] | None = None,
) -> list[Hit]:
    """The top `k` docs among `positions` for `query` (`vector` unless mode is bm25).
    `prior`: P(domain | query) from the task-type prior, for hybrid search."""
    layout = state.layout()
    dense = dense_scores(state, config, vector, positions, layout) if vector is not None else None
    bm25 = state.bm25.get_scores(tokenize(query))[positions] if mode != "dense" else None
    if mode == "dense":
        assert dense is not None
        scores = np.where(np.isnan(dense), -np.inf, dense)
    elif mode == "bm25":
        assert bm25 is not None
        scores = np.where(bm25 > 0, bm25, -np.inf)  # no shared term: no match
    else:
        assert dense is not None and bm25 is not None
        scores = fuse(config, dense, bm25, positions, layout, prior)
    return top_hits(state, config, positions, scores, dense, bm25, k, layout)


def dense_scores(
    state: IndexState,
    config: RetrieverConfig,
    vector: Vectors,
    positions: Ints,
    layout: Layout,
) -> Floats:
    """Cosine per position in `positions`; NaN where FAISS did not return the doc."""
    allowed = None if len(positions) == len(state) else layout.keys[positions]
    keys, found = state.dense.search(vector, config.candidates, allowed)
    scores = np.full(len(state), np.nan)
    # FAISS key -> position, vectorised: a dict lookup per candidate cost ~2 ms a query.
    at = np.minimum(np.searchsorted(layout.sorted_keys, keys), len(layout.sorted_keys) - 1)
    known = layout.sorted_keys[at] == keys  # always, unless the index and corpus disagree
    scores[layout.sorted_positions[at[known]]] = found[known]
    result: Floats = scores[positions]
    return result


def fuse(
    config: RetrieverConfig,
    dense: Floats,
    bm25: Floats,
    positions: Ints,
    layout: Layout,
    prior: dict[str, float] | None = None,
) -> Floats:
    if config.fusion == "rrf":
        matched = np.where(bm25 > 0, bm25, np.nan)
        fused = reciprocal_rank_fusion([ranks(dense), ranks(matched)], config.rrf_k)
    else:
        fused = weighted_fusion(dense, bm25, config.dense_weight)
    domains = layout.domains[positions]
    if prior and config.prior_weight:
        by_id = np.array([prior.get(name, 0.0) for name in layout.domain_names])
        fused = fused + config.prior_weight * by_id[domains]
    if not config.domain_weight:
        return fused
    # Each distinct API votes once: APIBench repeats some calls dozens of times
    # (tensorflowhub lists ssd_mobilenet_v2/2 26 times) and copies would swamp the vote.
    groups = layout.groups[positions] if config.collapse_duplicates else positions
    shares = domain_shares(
        fused,
        domains,
        groups,
        top=config.domain_top,
        temperature=config.domain_temperature,
        n_domains=layout.n_domains,
    )
    boosted: Floats = fused + config.domain_weight * shares[domains]
    return boosted


def top_hits(
    state: IndexState,
    config: RetrieverConfig,
    positions: Ints,
    scores: Floats,
    dense: Floats | None,
    bm25: Floats | None,
    k: int,
    layout: Layout,
) -> list[Hit]:
    matched = np.where(bm25 > 0, bm25, np.nan) if bm25 is not None else None
    hits: list[Hit] = []
    seen: set[int] = set()
    for index in iter_best_first(scores, start=4 * k + 16):
        if not np.isfinite(scores[index]):
            break
        position = int(positions[index])
        if config.collapse_duplicates:
            group = int(layout.groups[position])
            if group in seen:
                continue
            seen.add(group)
        hit_ranks = {
            "bm25": rank_at(matched, index) if matched is not None else None,
            "dense": rank_at(dense, index) if dense is not None else None,
        }
        doc = state.doc_at(position, layout)
        cosine = float(dense[index]) if dense is not None and np.isfinite(dense[index]) else None
        hits.append(
            Hit(doc=doc, score=round(float(scores[index]), 6), ranks=hit_ranks, similarity=cosine)
        )
        if len(hits) == k:
            break
    return hits
