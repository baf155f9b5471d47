"""LangChain adapter: `APIDocRetriever` is a `BaseRetriever` over a `HybridRetriever`.

    retriever = APIDocRetriever(hybrid=HybridRetriever.open(...), k=5, hub="huggingface")
    docs = retriever.invoke("summarize a news article")

Each `Document` holds the doc's text as `page_content` and its id, hub, call, score and
ranks in `metadata`.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from retriever.config import MAX_K, SearchMode
from retriever.hybrid import Hit, HybridRetriever


class APIDocRetriever(BaseRetriever):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    hybrid: HybridRetriever
    k: int = Field(default=5, ge=1, le=MAX_K)
    hub: str | None = None
    mode: SearchMode = "hybrid"

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits = self.hybrid.search(query, self.k, hub=self.hub, mode=self.mode)
        return [hit_to_document(hit) for hit in hits]


def hit_to_document(hit: Hit) -> Document:
    doc = hit.doc
    content = f"{doc.name}\n{doc.domain}\n{doc.description}\nCall: {doc.call}".strip()
    metadata: dict[str, Any] = {
        "id": doc.id,
        "hub": doc.hub,
        "kind": doc.kind,
        "domain": doc.domain,
        "call": doc.call,
        "score": hit.score,
        "ranks": hit.ranks,
        "version": doc.version,
    }
    return Document(page_content=content, metadata=metadata, id=doc.id)
