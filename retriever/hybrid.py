"""`HybridRetriever`: BM25 + dense search over the catalog, persisted and kept in step.

The index lives in a directory:

    manifest.json   format, embedder fingerprint, text version, index type, catalog change
                    sequence, and for every doc its FAISS key and catalog version, plus
                    checksums of the two files below
    dense.faiss     the FAISS index (IndexIDMap2 over flat inner product or HNSW)
    bm25.json       the BM25 tokens of every doc, in corpus order

At start the directory is loaded and reconciled with the catalog by version (only docs that
changed are re-embedded). While running, every search first applies the catalog's change
log since the last sequence it saw, so a doc added by another process is searchable at the
next query. An index from another embedder, or one that fails its checksums, is rebuilt
with a warning.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from apidb import APIDoc, CatalogStore
from retriever.bm25 import IncrementalBM25
from retriever.config import (
    MAX_K,
    MAX_QUERY_CHARS,
    SEARCH_MODES,
    RetrieverConfig,
    SearchMode,
)
from retriever.dense import DenseIndex
from retriever.embedder import Embedder, Vectors
from retriever.errors import IndexStateError, QueryError
from retriever.fusion import (
    Floats,
    Ints,
    domain_shares,
    ranks,
    reciprocal_rank_fusion,
    weighted_fusion,
)
from retriever.text import TEXT_VERSION, bm25_text, call_key, doc_views, tokenize

logger = logging.getLogger("toolroute.retriever")

FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_DENSE = "dense.faiss"
_BM25 = "bm25.json"
_EMBED_CHUNK = 192
# HNSW cannot delete; compact (rebuild) once this share of its vectors are dead.
_HNSW_COMPACT_RATIO = 0.25

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: the doc, its final score, and its rank on each side (1-based)."""

    doc: APIDoc
    score: float
    ranks: dict[str, int | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Per-position facts the scorer needs as arrays (position = BM25 corpus order)."""

    keys: Ints  # FAISS key
    domains: Ints  # domain id
    groups: Ints  # id of the call text: docs with the same call are one API
    n_domains: int
    hub_positions: dict[str, Ints]
    all_positions: Ints
    sorted_keys: Ints  # `keys` in ascending order ...
    sorted_positions: Ints  # ... and the position of each


@dataclass(frozen=True, slots=True)
class BuildStats:
    docs: int
    seconds: float


class HybridRetriever:
    """Search the catalog. Thread-safe; create with `open()`."""

    _ids: list[str]  # doc ids in BM25 corpus order
    _pos: dict[str, int]  # doc id -> BM25 position
    _keys: dict[str, int]  # doc id -> FAISS key
    _docs_by_key: dict[int, APIDoc]
    _versions: dict[str, int]
    _tokens: list[list[str]]
    _bm25: IncrementalBM25
    _dense: DenseIndex
    _next_key: int
    _seq: int  # last catalog change applied
    _layout_cache: _Layout | None
    _domain_ids: dict[str, int]
    _group_ids: dict[tuple[str, str], int]

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
        self._lock = threading.RLock()
        self._reset_state()

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
        if (retriever.index_dir / _MANIFEST).exists():
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
            self._reset_state()
            vectors = self._embed_docs(docs, progress)
            self._insert(docs, vectors)
            self._seq = seq
            self.save()
        return BuildStats(docs=len(docs), seconds=time.perf_counter() - started)

    def sync(self) -> int:
        """Apply catalog changes made since the last sync (by any process). Returns a count."""
        if self.store.last_seq() == self._seq:
            return 0
        with self._lock:
            changes = self.store.changes_since(self._seq)
            if not changes:
                return 0
            touched = list(dict.fromkeys(change.doc_id for change in changes))
            current = self.store.get_many(touched)
            applied = self._apply(current, [d for d in touched if d not in current])
            self._seq = changes[-1].seq
            if applied:
                self.save()
            return applied

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def hubs(self) -> list[str]:
        with self._lock:
            return sorted(self._layout().hub_positions)

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
        self.sync()
        # Embed outside the lock: it is the slow part, and needs no index state.
        if mode == "bm25":
            vector = None
        elif vector is None:
            vector = self.embedder.encode([query])[0]
        with self._lock:
            layout = self._layout()
            hub_name = self._validate_hub(hub, layout)
            if not self._ids:
                return []
            positions = layout.hub_positions[hub_name] if hub_name else layout.all_positions
            dense = self._dense_scores(vector, positions, layout) if vector is not None else None
            bm25 = self._bm25.get_scores(tokenize(query))[positions] if mode != "dense" else None
            if mode == "dense":
                assert dense is not None
                scores = np.where(np.isnan(dense), -np.inf, dense)
            elif mode == "bm25":
                assert bm25 is not None
                scores = np.where(bm25 > 0, bm25, -np.inf)  # no shared term: no match
            else:
                assert dense is not None and bm25 is not None
                scores = self._fuse(dense, bm25, positions, layout)
            return self._top_hits(positions, scores, dense, bm25, k, layout)

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
    def _validate_hub(hub: str | None, layout: _Layout) -> str | None:
        if hub is None:
            return None
        name = hub.strip().lower()
        if name not in layout.hub_positions:
            choices = ", ".join(sorted(layout.hub_positions)) or "none: the catalog is empty"
            raise QueryError(f"unknown hub {hub!r}; known hubs: {choices}")
        return name

    def _dense_scores(self, vector: Vectors, positions: Ints, layout: _Layout) -> Floats:
        """Cosine per position in `positions`; NaN where FAISS did not return the doc."""
        allowed = None if len(positions) == len(self._ids) else layout.keys[positions]
        keys, found = self._dense.search(vector, self.config.candidates, allowed)
        scores = np.full(len(self._ids), np.nan)
        # FAISS key -> position, vectorised: a dict lookup per candidate cost ~2 ms a query.
        at = np.minimum(np.searchsorted(layout.sorted_keys, keys), len(layout.sorted_keys) - 1)
        known = layout.sorted_keys[at] == keys  # always, unless the index and corpus disagree
        scores[layout.sorted_positions[at[known]]] = found[known]
        return scores[positions]

    def _fuse(self, dense: Floats, bm25: Floats, positions: Ints, layout: _Layout) -> Floats:
        config = self.config
        if config.fusion == "rrf":
            matched = np.where(bm25 > 0, bm25, np.nan)
            fused = reciprocal_rank_fusion([ranks(dense), ranks(matched)], config.rrf_k)
        else:
            fused = weighted_fusion(dense, bm25, config.dense_weight)
        if not config.domain_weight:
            return fused
        domains = layout.domains[positions]
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

    def _top_hits(
        self,
        positions: Ints,
        scores: Floats,
        dense: Floats | None,
        bm25: Floats | None,
        k: int,
        layout: _Layout,
    ) -> list[Hit]:
        dense_rank = ranks(dense) if dense is not None else None
        bm25_rank = ranks(np.where(bm25 > 0, bm25, np.nan)) if bm25 is not None else None
        hits: list[Hit] = []
        seen: set[int] = set()
        for index in np.argsort(-scores, kind="stable"):
            if not np.isfinite(scores[index]):
                break
            position = int(positions[index])
            if self.config.collapse_duplicates:
                group = int(layout.groups[position])
                if group in seen:
                    continue
                seen.add(group)
            hit_ranks = {
                "bm25": _rank_or_none(bm25_rank, index),
                "dense": _rank_or_none(dense_rank, index),
            }
            doc = self._docs_by_key[int(layout.keys[position])]
            hits.append(Hit(doc=doc, score=round(float(scores[index]), 6), ranks=hit_ranks))
            if len(hits) == k:
                break
        return hits

    def _layout(self) -> _Layout:
        """Per-position arrays for scoring, rebuilt after the catalog changes."""
        if self._layout_cache is None:
            hub_positions: dict[str, list[int]] = {}
            keys, domains, groups = [], [], []
            for position, doc_id in enumerate(self._ids):
                key = self._keys[doc_id]
                doc = self._docs_by_key[key]
                hub_positions.setdefault(doc.hub, []).append(position)
                keys.append(key)
                domains.append(self._domain_ids.setdefault(doc.domain, len(self._domain_ids)))
                groups.append(self._group_ids.setdefault(call_key(doc), len(self._group_ids)))
            key_array = np.asarray(keys, dtype=np.int64)
            order = np.argsort(key_array, kind="stable")
            self._layout_cache = _Layout(
                keys=key_array,
                domains=np.asarray(domains, dtype=np.int64),
                groups=np.asarray(groups, dtype=np.int64),
                n_domains=len(self._domain_ids),
                hub_positions={h: np.asarray(p, dtype=np.int64) for h, p in hub_positions.items()},
                all_positions=np.arange(len(self._ids), dtype=np.int64),
                sorted_keys=key_array[order],
                sorted_positions=order.astype(np.int64),
            )
        return self._layout_cache

    # ----------------------------------------------------------------- updates

    def _apply(self, current: dict[str, APIDoc], deleted: list[str]) -> int:
        """Bring the index in line: put `current` docs (if their version moved), drop `deleted`."""
        removed = [doc_id for doc_id in deleted if doc_id in self._pos]
        changed = [
            doc
            for doc in current.values()
            if doc.id not in self._versions or self._versions[doc.id] != doc.version
        ]
        for doc_id in removed:
            self._remove(doc_id)
        replaced = [doc for doc in changed if doc.id in self._pos]
        for doc in replaced:
            self._remove(doc.id)
        if changed:
            self._insert(changed, self._embed_docs(changed, None))
        if self.config.index_type == "hnsw" and len(
            self._dense.removed
        ) > _HNSW_COMPACT_RATIO * max(len(self._ids), 1):
            self._compact_dense()
        return len(removed) + len(changed)

    def _insert(self, docs: list[APIDoc], vectors: Vectors) -> None:
        keys = np.arange(self._next_key, self._next_key + len(docs), dtype=np.int64)
        self._next_key += len(docs)
        for doc, key in zip(docs, keys, strict=True):
            self._keys[doc.id] = int(key)
            self._docs_by_key[int(key)] = doc
            self._versions[doc.id] = doc.version
            self._pos[doc.id] = len(self._ids)
            self._ids.append(doc.id)
            self._tokens.append(tokenize(bm25_text(doc)))
            self._bm25.add(self._tokens[-1])
        self._dense.add(keys, vectors)
        self._layout_cache = None

    def _remove(self, doc_id: str) -> None:
        position = self._pos.pop(doc_id)
        key = self._keys.pop(doc_id)
        del self._docs_by_key[key]
        del self._versions[doc_id]
        del self._ids[position]
        del self._tokens[position]
        for later in self._ids[position:]:
            self._pos[later] -= 1
        self._dense.remove([key])
        self._bm25.remove(position)
        self._layout_cache = None

    def _compact_dense(self) -> None:
        self._dense = self._dense.compacted()

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

    def _reset_state(self) -> None:
        self._ids = []
        self._pos = {}
        self._keys = {}
        self._docs_by_key = {}
        self._versions = {}
        self._tokens = []
        self._bm25 = IncrementalBM25([])
        self._dense = DenseIndex(self.embedder.dim, self.config.index_type)
        self._next_key = 0
        self._seq = 0
        self._layout_cache = None
        # Grow-only ids for domains and call texts, so ids stay valid across changes.
        self._domain_ids = {}
        self._group_ids = {}

    # ----------------------------------------------------------------- persistence

    def save(self) -> None:
        """Write the index atomically (each file replaced whole; the manifest last)."""
        with self._lock, self._dir_lock():
            dense_tmp = self.index_dir / f".{_DENSE}.tmp"
            bm25_tmp = self.index_dir / f".{_BM25}.tmp"
            self._dense.save(dense_tmp)
            bm25_tmp.write_text(json.dumps({"ids": self._ids, "tokens": self._tokens}))
            manifest = {
                "format": FORMAT_VERSION,
                "embedder": {
                    "name": self.embedder.name,
                    "fingerprint": self.embedder.fingerprint,
                    "dim": self.embedder.dim,
                },
                "text_version": TEXT_VERSION,
                "index_type": self.config.index_type,
                "catalog_seq": self._seq,
                "next_key": self._next_key,
                "removed_keys": sorted(self._dense.removed),
                "docs": {d: [self._keys[d], self._versions[d]] for d in self._ids},
                "checksums": {_DENSE: _sha256(dense_tmp), _BM25: _sha256(bm25_tmp)},
                "saved_at": time.time(),
            }
            manifest_tmp = self.index_dir / f".{_MANIFEST}.tmp"
            manifest_tmp.write_text(json.dumps(manifest))
            os.replace(dense_tmp, self.index_dir / _DENSE)
            os.replace(bm25_tmp, self.index_dir / _BM25)
            os.replace(manifest_tmp, self.index_dir / _MANIFEST)

    def _load(self) -> None:
        with self._lock, self._dir_lock():
            manifest = self._read_manifest()
            bm25 = _read_json(self.index_dir / _BM25)
            ids, tokens = bm25.get("ids"), bm25.get("tokens")
            if not isinstance(ids, list) or not isinstance(tokens, list) or len(ids) != len(tokens):
                raise IndexStateError("bm25.json does not match its manifest")
            docs_meta: dict[str, list[int]] = manifest["docs"]
            dense = DenseIndex.load(
                self.index_dir / _DENSE,
                self.embedder.dim,
                self.config.index_type,
                set(manifest.get("removed_keys", [])),
            )
            # The catalog's sequence is read before its contents: a change racing with
            # this load is then re-applied by the next sync, never missed.
            seq = self.store.last_seq()
            catalog = self.store.list_docs()
        by_id = {doc.id: doc for doc in catalog}
        self._reset_state()
        self._dense = dense
        self._next_key = int(manifest["next_key"])
        for doc_id, doc_tokens in zip(ids, tokens, strict=True):
            key, version = docs_meta[doc_id]
            doc = by_id.get(doc_id)
            # A doc deleted from the catalog keeps its old body until _apply drops it.
            self._docs_by_key[key] = doc if doc is not None else _placeholder(doc_id)
            self._keys[doc_id] = key
            self._versions[doc_id] = version
            self._pos[doc_id] = len(self._ids)
            self._ids.append(doc_id)
            self._tokens.append(doc_tokens)
        self._bm25 = IncrementalBM25(self._tokens)
        if len(self._dense) != len(self._ids):
            raise IndexStateError(
                f"the FAISS index holds {len(self._dense)} vectors for {len(self._ids)} docs"
            )
        gone = [doc_id for doc_id in self._ids if doc_id not in by_id]
        applied = self._apply(by_id, gone)
        self._seq = seq
        if applied:
            self.save()

    def _read_manifest(self) -> dict[str, Any]:
        manifest = _read_json(self.index_dir / _MANIFEST)
        if manifest.get("format") != FORMAT_VERSION:
            raise IndexStateError(
                f"index format {manifest.get('format')!r} is not {FORMAT_VERSION}"
            )
        embedder = manifest.get("embedder") or {}
        if embedder.get("fingerprint") != self.embedder.fingerprint:
            raise IndexStateError(
                f"the index was built with embedder {embedder.get('name')!r} "
                f"({embedder.get('fingerprint')}), not {self.embedder.name!r} "
                f"({self.embedder.fingerprint})"
            )
        if manifest.get("text_version") != TEXT_VERSION:
            raise IndexStateError("the index was built with another text scheme")
        if manifest.get("index_type") != self.config.index_type:
            raise IndexStateError(
                f"the index is {manifest.get('index_type')!r}, "
                f"configured {self.config.index_type!r}"
            )
        for name, expected in (manifest.get("checksums") or {}).items():
            path = self.index_dir / name
            if not path.exists() or _sha256(path) != expected:
                raise IndexStateError(f"{name} is missing or corrupted (checksum mismatch)")
        if not isinstance(manifest.get("docs"), dict):
            raise IndexStateError("the manifest lists no docs")
        return manifest

    @contextmanager
    def _dir_lock(self) -> Iterator[None]:
        """Serialise index writers across processes (several workers share one data dir)."""
        self.index_dir.mkdir(parents=True, exist_ok=True)
        with open(self.index_dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _rank_or_none(rank: Ints | None, index: int) -> int | None:
    if rank is None or not rank[index]:
        return None
    return int(rank[index])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexStateError(f"cannot read {path.name}: {exc}") from exc
    if not isinstance(data, dict):
        raise IndexStateError(f"{path.name} is not a JSON object")
    return data


def _placeholder(doc_id: str) -> APIDoc:
    hub = doc_id.split("/", 1)[0] or "unknown"
    return APIDoc(id=doc_id, hub=hub, kind="python", name=doc_id)
