"""Errors raised by the API catalog.

    CatalogError
    ├── LoaderError          an import file could not be read or normalised
    │   └── InvalidDocError  a doc that could not be stored and read back (names it)
    ├── DocNotFoundError     no doc with that id
    ├── DocExistsError       a doc with that id is already in the catalog
    └── CatalogUnavailableError  the catalog's database cannot be reached (retry later)

Every loader validates a whole file before anything is written, so a LoaderError means
the catalog was left as it was.
"""

from __future__ import annotations


class CatalogError(Exception):
    """Base class for every error the catalog raises."""


class CatalogUnavailableError(CatalogError):
    """The catalog's database server is down or restarting: nothing was changed, and the
    same request may succeed in a moment (the service answers 503 with Retry-After)."""


class LoaderError(CatalogError):
    """An import file is malformed; the message names the file position and the problem."""


class InvalidDocError(LoaderError):
    """A doc the store refuses: it breaks a bound (nesting, size, enum length) or would not
    read back as written. Raised before anything of the import is committed."""

    def __init__(self, doc_id: str, reason: str) -> None:
        super().__init__(f"API {doc_id!r} cannot be stored: {reason}")
        self.doc_id = doc_id


class DocNotFoundError(CatalogError, KeyError):
    def __init__(self, doc_id: str) -> None:
        super().__init__(doc_id)
        self.doc_id = doc_id

    def __str__(self) -> str:
        return f"no API with id {self.doc_id!r} in the catalog"


class DocExistsError(CatalogError):
    def __init__(self, doc_id: str) -> None:
        super().__init__(doc_id)
        self.doc_id = doc_id

    def __str__(self) -> str:
        return f"an API with id {self.doc_id!r} is already in the catalog (use update)"
