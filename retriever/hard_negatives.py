"""Hard negatives for tuning the embedder: for each (request, API) pair, a wrong API that
the retriever ranks high for the request.

In-batch negatives are mostly easy (a batch mixes hubs and kinds of API), so they teach
little about the confusions that cost accuracy. A mined negative is one more column of the
contrastive loss (`tuning._batch_loss`). It is the best-ranked API of another domain
than the gold one: APIBench often has several equally valid APIs of one kind
(torchhub's image classifiers), and teaching the model to separate those teaches it the
labels' noise; a wrong kind of API is a plain mistake.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from apidb import CatalogStore
from retriever.pairs import TrainingPair
from retriever.scoring import Hit
from retriever.text import call_key

DEFAULT_DEPTH = 20


class Searcher(Protocol):
    def search(self, query: str, k: int = 5, *, hub: str | None = None) -> list[Hit]: ...


def with_hard_negatives(
    pairs: Sequence[TrainingPair],
    retriever: Searcher,
    *,
    depth: int = DEFAULT_DEPTH,
    progress: Callable[[int, int], None] | None = None,
) -> list[TrainingPair]:
    """The pairs, each with the retriever's best-ranked API of another domain in its hub as
    `negative` (None when the top `depth` hits hold none)."""
    mined = []
    for done, pair in enumerate(pairs, start=1):
        gold = call_key(pair.doc)
        hits = retriever.search(pair.query, depth, hub=pair.doc.hub)
        negative = next(
            (
                hit.doc
                for hit in hits
                if call_key(hit.doc) != gold and hit.doc.domain != pair.doc.domain
            ),
            None,
        )
        mined.append(replace(pair, negative=negative))
        if progress is not None:
            progress(done, len(pairs))
    return mined


def mined_with_shipped_model(
    pairs: Sequence[TrainingPair],
    store: CatalogStore,
    *,
    index_progress: Callable[[int, int], None] | None = None,
    mining_progress: Callable[[int, int], None] | None = None,
) -> list[TrainingPair]:
    """`with_hard_negatives`, mined by hybrid search with the shipped model (which has seen
    no training request) over the pairs' hubs, indexed in a scratch directory: the
    catalog's own index is built with the tuned model, which does not exist yet."""
    from retriever.embedder import SentenceTransformerEmbedder
    from retriever.hybrid import HybridRetriever

    hubs = sorted({pair.doc.hub for pair in pairs})
    with tempfile.TemporaryDirectory(prefix="toolroute-mining-") as scratch:
        with CatalogStore(Path(scratch) / "catalog.db") as hubs_only:
            hubs_only.upsert_many([doc for hub in hubs for doc in store.list_docs(hub=hub)])
            miner = HybridRetriever(hubs_only, SentenceTransformerEmbedder(), Path(scratch) / "ix")
            miner.build(progress=index_progress)
            return with_hard_negatives(pairs, miner, progress=mining_progress)
