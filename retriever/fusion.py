"""Combining BM25 and dense candidates, and grouping them by domain.

Scores are dicts from an internal doc key to a float; the functions are pure so they can be
tested (and tuned) without an index.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping


def weighted_fusion(
    dense: Mapping[int, float], bm25: Mapping[int, float], dense_weight: float
) -> dict[int, float]:
    """``w * cosine + (1 - w) * bm25 / max(bm25)`` over the union of candidates.

    A candidate only BM25 found gets the lowest dense score seen, not zero: cosines of
    unrelated text sit well above zero, so zero would punish it far more than it deserves.
    """
    dense_floor = min(dense.values(), default=0.0)
    bm25_max = max(bm25.values(), default=0.0) or 1.0
    keys = dense.keys() | bm25.keys()
    return {
        key: dense_weight * dense.get(key, dense_floor)
        + (1.0 - dense_weight) * bm25.get(key, 0.0) / bm25_max
        for key in keys
    }


def reciprocal_rank_fusion(rankings: list[list[int]], k: int) -> dict[int, float]:
    """Cormack et al.'s RRF: each list adds ``1 / (k + rank)`` (rank from 1)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + 1.0 / (k + rank)
    return fused


def domain_shares(
    scores: Mapping[int, float], domain_of: Callable[[int], str], top: int, temperature: float
) -> dict[str, float]:
    """Softmax-weighted vote of the `top` best candidates for their domains; sums to 1."""
    best = sorted(scores.items(), key=lambda item: item[1], reverse=True)[:top]
    if not best:
        return {}
    peak = best[0][1]
    votes: dict[str, float] = {}
    for key, score in best:
        votes[domain_of(key)] = votes.get(domain_of(key), 0.0) + math.exp(
            (score - peak) / temperature
        )
    total = sum(votes.values())
    return {domain: vote / total for domain, vote in votes.items()}


def boost_by_domain(
    scores: Mapping[int, float],
    domain_of: Callable[[int], str],
    *,
    weight: float,
    top: int,
    temperature: float,
) -> dict[int, float]:
    if weight == 0:
        return dict(scores)
    shares = domain_shares(scores, domain_of, top, temperature)
    return {key: score + weight * shares.get(domain_of(key), 0.0) for key, score in scores.items()}
