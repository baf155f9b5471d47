"""`IndexState`: what one index holds in memory, kept consistent in one place.

Every doc sits at a position (BM25 corpus order) and under a FAISS key; the structures
below are parallel and change together through `insert` and `remove` only. Removing a doc
moves the last one into its position, so a change costs the same at any catalog size. `layout()`
turns them into the arrays the scorer needs, cached until the next change. Not
thread-safe: `HybridRetriever` holds the lock around every use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from apidb import APIDoc
from retriever.bm25 import IncrementalBM25
from retriever.config import IndexType
from retriever.dense import DenseIndex
from retriever.embedder import Vectors
from retriever.fusion import Ints
from retriever.text import bm25_text, call_key, tokenize

# HNSW cannot delete; compact (rebuild) once this share of its vectors are dead.
HNSW_COMPACT_RATIO = 0.25


@dataclass(frozen=True, slots=True)
class Layout:
    """Per-position facts the scorer needs as arrays (position = BM25 corpus order)."""

    keys: Ints  # FAISS key
    domains: Ints  # domain id
    groups: Ints  # id of the call text: docs with the same call are one API
    n_domains: int
    domain_names: tuple[str, ...]  # by domain id
    hub_positions: dict[str, Ints]
    all_positions: Ints
    sorted_keys: Ints  # `keys` in ascending order ...
    sorted_positions: Ints  # ... and the position of each


class IndexState:
    def __init__(self, dim: int, index_type: IndexType, dense: DenseIndex | None = None) -> None:
        self.index_type = index_type
        self.ids: list[str] = []  # doc ids in BM25 corpus order
        self.pos: dict[str, int] = {}  # doc id -> BM25 position
        self.keys: dict[str, int] = {}  # doc id -> FAISS key
        self.docs_by_key: dict[int, APIDoc] = {}
        self.versions: dict[str, int] = {}
        self.tokens: list[list[str]] = []
        self.bm25 = IncrementalBM25()
        self.dense = dense if dense is not None else DenseIndex(dim, index_type)
        self.next_key = 0
        self._layout: Layout | None = None
        # Per position, like `ids`: the facts `layout()` turns into arrays. Computed once
        # per doc here, so that a change costs a few array conversions, not a pass over
        # every doc in Python (seconds at 100,000 docs).
        self._key_at: list[int] = []
        self._domain_at: list[int] = []
        self._group_at: list[int] = []
        self._hub_at: list[int] = []
        # Grow-only ids for domains, call texts and hubs, so ids stay valid across changes.
        self._domain_ids: dict[str, int] = {}
        self._group_ids: dict[tuple[str, str], int] = {}
        self._hub_ids: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    # ----------------------------------------------------------------- changes

    def insert(self, docs: list[APIDoc], vectors: Vectors) -> None:
        keys = np.arange(self.next_key, self.next_key + len(docs), dtype=np.int64)
        self.next_key += len(docs)
        for doc, key in zip(docs, keys, strict=True):
            self._append(doc, int(key), doc.version, tokenize(bm25_text(doc)))
            self.bm25.add(self.tokens[-1])
        self.dense.add(keys, vectors)

    def restore(self, doc: APIDoc, key: int, version: int, tokens: list[str]) -> None:
        """Put back one doc as a saved index held it (its vector is already in `dense`)."""
        self._append(doc, key, version, tokens)

    def finish_restore(self, next_key: int) -> None:
        self.bm25 = IncrementalBM25(self.tokens)
        self.next_key = next_key

    def _append(self, doc: APIDoc, key: int, version: int, tokens: list[str]) -> None:
        self.docs_by_key[key] = doc
        self.keys[doc.id] = key
        self.versions[doc.id] = version
        self.pos[doc.id] = len(self.ids)
        self.ids.append(doc.id)
        self.tokens.append(tokens)
        self._key_at.append(key)
        self._domain_at.append(self._domain_ids.setdefault(doc.domain, len(self._domain_ids)))
        self._group_at.append(self._group_ids.setdefault(call_key(doc), len(self._group_ids)))
        self._hub_at.append(self._hub_ids.setdefault(doc.hub, len(self._hub_ids)))
        self._layout = None

    def remove(self, doc_id: str) -> None:
        """Drop a doc; the last doc takes its position (BM25 does the same), so no other
        position moves."""
        position = self.pos.pop(doc_id)
        key = self.keys.pop(doc_id)
        del self.docs_by_key[key]
        del self.versions[doc_id]
        moved = self.bm25.remove(position)
        columns: list[list[Any]] = [
            self.ids,
            self.tokens,
            self._key_at,
            self._domain_at,
            self._group_at,
            self._hub_at,
        ]
        if moved is not None:
            for column in columns:
                column[position] = column[moved]
            self.pos[self.ids[position]] = position
        for column in columns:
            column.pop()
        self.dense.remove([key])
        self._layout = None

    def changed(self, current: dict[str, APIDoc]) -> list[APIDoc]:
        """The docs of `current` whose version this state does not hold."""
        return [doc for doc in current.values() if self.versions.get(doc.id) != doc.version]

    def compact_if_needed(self) -> None:
        if self.index_type == "hnsw" and len(self.dense.removed) > HNSW_COMPACT_RATIO * max(
            len(self.ids), 1
        ):
            self.dense = self.dense.compacted()

    # ----------------------------------------------------------------- reading

    def doc_at(self, position: int, layout: Layout) -> APIDoc:
        return self.docs_by_key[int(layout.keys[position])]

    def layout(self) -> Layout:
        """Per-position arrays for scoring, rebuilt after the catalog changes."""
        if self._layout is None:
            key_array = np.asarray(self._key_at, dtype=np.int64)
            hubs = np.asarray(self._hub_at, dtype=np.int64)
            order = np.argsort(key_array, kind="stable")
            hub_positions = {
                name: np.flatnonzero(hubs == hub) for name, hub in self._hub_ids.items()
            }
            self._layout = Layout(
                keys=key_array,
                domains=np.asarray(self._domain_at, dtype=np.int64),
                groups=np.asarray(self._group_at, dtype=np.int64),
                n_domains=len(self._domain_ids),
                domain_names=tuple(self._domain_ids),
                hub_positions={
                    name: positions.astype(np.int64)
                    for name, positions in hub_positions.items()
                    if len(positions)
                },
                all_positions=np.arange(len(self.ids), dtype=np.int64),
                sorted_keys=key_array[order],
                sorted_positions=order.astype(np.int64),
            )
        return self._layout
