"""The API documentation catalog: the `APIDoc` schema, loaders and the SQLite store.

Importing this package is cheap: the errors and the choice names load at once, the
schema, loaders and store (pydantic, YAML) on first use (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from apidb.errors import (
    CatalogError,
    DocExistsError,
    DocNotFoundError,
    InvalidDocError,
    LoaderError,
)
from apidb.names import IMPORT_FORMATS

if TYPE_CHECKING:
    from apidb.loaders import load_file, load_text
    from apidb.schema import APIDoc, HttpOperation
    from apidb.store import CatalogStore, Change, ImportSummary

_LAZY = {
    "load_file": "apidb.loaders",
    "load_text": "apidb.loaders",
    "APIDoc": "apidb.schema",
    "HttpOperation": "apidb.schema",
    "CatalogStore": "apidb.store",
    "Change": "apidb.store",
    "ImportSummary": "apidb.store",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'apidb' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "IMPORT_FORMATS",
    "APIDoc",
    "CatalogError",
    "CatalogStore",
    "Change",
    "DocExistsError",
    "DocNotFoundError",
    "HttpOperation",
    "ImportSummary",
    "InvalidDocError",
    "LoaderError",
    "load_file",
    "load_text",
]
