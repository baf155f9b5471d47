from __future__ import annotations

import math

import pytest

from retriever.fusion import (
    boost_by_domain,
    domain_shares,
    reciprocal_rank_fusion,
    weighted_fusion,
)


def test_weighted_fusion_normalises_bm25_and_floors_missing_dense() -> None:
    fused = weighted_fusion({1: 0.9, 2: 0.5}, {2: 10.0, 3: 5.0}, dense_weight=0.8)
    assert fused[1] == pytest.approx(0.8 * 0.9)
    assert fused[2] == pytest.approx(0.8 * 0.5 + 0.2 * 1.0)
    # Only BM25 found doc 3: it gets the lowest dense score seen (0.5), not zero.
    assert fused[3] == pytest.approx(0.8 * 0.5 + 0.2 * 0.5)


def test_weighted_fusion_with_one_side_empty() -> None:
    assert weighted_fusion({1: 0.3}, {}, 0.8) == {1: pytest.approx(0.24)}
    assert weighted_fusion({}, {1: 2.0}, 0.8) == {1: pytest.approx(0.2)}


def test_reciprocal_rank_fusion() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=10)
    assert fused[1] == pytest.approx(1 / 11 + 1 / 12)
    assert fused[3] == pytest.approx(1 / 13 + 1 / 11)
    assert fused[2] == pytest.approx(1 / 12)
    assert sorted(fused, key=fused.__getitem__, reverse=True) == [1, 3, 2]


def test_domain_shares_softmax_vote() -> None:
    domains = {1: "a", 2: "a", 3: "b"}
    shares = domain_shares({1: 1.0, 2: 0.9, 3: 0.95}, domains.__getitem__, top=3, temperature=0.1)
    expected_a = 1 + math.exp(-1.0)
    expected_b = math.exp(-0.5)
    assert shares["a"] == pytest.approx(expected_a / (expected_a + expected_b))
    assert sum(shares.values()) == pytest.approx(1.0)


def test_domain_boost_can_reorder_towards_the_majority_domain() -> None:
    # Doc 3 is best alone, but two nearly-as-good docs agree on domain "a".
    domains = {1: "a", 2: "a", 3: "b"}
    scores = {1: 0.60, 2: 0.59, 3: 0.61}
    boosted = boost_by_domain(scores, domains.__getitem__, weight=0.2, top=3, temperature=0.1)
    assert max(boosted, key=boosted.__getitem__) == 1
    unchanged = boost_by_domain(scores, domains.__getitem__, weight=0.0, top=3, temperature=0.1)
    assert unchanged == scores
