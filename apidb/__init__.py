"""The API documentation catalog: the `APIDoc` schema, loaders and the SQLite store."""

from apidb.errors import (
    CatalogError,
    DocExistsError,
    DocNotFoundError,
    InvalidDocError,
    LoaderError,
)
from apidb.loaders import IMPORT_FORMATS, load_file, load_text
from apidb.schema import APIDoc, HttpOperation
from apidb.store import CatalogStore, Change, ImportSummary

__all__ = [
    "IMPORT_FORMATS",
    "InvalidDocError",
    "APIDoc",
    "CatalogError",
    "CatalogStore",
    "Change",
    "DocExistsError",
    "DocNotFoundError",
    "HttpOperation",
    "ImportSummary",
    "LoaderError",
    "load_file",
    "load_text",
]
