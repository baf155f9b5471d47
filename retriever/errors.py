"""Errors raised by retrieval.

    RetrieverError
    ├── QueryError          the query or its options are invalid (empty, too long, bad k/hub)
    ├── EmbedderError       the embedding model cannot be loaded or run
    ├── IndexStateError     an index directory cannot be used (corrupt, other embedder)
    └── TuningError         fine-tuning cannot start (bad pairs file, unusable output dir)

Foreign errors (faiss, sentence-transformers, OSError on index files) are wrapped at the
boundary that calls them, ``raise ... from exc``.
"""

from __future__ import annotations


class RetrieverError(Exception):
    """Base class for every error retrieval raises."""


class QueryError(RetrieverError, ValueError):
    """A search request is invalid; the message says which part and why."""


class EmbedderError(RetrieverError):
    """The embedding model could not be loaded or failed to encode."""


class IndexStateError(RetrieverError):
    """An index on disk cannot be used as it is."""


class TuningError(RetrieverError):
    """Fine-tuning the embedder cannot start or finish; the message says why."""
