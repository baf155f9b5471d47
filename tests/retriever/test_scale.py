from __future__ import annotations

import pytest

from retriever.config import RetrieverConfig
from retriever.embedder import SentenceTransformerEmbedder
from retriever.scale import measure, parse_sizes, synthetic_queries


def test_sizes_are_read_as_people_write_them() -> None:
    assert parse_sizes("1k,10k,100k") == [1_000, 10_000, 100_000]
    assert parse_sizes(" 500, 2.5k ,1m") == [500, 2_500, 1_000_000]
    for bad in ("ten", "1k,", "0", "-5", "3m"):
        with pytest.raises(ValueError, match="size"):
            parse_sizes(bad)


def test_one_size_is_measured_end_to_end(embedder: SentenceTransformerEmbedder) -> None:
    """A real (small) build, search and update: every figure is there and plausible."""
    lines: list[str] = []
    figures = measure(60, lambda: embedder, RetrieverConfig(), log=lines.append)
    assert figures.build_s > 0 and figures.index_mb > 0 and figures.peak_rss_mb > 50
    assert 0 < figures.p50_ms <= figures.p99_ms
    assert figures.add_ms > 0
    assert any("built in" in line for line in lines)


def test_the_queries_are_fixed() -> None:
    assert synthetic_queries(20) == synthetic_queries(20)
    assert len(set(synthetic_queries())) > 50
