"""An index on disk: written atomically, read back only if it is the index we expect.

    manifest.json   format, embedder fingerprint, text version, index type, catalog change
                    sequence, and for every doc its FAISS key and catalog version, plus
                    checksums of the two files below
    dense.faiss     the FAISS index (IndexIDMap2 over flat inner product or HNSW)
    bm25.json       the BM25 tokens of every doc, in corpus order

An index from another embedder, text scheme or index type, or one that fails its
checksums, raises `IndexStateError` (the caller rebuilds). Writers of one directory are
serialised across processes with a lock file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apidb import APIDoc
from retriever.config import RetrieverConfig
from retriever.dense import DenseIndex
from retriever.embedder import Embedder, Precision
from retriever.errors import IndexStateError
from retriever.index_state import IndexState
from retriever.text import TEXT_VERSION

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_DENSE = "dense.faiss"
_BM25 = "bm25.json"


@dataclass(frozen=True, slots=True)
class SavedIndex:
    """What a saved index holds, before it is reconciled with the catalog."""

    dense: DenseIndex
    next_key: int
    entries: list[tuple[str, int, int, list[str]]]  # (doc id, key, version, tokens)


def exists(index_dir: Path) -> bool:
    return (index_dir / MANIFEST).exists()


def built_precision(index_dir: Path) -> Precision | None:
    """The precision of the embedder the saved index was built with (None: no readable
    index)."""
    try:
        manifest = json.loads((index_dir / MANIFEST).read_text())
        fingerprint = str(manifest["embedder"]["fingerprint"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    return "int8" if fingerprint.endswith("-int8") else "fp32"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An index's contents as of one moment, taken under the retriever's lock (a memory
    copy, fast) and written to disk outside it (slow at scale: searches go on meanwhile)."""

    dense: bytes
    ids: list[str]
    tokens: list[list[str]]
    manifest: dict[str, Any]


def snapshot(state: IndexState, embedder: Embedder, seq: int) -> Snapshot:
    """Copy what `write` needs. Token lists are never changed in place, so sharing them is
    safe; the lists holding them are copied."""
    manifest = {
        "format": FORMAT_VERSION,
        "embedder": {
            "name": embedder.name,
            "fingerprint": embedder.fingerprint,
            "dim": embedder.dim,
        },
        "text_version": TEXT_VERSION,
        "index_type": state.index_type,
        "catalog_seq": seq,
        "next_key": state.next_key,
        "removed_keys": sorted(state.dense.removed),
        "docs": {d: [state.keys[d], state.versions[d]] for d in state.ids},
    }
    return Snapshot(state.dense.serialize(), list(state.ids), list(state.tokens), manifest)


def write(index_dir: Path, snap: Snapshot) -> None:
    """Write a snapshot atomically (each file replaced whole; the manifest last)."""
    with dir_lock(index_dir):
        dense_tmp = index_dir / f".{_DENSE}.tmp"
        bm25_tmp = index_dir / f".{_BM25}.tmp"
        dense_tmp.write_bytes(snap.dense)
        bm25_tmp.write_text(json.dumps({"ids": snap.ids, "tokens": snap.tokens}))
        manifest = {
            **snap.manifest,
            "checksums": {_DENSE: _sha256(dense_tmp), _BM25: _sha256(bm25_tmp)},
            "saved_at": time.time(),
        }
        manifest_tmp = index_dir / f".{MANIFEST}.tmp"
        manifest_tmp.write_text(json.dumps(manifest))
        os.replace(dense_tmp, index_dir / _DENSE)
        os.replace(bm25_tmp, index_dir / _BM25)
        os.replace(manifest_tmp, index_dir / MANIFEST)


def save(index_dir: Path, state: IndexState, embedder: Embedder, seq: int) -> None:
    """Snapshot and write at once (for callers that hold no lock worth releasing)."""
    write(index_dir, snapshot(state, embedder, seq))


def load(index_dir: Path, embedder: Embedder, config: RetrieverConfig) -> SavedIndex:
    with dir_lock(index_dir):
        manifest = _read_manifest(index_dir, embedder, config)
        bm25 = _read_json(index_dir / _BM25)
        ids, tokens = bm25.get("ids"), bm25.get("tokens")
        if not isinstance(ids, list) or not isinstance(tokens, list) or len(ids) != len(tokens):
            raise IndexStateError("bm25.json does not match its manifest")
        docs_meta: dict[str, list[int]] = manifest["docs"]
        dense = DenseIndex.load(
            index_dir / _DENSE,
            embedder.dim,
            config.index_type,
            set(manifest.get("removed_keys", [])),
        )
    try:
        entries = [
            (doc_id, int(docs_meta[doc_id][0]), int(docs_meta[doc_id][1]), list(doc_tokens))
            for doc_id, doc_tokens in zip(ids, tokens, strict=True)
        ]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise IndexStateError(f"the manifest does not describe bm25.json: {exc}") from exc
    if len(dense) != len(entries):
        raise IndexStateError(f"the FAISS index holds {len(dense)} vectors for {len(entries)} docs")
    return SavedIndex(dense, int(manifest["next_key"]), entries)


def restore(
    saved: SavedIndex, dim: int, config: RetrieverConfig, docs: dict[str, APIDoc]
) -> IndexState:
    """The saved index as a state, with the catalog's current bodies where it has them
    (a doc deleted from the catalog keeps a placeholder until the reconcile drops it)."""
    state = IndexState(dim, config.index_type, saved.dense)
    for doc_id, key, version, tokens in saved.entries:
        state.restore(docs.get(doc_id) or _placeholder(doc_id), key, version, tokens)
    state.finish_restore(saved.next_key)
    return state


def _read_manifest(index_dir: Path, embedder: Embedder, config: RetrieverConfig) -> dict[str, Any]:
    manifest = _read_json(index_dir / MANIFEST)
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexStateError(f"index format {manifest.get('format')!r} is not {FORMAT_VERSION}")
    built_with = manifest.get("embedder") or {}
    if built_with.get("fingerprint") != embedder.fingerprint:
        raise IndexStateError(
            f"the index was built with embedder {built_with.get('name')!r} "
            f"({built_with.get('fingerprint')}), not {embedder.name!r} ({embedder.fingerprint})"
        )
    if manifest.get("text_version") != TEXT_VERSION:
        raise IndexStateError("the index was built with another text scheme")
    if manifest.get("index_type") != config.index_type:
        raise IndexStateError(
            f"the index is {manifest.get('index_type')!r}, configured {config.index_type!r}"
        )
    for name, expected in (manifest.get("checksums") or {}).items():
        path = index_dir / name
        if not path.exists() or _sha256(path) != expected:
            raise IndexStateError(f"{name} is missing or corrupted (checksum mismatch)")
    if not isinstance(manifest.get("docs"), dict):
        raise IndexStateError("the manifest lists no docs")
    return manifest


@contextmanager
def dir_lock(index_dir: Path) -> Iterator[None]:
    """Serialise index writers across processes (several workers share one data dir)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
