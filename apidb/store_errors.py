"""How the catalog store reports database errors: a server that is down or restarting
(`CatalogUnavailableError`: the service answers 503 and the caller retries) is told from
any other database failure (`CatalogError`)."""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from apidb.errors import CatalogError, CatalogUnavailableError


def translated(exc: SQLAlchemyError, where: str) -> CatalogError:
    """A database error as the catalog's: unreachable (the service answers 503 and retries)
    or otherwise broken."""
    message = f"{where}: {first_line(getattr(exc, 'orig', None) or exc)}"
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return CatalogUnavailableError(message)
    if isinstance(exc, DBAPIError) and _unreachable(exc):
        return CatalogUnavailableError(message)
    return CatalogError(message)


def _unreachable(exc: DBAPIError) -> bool:
    """A server that is down or restarting (not a locked SQLite file, not bad SQL)."""
    inner = exc.orig
    if isinstance(inner, sqlite3.Error):
        return False
    name = type(inner).__name__
    return name in {"OperationalError", "InterfaceError", "AdminShutdown", "CannotConnectNow"}


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
