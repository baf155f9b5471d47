"""The catalog store: API docs in SQLite, with a version per doc and a change log.

Every write appends to the ``changes`` table in the same transaction as the doc itself. The
change log is how the retriever follows the catalog: it remembers the last sequence number it
applied and asks for what came after, which works across processes (a CLI import is seen by
a running server at its next search) with one indexed query.

Versions are per id and never go backwards, even across delete and re-add, so an index
manifest that records ``id -> version`` can always tell whether it is stale.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import SQLAlchemyError

from apidb.database import (
    Migration,
    SchemaVersionError,
    database_location,
    migrate,
    open_engine,
    write_transaction,
)
from apidb.errors import (
    CatalogError,
    DocExistsError,
    DocNotFoundError,
    InvalidDocError,
)
from apidb.names import hub_key
from apidb.schema import APIDoc, utcnow
from apidb.store_errors import first_line
from apidb.store_errors import translated as _translated

log = logging.getLogger(__name__)
ChangeOp = Literal["put", "delete"]

metadata = MetaData()
# The same tables the first (sqlite3) version created, so its files open as they are.
docs_table = Table(
    "docs",
    metadata,
    Column("id", Text, primary_key=True),
    Column("hub", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Index("docs_hub", "hub", "id"),
)
changes_table = Table(
    "changes",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("doc_id", Text, nullable=False),
    Column("op", String(8), nullable=False),
    Column("version", Integer, nullable=False),
    Column("at", Text, nullable=False),
    Index("changes_doc", "doc_id", "version"),
    sqlite_autoincrement=True,  # never reuse a sequence number
)
meta_table = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

# Schema versions (apidb.database.migrate): [0] is the first schema. Add a step, never edit
# one, when the tables change.
MIGRATIONS: list[Migration | None] = [None]
_LOCK = "catalog"
_ID_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    doc_id: str
    op: ChangeOp
    version: int


@dataclass(frozen=True, slots=True)
class ImportSummary:
    added: int
    updated: int
    unchanged: int


def catalog_url(location: str | Path | URL) -> URL:
    """A SQLite file (a path, or ":memory:") or a database URL (`postgresql://...`)."""
    try:
        return database_location(location)
    except ValueError as exc:
        raise CatalogError(f"the catalog: {exc}") from exc


class CatalogStore:
    """API docs in a SQLite file (WAL mode, safe for several processes) or in PostgreSQL
    (shared by several service instances)."""

    def __init__(self, location: str | Path | URL) -> None:
        self.url = catalog_url(location)
        self.dialect = self.url.get_backend_name()
        self.path = Path(self.url.database or "") if self.dialect == "sqlite" else None
        self._engine = open_engine(self.url)
        try:
            migrate(self._engine, "catalog", metadata, MIGRATIONS)
        except SchemaVersionError as exc:
            self._engine.dispose()
            raise CatalogError(str(exc)) from exc
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise _translated(exc, f"cannot open the catalog database {self.describe()}") from exc

    def describe(self) -> str:
        """Where the catalog lives, without a password."""
        if self.path is not None:
            return str(self.path)
        return self.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> CatalogStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------- reads

    def get(self, doc_id: str) -> APIDoc:
        with self._reading() as conn:
            row = conn.execute(select(docs_table.c.body).where(docs_table.c.id == doc_id)).first()
        doc = None if row is None else _read(doc_id, row[0])
        if doc is None:
            raise DocNotFoundError(doc_id)
        return doc

    def get_many(self, doc_ids: Iterable[str]) -> dict[str, APIDoc]:
        ids = list(dict.fromkeys(doc_ids))
        found: dict[str, APIDoc] = {}
        with self._reading() as conn:
            for start in range(0, len(ids), _ID_CHUNK):
                chunk = ids[start : start + _ID_CHUNK]
                rows = conn.execute(
                    select(docs_table.c.id, docs_table.c.body).where(docs_table.c.id.in_(chunk))
                )
                for doc_id, body in rows:
                    doc = _read(doc_id, body)
                    if doc is not None:
                        found[doc_id] = doc
        return found

    def __contains__(self, doc_id: object) -> bool:
        if not isinstance(doc_id, str):
            return False
        with self._reading() as conn:
            return self._exists(conn, doc_id)

    def list_docs(
        self,
        *,
        hub: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        after: str | None = None,
    ) -> list[APIDoc]:
        """Docs ordered by id (stable for paging); `after` starts past that id."""
        return list(self.iter_docs(hub=hub, limit=limit, offset=offset, after=after))

    def iter_docs(
        self,
        *,
        hub: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        after: str | None = None,
    ) -> Iterator[APIDoc]:
        query = select(docs_table.c.id, docs_table.c.body).order_by(docs_table.c.id)
        if hub is not None:
            query = query.where(docs_table.c.hub == hub_key(hub))
        if after is not None:
            query = query.where(docs_table.c.id > after)
        if limit is not None:
            query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        with self._reading() as conn:
            rows = conn.execute(query).all()
        for doc_id, body in rows:
            doc = _read(doc_id, body)
            if doc is not None:
                yield doc

    def count(self, *, hub: str | None = None) -> int:
        query = select(func.count()).select_from(docs_table)
        if hub is not None:
            query = query.where(docs_table.c.hub == hub_key(hub))
        with self._reading() as conn:
            return int(conn.execute(query).scalar_one())

    def hubs(self) -> dict[str, int]:
        query = (
            select(docs_table.c.hub, func.count())
            .group_by(docs_table.c.hub)
            .order_by(docs_table.c.hub)
        )
        with self._reading() as conn:
            return {hub: int(n) for hub, n in conn.execute(query)}

    # ----------------------------------------------------------------- change log

    def last_seq(self) -> int:
        with self._reading() as conn:
            return int(
                conn.execute(select(func.coalesce(func.max(changes_table.c.seq), 0))).scalar_one()
            )

    def changes_since(self, seq: int) -> list[Change]:
        query = (
            select(
                changes_table.c.seq,
                changes_table.c.doc_id,
                changes_table.c.op,
                changes_table.c.version,
            )
            .where(changes_table.c.seq > seq)
            .order_by(changes_table.c.seq)
        )
        with self._reading() as conn:
            rows = conn.execute(query).all()
        return [Change(int(s), d, op, int(v)) for s, d, op, v in rows]

    # ----------------------------------------------------------------- writes

    def add(self, doc: APIDoc) -> APIDoc:
        """Add a new doc; `DocExistsError` if the id is taken."""
        with self._transaction() as conn:
            if self._exists(conn, doc.id):
                raise DocExistsError(doc.id)
            return self._write(conn, doc, self._next_version(conn, doc.id))

    def update(self, doc: APIDoc) -> APIDoc:
        """Replace an existing doc; the version goes up only if the content changed."""
        with self._transaction() as conn:
            current = self._current(conn, doc.id)
            if current is None:
                raise DocNotFoundError(doc.id)
            if current.content_equal(doc):
                return current
            return self._write(conn, doc, self._next_version(conn, doc.id))

    def upsert_many(self, docs: Iterable[APIDoc]) -> ImportSummary:
        """Add or update many docs in one transaction: all of them, or none on error."""
        added = updated = unchanged = 0
        with self._transaction() as conn:
            # In chunks: a few statements per chunk rather than per doc (100,000 synthetic
            # APIs took 60 s one doc at a time, 10 s so).
            for chunk in _chunks(docs, _ID_CHUNK):
                ids = [doc.id for doc in chunk]
                current = self._current_many(conn, ids)
                latest = self._latest_versions(conn, ids)
                rows: dict[str, dict[str, Any]] = {}
                for doc in chunk:
                    before = current.get(doc.id)
                    if before is not None and before.content_equal(doc):
                        unchanged += 1
                        continue
                    if doc.id in rows:  # the same id twice: one statement may not hit a row twice
                        self._put_rows(conn, list(rows.values()))
                        rows.clear()
                    version = latest.get(doc.id, 0) + 1
                    stored = self._stored(doc, version)
                    current[doc.id], latest[doc.id] = stored, version
                    rows[doc.id] = self._row(stored)
                    if before is None:
                        added += 1
                    else:
                        updated += 1
                self._put_rows(conn, list(rows.values()))
        return ImportSummary(added=added, updated=updated, unchanged=unchanged)

    def delete(self, doc_id: str) -> None:
        """Remove a doc, readable or not (a row an older version wrote may not be)."""
        with self._transaction() as conn:
            version = conn.execute(
                select(docs_table.c.version).where(docs_table.c.id == doc_id)
            ).scalar_one_or_none()
            if version is None:
                raise DocNotFoundError(doc_id)
            conn.execute(docs_table.delete().where(docs_table.c.id == doc_id))
            self._log(conn, doc_id, "delete", int(version))

    def copy_to(self, path: str | Path) -> CatalogStore:
        """A consistent copy of this catalog in a new SQLite file (for a scratch index)."""
        target = CatalogStore(path)
        if self.dialect == "sqlite":  # SQLite's online backup: the file as it is, at once
            source_raw, target_raw = self._engine.raw_connection(), target._engine.raw_connection()
            try:
                source_raw.driver_connection.backup(target_raw.driver_connection)  # type: ignore[union-attr]
            finally:
                source_raw.close()
                target_raw.close()
        else:
            target.upsert_many(self.iter_docs())
        return target

    # ----------------------------------------------------------------- metadata

    def get_meta(self, key: str) -> str | None:
        with self._reading() as conn:
            value = conn.execute(
                select(meta_table.c.value).where(meta_table.c.key == key)
            ).scalar_one_or_none()
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as conn:
            conn.execute(self._upsert(meta_table, {"key": key, "value": value}, ["key"], ["value"]))

    # ----------------------------------------------------------------- internals

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection, with database errors as `CatalogError` (the one boundary where
        they are translated: a locked file or a server that is down is not a bug in the
        caller)."""
        try:
            with self._engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise _translated(exc, f"the catalog database {self.describe()}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with write_transaction(self._engine, _LOCK) as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise _translated(exc, f"the catalog database {self.describe()}") from exc

    def _upsert(
        self, table: Table, values: dict[str, Any], keys: list[str], updated: list[str]
    ) -> Any:
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = dialect_insert(table).values(**values)
        return statement.on_conflict_do_update(
            index_elements=keys, set_={name: statement.excluded[name] for name in updated}
        )

    @staticmethod
    def _exists(conn: Connection, doc_id: str) -> bool:
        return (
            conn.execute(select(docs_table.c.id).where(docs_table.c.id == doc_id)).first()
            is not None
        )

    @staticmethod
    def _current(conn: Connection, doc_id: str) -> APIDoc | None:
        """The stored doc (None if absent or unreadable: a write replaces an unreadable row)."""
        body = conn.execute(
            select(docs_table.c.body).where(docs_table.c.id == doc_id)
        ).scalar_one_or_none()
        return None if body is None else _read(doc_id, body)

    @staticmethod
    def _next_version(conn: Connection, doc_id: str) -> int:
        latest = conn.execute(
            select(func.coalesce(func.max(changes_table.c.version), 0)).where(
                changes_table.c.doc_id == doc_id
            )
        ).scalar_one()
        return int(latest) + 1

    def _write(self, conn: Connection, doc: APIDoc, version: int) -> APIDoc:
        stored = self._stored(doc, version)
        self._put_rows(conn, [self._row(stored)])
        return stored

    def _put_rows(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Write doc rows and log each, in statement batches."""
        if rows:
            conn.execute(self._doc_upsert(), rows)
            conn.execute(changes_table.insert(), [_change(row, "put") for row in rows])

    @staticmethod
    def _stored(doc: APIDoc, version: int) -> APIDoc:
        stored = doc.model_copy(update={"version": version, "updated_at": utcnow()})
        _check_storable(stored)
        return stored

    @staticmethod
    def _row(stored: APIDoc) -> dict[str, Any]:
        return {
            "id": stored.id,
            "hub": stored.hub,
            "version": stored.version,
            "body": stored.model_dump_json(),
        }

    def _doc_upsert(self) -> Any:
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = dialect_insert(docs_table)
        return statement.on_conflict_do_update(
            index_elements=["id"],
            set_={name: statement.excluded[name] for name in ("hub", "version", "body")},
        )

    @staticmethod
    def _current_many(conn: Connection, ids: list[str]) -> dict[str, APIDoc]:
        query = select(docs_table.c.id, docs_table.c.body).where(docs_table.c.id.in_(ids))
        found = {}
        for doc_id, body in conn.execute(query):
            doc = _read(doc_id, body)
            if doc is not None:  # an unreadable row is replaced, as by `update`
                found[doc_id] = doc
        return found

    @staticmethod
    def _latest_versions(conn: Connection, ids: list[str]) -> dict[str, int]:
        query = (
            select(changes_table.c.doc_id, func.max(changes_table.c.version))
            .where(changes_table.c.doc_id.in_(ids))
            .group_by(changes_table.c.doc_id)
        )
        return {doc_id: int(version) for doc_id, version in conn.execute(query)}

    @staticmethod
    def _log(conn: Connection, doc_id: str, op: ChangeOp, version: int) -> None:
        conn.execute(
            changes_table.insert().values(
                doc_id=doc_id, op=op, version=version, at=utcnow().isoformat()
            )
        )


def _change(row: dict[str, Any], op: ChangeOp) -> dict[str, Any]:
    return {"doc_id": row["id"], "op": op, "version": row["version"], "at": utcnow().isoformat()}


def _chunks(docs: Iterable[APIDoc], size: int) -> Iterator[list[APIDoc]]:
    chunk: list[APIDoc] = []
    for doc in docs:
        chunk.append(doc)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _check_storable(doc: APIDoc) -> None:
    """Refuse (inside the write's transaction, so nothing is written) a doc that could not
    be read back exactly as it is: the store must never hold a row that breaks its readers."""
    try:
        again = doc.round_trip()
    except (ValueError, RecursionError) as exc:  # ValidationError is a ValueError
        raise InvalidDocError(doc.id, first_line(exc)) from exc
    if again.model_dump(mode="json") != doc.model_dump(mode="json"):
        raise InvalidDocError(doc.id, "it does not read back as it was written")


def _read(doc_id: str, body: str) -> APIDoc | None:
    """A stored doc, or None (with a warning) for a row this version cannot read: one bad
    row, written by an older version, must not take the catalog down with it."""
    try:
        return APIDoc.model_validate_json(body)
    except (ValidationError, ValueError, RecursionError) as exc:
        log.warning(
            "skipping the unreadable catalog entry %r (remove it with `toolroute apis rm`): %s",
            doc_id,
            first_line(exc),
        )
        return None
