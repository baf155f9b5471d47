"""Finding the API docs that match a request: BM25, dense (FAISS) and their fusion.

Heavy libraries (torch, sentence-transformers, faiss) load only when an embedder or index
is created, so importing this package is cheap.
"""

from retriever.config import SEARCH_MODES, RetrieverConfig, SearchMode
from retriever.errors import (
    EmbedderError,
    IndexStateError,
    QueryError,
    RetrieverError,
    TuningError,
)
from retriever.hybrid import BuildStats, Hit, HybridRetriever

__all__ = [
    "SEARCH_MODES",
    "BuildStats",
    "EmbedderError",
    "Hit",
    "HybridRetriever",
    "IndexStateError",
    "QueryError",
    "RetrieverConfig",
    "RetrieverError",
    "SearchMode",
    "TuningError",
]
