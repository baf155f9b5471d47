"""Combining BM25 and dense scores, and grouping candidates by domain.

Pure functions over aligned numpy arrays: element i of every array is the same candidate
doc. A dense score of NaN means the dense side did not return that doc.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def weighted_fusion(dense: Floats, bm25: Floats, dense_weight: float) -> Floats:
    """``w * cosine + (1 - w) * bm25 / max(bm25)``.

    A candidate only BM25 found gets the lowest dense score seen, not zero: cosines of
    unrelated text sit well above zero, so zero would punish it far more than it deserves.
    """
    found = ~np.isnan(dense)
    floor = float(dense[found].min()) if found.any() else 0.0
    peak = float(bm25.max()) if bm25.size else 0.0
    return dense_weight * np.where(found, dense, floor) + (1.0 - dense_weight) * bm25 / (
        peak or 1.0
    )


def best_first(scores: Floats, count: int) -> Ints:
    """The indices of the `count` highest scores, highest first, ties in index order:
    exactly ``np.argsort(-scores, kind="stable")[:count]`` (NaN last), without sorting
    the whole array. At 100,000 docs a full sort per request cost ~10 ms."""
    size = len(scores)
    if count >= size:
        return np.argsort(-scores, kind="stable")
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    values = np.where(np.isnan(scores), -np.inf, scores)
    threshold = np.partition(values, size - count)[size - count]  # the count-th highest
    above = np.flatnonzero(values > threshold)
    tied = np.flatnonzero(values == threshold)[: count - len(above)]
    chosen = np.concatenate([above, tied])
    ordered: Ints = chosen[np.lexsort((chosen, -values[chosen]))]
    return ordered


def iter_best_first(scores: Floats, start: int = 64) -> Iterator[int]:
    """Indices by descending score (ties in index order), fetched in growing batches: for
    callers that stop early but cannot tell in advance how far they will read."""
    count, given = start, 0
    while given < len(scores):
        order = best_first(scores, count)
        for index in order[given:]:
            yield int(index)
        given = len(order)
        count *= 4


def rank_at(scores: Floats, index: int) -> int | None:
    """What `ranks(scores)[index]` would say (None for NaN), in one pass, not a sort."""
    value = scores[index]
    if np.isnan(value):
        return None
    higher = int(np.count_nonzero(scores > value))  # NaN compares False: not counted
    tied_before = int(np.count_nonzero(scores[:index] == value))
    return higher + tied_before + 1


def ranks(scores: Floats) -> Ints:
    """1-based rank of each element by descending score; NaN ranks 0 (not ranked)."""
    result = np.zeros(scores.shape, dtype=np.int64)
    valid = np.flatnonzero(~np.isnan(scores))
    order = valid[np.argsort(-scores[valid], kind="stable")]
    result[order] = np.arange(1, len(order) + 1)
    return result


def reciprocal_rank_fusion(rankings: list[Ints], k: int) -> Floats:
    """Cormack et al.'s RRF: each ranking adds ``1 / (k + rank)``; rank 0 adds nothing."""
    fused = np.zeros(rankings[0].shape, dtype=np.float64)
    for ranking in rankings:
        ranked = ranking > 0
        fused[ranked] += 1.0 / (k + ranking[ranked])
    return fused


def domain_shares(
    scores: Floats,
    domains: Ints,
    groups: Ints,
    *,
    top: int,
    temperature: float,
    n_domains: int,
) -> Floats:
    """Softmax-weighted vote of the `top` best candidates for their domains; sums to 1.

    Candidates in the same group (the same API listed twice) vote once, with the best score.
    """
    voters: list[int] = []
    seen: set[int] = set()
    for index in iter_best_first(scores, start=4 * top):
        group = int(groups[index])
        if group in seen:
            continue
        seen.add(group)
        voters.append(index)
        if len(voters) == top:
            break
    shares = np.zeros(n_domains, dtype=np.float64)
    if not voters:
        return shares
    picked = np.asarray(voters)
    weights = np.exp((scores[picked] - scores[picked[0]]) / temperature)
    np.add.at(shares, domains[picked], weights)
    total: float = shares.sum()
    return shares / total
