"""`CatalogWriter`: the one way people change the catalog (REST, CLI), checked before writing.

A write is admitted only if every doc in it is safe to serve to other users: each doc must
be storable (the store checks its bounds and that it reads back, `apidb.InvalidDocError`),
and a Python doc's canonical call must not load code from outside what the operator trusts
nor hold anything the sandbox's static policy refuses (`agent.sandbox.provenance`). Any doc
that fails refuses the whole write, naming the doc; nothing of it is written. After a write
the search index catches up at once, so the next request sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from apidb import APIDoc, CatalogStore, DocNotFoundError, ImportSummary, InvalidDocError

if TYPE_CHECKING:
    from agent.sandbox.provenance import CodeOrigins
    from retriever import HybridRetriever


class CatalogWriter:
    def __init__(
        self,
        store: CatalogStore,
        origins: CodeOrigins,
        retriever: HybridRetriever | None = None,
    ) -> None:
        self.store = store
        self.origins = origins
        self.retriever = retriever

    def admit(self, docs: Sequence[APIDoc]) -> None:
        """Raise `InvalidDocError` naming the first doc that must not be served."""
        for doc in docs:
            problems = self.origins.doc_problems(doc)
            if problems:
                raise InvalidDocError(doc.id, "its call " + "; ".join(dict.fromkeys(problems)))

    def import_docs(self, docs: Sequence[APIDoc]) -> ImportSummary:
        """Add or update all of `docs` in one transaction, or none of them."""
        self.admit(docs)
        summary = self.store.upsert_many(docs)
        self._sync()
        return summary

    def add(self, doc: APIDoc) -> APIDoc:
        self.admit([doc])
        stored = self.store.add(doc)
        self._sync()
        return stored

    def put(self, doc: APIDoc) -> tuple[APIDoc, bool]:
        """Replace the doc with this id, or add it; returns (stored, created)."""
        self.admit([doc])
        try:
            stored, created = self.store.update(doc), False
        except DocNotFoundError:
            stored, created = self.store.add(doc), True
        self._sync()
        return stored, created

    def delete(self, doc_id: str) -> None:
        self.store.delete(doc_id)
        self._sync()

    def _sync(self) -> None:
        if self.retriever is not None:
            self.retriever.sync()
