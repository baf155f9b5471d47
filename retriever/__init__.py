"""Finding the API docs that match a request: BM25, dense (FAISS) and their fusion.

Importing this package is cheap: the errors and the config load at once, and everything
that needs numpy, torch or faiss (`HybridRetriever`, `Hit`, ...) loads on first use
(PEP 562), so `toolroute --help` and the settings never pull them in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retriever.config import SEARCH_MODES, RetrieverConfig, SearchMode
from retriever.errors import (
    EmbedderError,
    IndexStateError,
    QueryError,
    RetrieverError,
    TuningError,
)

if TYPE_CHECKING:
    from retriever.hybrid import BuildStats, HybridRetriever
    from retriever.scoring import Hit

_LAZY = {
    "BuildStats": "retriever.hybrid",
    "HybridRetriever": "retriever.hybrid",
    "Hit": "retriever.scoring",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'retriever' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


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
