"""Dense vectors in FAISS, addressed by integer keys so single docs can come and go.

``flat`` (exact inner product, the default) supports removal directly. ``hnsw`` (for large
catalogs) cannot remove vectors, so removed keys are remembered and filtered out of results
until the index is compacted by a rebuild.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from retriever.config import IndexType
from retriever.embedder import Vectors
from retriever.errors import IndexStateError

Keys = npt.NDArray[np.int64]
_HNSW_NEIGHBOURS = 32


def _faiss() -> Any:
    import faiss

    return faiss


class DenseIndex:
    def __init__(self, dim: int, index_type: IndexType = "flat", index: Any = None) -> None:
        faiss = _faiss()
        self.dim = dim
        self.index_type = index_type
        if index is None:
            if index_type == "hnsw":
                inner = faiss.IndexHNSWFlat(dim, _HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
            else:
                inner = faiss.IndexFlatIP(dim)
            index = faiss.IndexIDMap2(inner)
        self._index = index
        self.removed: set[int] = set()

    def __len__(self) -> int:
        return int(self._index.ntotal) - len(self.removed)

    def add(self, keys: Keys, vectors: Vectors) -> None:
        if len(keys):
            self._index.add_with_ids(vectors, keys)

    def remove(self, keys: list[int]) -> None:
        if not keys:
            return
        if self.index_type == "hnsw":
            self.removed.update(keys)
        else:
            self._index.remove_ids(np.asarray(keys, dtype=np.int64))

    def search(self, vector: Vectors, limit: int, allowed: Keys | None) -> tuple[Keys, Any]:
        """Top `limit` (key, score) pairs, optionally only among `allowed` keys."""
        faiss = _faiss()
        limit = min(limit + len(self.removed), int(self._index.ntotal))
        if limit <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(allowed)
            if self.index_type == "hnsw":
                params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(64, limit))
            else:
                params = faiss.SearchParameters(sel=selector)
        scores, keys = self._index.search(vector.reshape(1, -1), limit, params=params)
        keep = keys[0] >= 0  # FAISS pads with -1 when fewer than `limit` match
        if self.removed:
            keep &= ~np.isin(keys[0], np.fromiter(self.removed, dtype=np.int64))
        return keys[0][keep], scores[0][keep]

    def compacted(self) -> DenseIndex:
        """A new index holding only the live vectors (copied, not re-embedded)."""
        keys = np.asarray(
            [key for key in self._live_keys() if key not in self.removed], dtype=np.int64
        )
        fresh = DenseIndex(self.dim, self.index_type)
        if len(keys):
            vectors = np.stack([self._index.reconstruct(int(key)) for key in keys])
            fresh.add(keys, np.ascontiguousarray(vectors, dtype=np.float32))
        return fresh

    def _live_keys(self) -> list[int]:
        id_map = _faiss().vector_to_array(self._index.id_map)
        return [int(key) for key in id_map]

    # ----------------------------------------------------------------- persistence

    def save(self, path: Path) -> None:
        _faiss().write_index(self._index, str(path))

    def serialize(self) -> bytes:
        """The index as `save` would write it, in memory."""
        return bytes(_faiss().serialize_index(self._index))

    @classmethod
    def load(cls, path: Path, dim: int, index_type: IndexType, removed: set[int]) -> DenseIndex:
        faiss = _faiss()
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:  # faiss reports unreadable files as RuntimeError
            raise IndexStateError(f"cannot read the FAISS index {path}: {exc}") from exc
        if index.d != dim:
            raise IndexStateError(f"FAISS index {path} has dimension {index.d}, expected {dim}")
        dense = cls(dim, index_type, index)
        dense.removed = set(removed)
        return dense
