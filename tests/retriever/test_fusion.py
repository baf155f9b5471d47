from __future__ import annotations

import math

import numpy as np
import pytest

from retriever.fusion import (
    best_first,
    domain_shares,
    iter_best_first,
    rank_at,
    ranks,
    reciprocal_rank_fusion,
    weighted_fusion,
)

NAN = float("nan")


def arr(*values: float) -> np.ndarray:  # type: ignore[type-arg]
    return np.asarray(values, dtype=np.float64)


def test_weighted_fusion_normalises_bm25_and_floors_missing_dense() -> None:
    fused = weighted_fusion(arr(0.9, 0.5, NAN), arr(0.0, 10.0, 5.0), dense_weight=0.8)
    assert fused[0] == pytest.approx(0.8 * 0.9)
    assert fused[1] == pytest.approx(0.8 * 0.5 + 0.2 * 1.0)
    # Only BM25 found doc 2: it gets the lowest dense score seen (0.5), not zero.
    assert fused[2] == pytest.approx(0.8 * 0.5 + 0.2 * 0.5)


def test_weighted_fusion_with_one_side_empty() -> None:
    assert weighted_fusion(arr(0.3), arr(0.0), 0.8) == pytest.approx([0.24])
    assert weighted_fusion(arr(NAN), arr(2.0), 0.8) == pytest.approx([0.2])


def test_ranks_are_one_based_and_skip_nan() -> None:
    assert ranks(arr(0.1, 0.9, NAN, 0.5)).tolist() == [3, 1, 0, 2]


def test_reciprocal_rank_fusion() -> None:
    fused = reciprocal_rank_fusion([ranks(arr(3, 2, 1)), ranks(arr(2, NAN, 3))], k=10)
    assert fused[0] == pytest.approx(1 / 11 + 1 / 12)
    assert fused[1] == pytest.approx(1 / 12)
    assert fused[2] == pytest.approx(1 / 13 + 1 / 11)
    assert np.argsort(-fused).tolist() == [0, 2, 1]


def test_domain_shares_softmax_vote() -> None:
    shares = domain_shares(
        arr(1.0, 0.9, 0.95),
        np.asarray([0, 0, 1]),
        np.asarray([0, 1, 2]),
        top=3,
        temperature=0.1,
        n_domains=2,
    )
    expected_a = 1 + math.exp(-1.0)
    expected_b = math.exp(-0.5)
    assert shares[0] == pytest.approx(expected_a / (expected_a + expected_b))
    assert shares.sum() == pytest.approx(1.0)


def test_one_api_listed_many_times_votes_once() -> None:
    # Candidates 1-3 are copies of one API (group 7) in domain 1; candidate 0 is domain 0.
    shares = domain_shares(
        arr(0.9, 0.9, 0.9, 0.9),
        np.asarray([0, 1, 1, 1]),
        np.asarray([3, 7, 7, 7]),
        top=10,
        temperature=0.1,
        n_domains=2,
    )
    assert shares.tolist() == pytest.approx([0.5, 0.5])


def test_best_first_and_rank_at_agree_with_a_full_stable_sort() -> None:
    """The partial selections the scorer uses at scale give exactly what sorting every
    score gave, ties and NaN included."""
    rng = np.random.default_rng(3)
    for size in (1, 7, 50, 400):
        # Few distinct values, so ties are common; some NaN, some -inf.
        scores = rng.integers(0, 5, size).astype(np.float64)
        scores[rng.random(size) < 0.1] = np.nan
        scores[rng.random(size) < 0.1] = -np.inf
        full = np.argsort(-scores, kind="stable")
        for count in (0, 1, 3, size // 2, size, size + 5):
            np.testing.assert_array_equal(best_first(scores, count), full[: max(count, 0)])
        assert list(iter_best_first(scores, start=2)) == list(full)
        expected = ranks(scores)
        for index in range(size):
            assert rank_at(scores, index) == (int(expected[index]) or None)
