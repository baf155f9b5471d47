"""Analysis, not shipped: what the index itself costs at a catalog size, without the model.

`toolroute bench retrieval --scale` measures the service as it runs, where embedding is most
of the time. This script replaces the model with random unit vectors, so that what is left
is the index's own work: the catalog import, BM25, FAISS, fusion, updates. It runs against
whatever checkout is on `PYTHONPATH`, which is how BENCHMARKS.md compares two commits.

    .venv/bin/python scripts/index_scale_profile.py 100000           # flat FAISS
    .venv/bin/python scripts/index_scale_profile.py 100000 --hnsw    # HNSW
    PYTHONPATH=/path/to/older/checkout .venv/bin/python scripts/index_scale_profile.py 100000

It prints one JSON object: import_s, build_s, p50_ms, p99_ms, add_ms, delete_ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from apidb import CatalogStore
from apidb.synthetic import synthetic_docs
from retriever.benchmark import measure_updates
from retriever.config import RetrieverConfig
from retriever.hybrid import HybridRetriever

# The 200 requests of `retriever.scale.synthetic_queries` (older checkouts lack it), fixed.
QUERIES = ("list the invoices of a customer", "create a new shipment", "export all tickets as csv")
SERVICE_SAVE_DELAY_S = 5.0  # retriever.hybrid's; older checkouts saved on every change


class RandomEmbedder:
    """Unit vectors from a seeded generator: the index's work, none of the model's."""

    name = "random"
    fingerprint = "random"
    dim = 384

    def __init__(self) -> None:
        self._rng = np.random.default_rng(0)

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        normalised: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return normalised


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", type=int)
    parser.add_argument("--hnsw", action="store_true")
    args = parser.parse_args()
    try:
        from retriever.scale import synthetic_queries

        queries = synthetic_queries()
    except ImportError:
        queries = list(QUERIES) * 67
    with tempfile.TemporaryDirectory(prefix="toolroute-profile-") as scratch:
        store = CatalogStore(Path(scratch) / "catalog.db")
        started = time.perf_counter()
        store.upsert_many(synthetic_docs(args.size))
        import_s = time.perf_counter() - started
        config = RetrieverConfig(index_type="hnsw" if args.hnsw else "flat")
        retriever = HybridRetriever(store, RandomEmbedder(), Path(scratch) / "index", config)
        started = time.perf_counter()
        retriever.build()
        build_s = time.perf_counter() - started
        retriever.save_delay_s = SERVICE_SAVE_DELAY_S  # an attribute older checkouts ignore
        latencies = []
        for query in queries:
            started = time.perf_counter()
            retriever.search(query, 5)
            latencies.append((time.perf_counter() - started) * 1000)
        add_ms, delete_ms = measure_updates(retriever, rounds=10)
        store.close()
    ordered = sorted(latencies)
    print(
        json.dumps(
            {
                "size": args.size,
                "index_type": config.index_type,
                "import_s": round(import_s, 1),
                "build_s": round(build_s, 1),
                "p50_ms": round(statistics.median(latencies), 2),
                "p99_ms": round(ordered[round(0.99 * len(ordered)) - 1], 2),
                "add_ms": add_ms,
                "delete_ms": delete_ms,
            }
        )
    )


if __name__ == "__main__":
    main()
