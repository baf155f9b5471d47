"""Combining BM25 and dense scores, and grouping candidates by domain.

Pure functions over aligned numpy arrays: element i of every array is the same candidate
doc. A dense score of NaN means the dense side did not return that doc.
"""

from __future__ import annotations

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
    for index in np.argsort(-scores, kind="stable"):
        group = int(groups[index])
        if group in seen:
            continue
        seen.add(group)
        voters.append(int(index))
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
