"""`HybridRetriever`: BM25 + dense search over the catalog, persisted and kept in step.

The pieces it puts together:

    index_state.IndexState   the per-doc structures of the index (BM25 corpus, FAISS keys)
    scoring                  one query's scores on each side, their fusion, the top hits
    persistence              the index directory: atomic saves, checked loads
    sync.ChangeFollower      a background thread that applies other processes' changes

At start the directory is loaded and reconciled with the catalog by version (only docs that
changed are re-embedded). While running, `sync()` applies the catalog's change log since the
last sequence it saw: the writer calls it after its own changes, and a `ChangeFollower`
calls it for everyone else's. `search()` itself never changes the index.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from apidb import APIDoc, CatalogStore
from apidb.names import hub_key
from retriever import persistence
from retriever.config import (
    MAX_K,
    MAX_QUERY_CHARS,
    SEARCH_MODES,
    RetrieverConfig,
    SearchMode,
)
from retriever.embedder import Embedder, Vectors
from retriever.errors import IndexStateError, QueryError
from retriever.index_state import IndexState, Layout
from retriever.prior import DomainPrior
from retriever.rerank import CrossEncoderReranker
from retriever.scoring import Hit, score
from retriever.sync import DEFAULT_INTERVAL_S, ChangeFollower
from retriever.text import doc_views

logger = logging.getLogger("toolroute.retriever")

_EMBED_CHUNK = 192
# How long a long-running service lets index changes go unsaved (see `save_delay_s`).
SERVICE_SAVE_DELAY_S = 5.0

ProgressCallback = Callable[[int, int], None]

__all__ = ["BuildStats", "Hit", "HybridRetriever", "ProgressCallback"]


@dataclass(frozen=True, slots=True)
class BuildStats:
    docs: int
    seconds: float


class HybridRetriever:
    """Search the catalog. Thread-safe; create with `open()`."""

    def __init__(
        self,
        store: CatalogStore,
        embedder: Embedder,
        index_dir: str | Path,
        config: RetrieverConfig | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.index_dir = Path(index_dir)
        self.config = config or RetrieverConfig()
        # The task-type prior trained with the embedder, if it has one (retriever/prior.py).
        self.prior: DomainPrior | None = getattr(embedder, "domain_prior", None)
        # The optional cross-encoder stage over hybrid results (retriever/rerank.py).
        self.reranker: CrossEncoderReranker | None = None
        self._lock = threading.RLock()
        self._state = IndexState(embedder.dim, self.config.index_type)
        self._seq = 0  # the last catalog change applied
        # The index on disk is a cache: a start reconciles it with the catalog, so a save
        # may lag the changes. 0 saves after every sync (a CLI process that exits next);
        # a service sets a delay (SERVICE_SAVE_DELAY_S), since at 100,000 APIs one save
        # writes ~200 MB, and its follower saves the rest on its next tick.
        self.save_delay_s = 0.0
        self._unsaved = False
        self._saved_at = float("-inf")
        self._save_lock = threading.Lock()  # one save at a time, in order

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    def open(
        cls,
        store: CatalogStore,
        embedder: Embedder,
        index_dir: str | Path,
        config: RetrieverConfig | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> HybridRetriever:
        """Load the index from `index_dir` (building it if missing or unusable)."""
        retriever = cls(store, embedder, index_dir, config)
        if persistence.exists(retriever.index_dir):
            try:
                retriever._load()
                return retriever
            except IndexStateError as exc:
                logger.warning("rebuilding the search index: %s", exc)
        retriever.build(progress=progress)
        return retriever

    def build(self, *, progress: ProgressCallback | None = None) -> BuildStats:
        """Index the whole catalog from scratch and save it."""
        started = time.perf_counter()
        with self._lock:
            seq = self.store.last_seq()
            docs = self.store.list_docs()
            state = IndexState(self.embedder.dim, self.config.index_type)
            state.insert(docs, self._embed_docs(docs, progress))
            self._state, self._seq = state, seq
        # Outside `_lock`: `save` takes `_save_lock` before it (one lock order everywhere).
        self.save()
        return BuildStats(docs=len(docs), seconds=time.perf_counter() - started)

    def sync(self) -> int:
        """Apply catalog changes made since the last sync (by any process). Returns a count."""
        if self.store.last_seq() == self._seq:
            self.save_if_due()
            return 0
        with self._lock:
            changes = self.store.changes_since(self._seq)
            if not changes:
                return 0
            touched = list(dict.fromkeys(change.doc_id for change in changes))
            current = self.store.get_many(touched)
            applied = self._apply(current, [d for d in touched if d not in current])
            self._seq = changes[-1].seq
            self._unsaved = self._unsaved or bool(applied)
            self._state.layout()  # here, not in the next request
        self.save_if_due()
        return applied

    def follow(self, interval_s: float = DEFAULT_INTERVAL_S) -> ChangeFollower:
        """Start applying other processes' catalog changes in the background."""
        return ChangeFollower(self, interval_s).start()

    def save(self) -> None:
        """Write the index now: copied under the lock, written outside it."""
        with self._save_lock:
            with self._lock:
                snapshot = persistence.snapshot(self._state, self.embedder, self._seq)
                self._unsaved = False
                self._saved_at = time.monotonic()
            persistence.write(self.index_dir, snapshot)

    def save_if_due(self) -> None:
        """Save unsaved changes once `save_delay_s` has passed since the last save."""
        if self._unsaved and time.monotonic() - self._saved_at >= self.save_delay_s:
            self.save()

    def flush(self) -> None:
        """Save unsaved changes now (at shutdown)."""
        if self._unsaved:
            self.save()

    def __len__(self) -> int:
        return len(self._state)

    @property
    def hubs(self) -> list[str]:
        with self._lock:
            return sorted(self._state.layout().hub_positions)

    # ----------------------------------------------------------------- search

    def embed_query(self, query: str) -> Vectors:
        """The query's embedding, for callers that also need it (the router's features)."""
        vectors = self.embedder.encode([self._validate(query, 1, "dense")])
        return np.asarray(vectors[0], dtype=np.float32)

    def search(
        self,
        query: str,
        k: int = 5,
        *,
        hub: str | None = None,
        mode: SearchMode = "hybrid",
        vector: Vectors | None = None,
    ) -> list[Hit]:
        """The top `k` docs. `vector` is the query's embedding if the caller has it."""
        query = self._validate(query, k, mode)
        # Embed outside the lock: it is the slow part, and needs no index state.
        if mode == "bm25":
            vector = None
        elif vector is None:
            vector = self.embedder.encode([query])[0]
        with self._lock:
            layout = self._state.layout()
            hub_name = self._validate_hub(hub, layout)
            if not len(self._state):
                return []
            positions = layout.hub_positions[hub_name] if hub_name else layout.all_positions
            prior = None
            if mode == "hybrid" and self.prior is not None and self.config.prior_weight:
                assert vector is not None
                prior = self.prior.probabilities(vector)
            reranker = self.reranker if mode == "hybrid" else None
            depth = max(k, reranker.settings.depth) if reranker is not None else k
            hits = score(self._state, self.config, query, vector, positions, mode, depth, prior)
        # Outside the lock, like the embedding: the cross-encoder is the slow part.
        return reranker.rerank(query, hits)[:k] if reranker is not None else hits

    def _validate(self, query: str, k: int, mode: str) -> str:
        if not isinstance(query, str) or not query.strip():
            raise QueryError("the query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise QueryError(
                f"the query is {len(query):,} characters; the limit is {MAX_QUERY_CHARS:,}"
            )
        if not 1 <= k <= MAX_K:
            raise QueryError(f"k must be between 1 and {MAX_K}, got {k}")
        if mode not in SEARCH_MODES:
            raise QueryError(
                f"unknown search mode {mode!r}; choose one of {', '.join(SEARCH_MODES)}"
            )
        return query.strip()

    @staticmethod
    def _validate_hub(hub: str | None, layout: Layout) -> str | None:
        if hub is None:
            return None
        name = hub_key(hub)
        if name not in layout.hub_positions:
            choices = ", ".join(sorted(layout.hub_positions)) or "none: the catalog is empty"
            raise QueryError(f"unknown hub {hub!r}; known hubs: {choices}")
        return name

    # ----------------------------------------------------------------- updates

    def _apply(self, current: dict[str, APIDoc], deleted: list[str]) -> int:
        """Bring the index in line: put `current` docs (if their version moved), drop `deleted`."""
        state = self._state
        removed = [doc_id for doc_id in deleted if doc_id in state.pos]
        changed = state.changed(current)
        for doc_id in removed:
            state.remove(doc_id)
        for doc in changed:
            if doc.id in state.pos:
                state.remove(doc.id)
        if changed:
            state.insert(changed, self._embed_docs(changed, None))
        state.compact_if_needed()
        return len(removed) + len(changed)

    def _embed_docs(self, docs: list[APIDoc], progress: ProgressCallback | None) -> Vectors:
        """One vector per doc: the mean of its views' unit embeddings (= mean cosine)."""
        texts = [view for doc in docs for view in doc_views(doc)]
        views = len(texts) // max(len(docs), 1)
        vectors = np.zeros((len(texts), self.embedder.dim), dtype=np.float32)
        # Encode in order of length so each batch pads to similar lengths: interleaved
        # long and short views made the full build ~40% slower.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), _EMBED_CHUNK):
            chunk = order[start : start + _EMBED_CHUNK]
            vectors[chunk] = self.embedder.encode([texts[i] for i in chunk])
            if progress is not None:
                progress(min(start + len(chunk), len(texts)) // max(views, 1), len(docs))
        mean = vectors.reshape(len(docs), views, -1).mean(axis=1) if docs else vectors
        return np.ascontiguousarray(mean, dtype=np.float32)

    def _load(self) -> None:
        with self._lock:
            saved = persistence.load(self.index_dir, self.embedder, self.config)
            # The catalog's sequence is read before its contents: a change racing with
            # this load is then re-applied by the next sync, never missed.
            seq = self.store.last_seq()
            by_id = {doc.id: doc for doc in self.store.list_docs()}
            self._state = persistence.restore(saved, self.embedder.dim, self.config, by_id)
            gone = [doc_id for doc_id in self._state.ids if doc_id not in by_id]
            applied = self._apply(by_id, gone)
            self._seq = seq
        if applied:
            self.save()
