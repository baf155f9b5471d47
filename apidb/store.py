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
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from apidb.errors import CatalogError, DocExistsError, DocNotFoundError, InvalidDocError
from apidb.names import hub_key
from apidb.schema import APIDoc, utcnow

log = logging.getLogger(__name__)
ChangeOp = Literal["put", "delete"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    id         TEXT PRIMARY KEY,
    hub        TEXT NOT NULL,
    version    INTEGER NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_hub ON docs (hub, id);
CREATE TABLE IF NOT EXISTS changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id     TEXT NOT NULL,
    op         TEXT NOT NULL CHECK (op IN ('put', 'delete')),
    version    INTEGER NOT NULL,
    at         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_doc ON changes (doc_id, version);
CREATE TABLE IF NOT EXISTS meta (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL
);
"""


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


class CatalogStore:
    """API docs in one SQLite file (WAL mode, safe for several processes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"cannot open the catalog database {self.path}: {exc}") from exc
        # One connection shared by threads; sqlite3 objects are not safe to use concurrently.
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> CatalogStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------- reads

    def get(self, doc_id: str) -> APIDoc:
        with self._reading():
            row = self._conn.execute("SELECT body FROM docs WHERE id = ?", (doc_id,)).fetchone()
        doc = None if row is None else _read(doc_id, row[0])
        if doc is None:
            raise DocNotFoundError(doc_id)
        return doc

    def get_many(self, doc_ids: Iterable[str]) -> dict[str, APIDoc]:
        ids = list(dict.fromkeys(doc_ids))
        found: dict[str, APIDoc] = {}
        with self._reading():
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT id, body FROM docs WHERE id IN ({marks})", chunk
                ).fetchall()
                for doc_id, body in rows:
                    doc = _read(doc_id, body)
                    if doc is not None:
                        found[doc_id] = doc
        return found

    def __contains__(self, doc_id: object) -> bool:
        with self._reading():
            row = self._conn.execute("SELECT 1 FROM docs WHERE id = ?", (doc_id,)).fetchone()
        return row is not None

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
        query = "SELECT id, body FROM docs"
        where: list[str] = []
        params: list[object] = []
        if hub is not None:
            where.append("hub = ?")
            params.append(hub_key(hub))
        if after is not None:
            where.append("id > ?")
            params.append(after)
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY id LIMIT ? OFFSET ?"
        params += [-1 if limit is None else limit, offset]
        with self._reading():
            rows = self._conn.execute(query, params).fetchall()
        for doc_id, body in rows:
            doc = _read(doc_id, body)
            if doc is not None:
                yield doc

    def count(self, *, hub: str | None = None) -> int:
        with self._reading():
            if hub is None:
                row = self._conn.execute("SELECT count(*) FROM docs").fetchone()
            else:
                row = self._conn.execute(
                    "SELECT count(*) FROM docs WHERE hub = ?", (hub_key(hub),)
                ).fetchone()
        return int(row[0])

    def hubs(self) -> dict[str, int]:
        with self._reading():
            rows = self._conn.execute(
                "SELECT hub, count(*) FROM docs GROUP BY hub ORDER BY hub"
            ).fetchall()
        return {hub: int(n) for hub, n in rows}

    # ----------------------------------------------------------------- change log

    def last_seq(self) -> int:
        with self._reading():
            row = self._conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()
        return int(row[0])

    def changes_since(self, seq: int) -> list[Change]:
        with self._reading():
            rows = self._conn.execute(
                "SELECT seq, doc_id, op, version FROM changes WHERE seq > ? ORDER BY seq", (seq,)
            ).fetchall()
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
            for doc in docs:
                current = self._current(conn, doc.id)
                if current is not None and current.content_equal(doc):
                    unchanged += 1
                    continue
                self._write(conn, doc, self._next_version(conn, doc.id))
                if current is None:
                    added += 1
                else:
                    updated += 1
        return ImportSummary(added=added, updated=updated, unchanged=unchanged)

    def delete(self, doc_id: str) -> None:
        """Remove a doc, readable or not (a row an older version wrote may not be)."""
        with self._transaction() as conn:
            row = conn.execute("SELECT version FROM docs WHERE id = ?", (doc_id,)).fetchone()
            if row is None:
                raise DocNotFoundError(doc_id)
            conn.execute("DELETE FROM docs WHERE id = ?", (doc_id,))
            self._log(conn, doc_id, "delete", int(row[0]))

    def copy_to(self, path: str | Path) -> CatalogStore:
        """A consistent copy of this catalog in a new file (SQLite's online backup)."""
        target = CatalogStore(path)
        with self._lock, target._lock:
            self._conn.backup(target._conn)
        return target

    # ----------------------------------------------------------------- metadata

    def get_meta(self, key: str) -> str | None:
        with self._reading():
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # ----------------------------------------------------------------- internals

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """The connection's lock, and SQLite's errors as `CatalogError` (the one boundary
        where they are translated: a locked or broken file is not a bug in the caller)."""
        with self._lock:
            try:
                yield
            except sqlite3.Error as exc:
                raise CatalogError(f"the catalog database {self.path}: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._reading():
            conn = self._conn
            # IMMEDIATE takes the write lock up front, so two processes importing at once
            # serialise instead of failing half-way with "database is locked".
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @staticmethod
    def _exists(conn: sqlite3.Connection, doc_id: str) -> bool:
        return conn.execute("SELECT 1 FROM docs WHERE id = ?", (doc_id,)).fetchone() is not None

    @staticmethod
    def _current(conn: sqlite3.Connection, doc_id: str) -> APIDoc | None:
        """The stored doc (None if absent or unreadable: a write replaces an unreadable row)."""
        row = conn.execute("SELECT body FROM docs WHERE id = ?", (doc_id,)).fetchone()
        return None if row is None else _read(doc_id, row[0])

    @staticmethod
    def _next_version(conn: sqlite3.Connection, doc_id: str) -> int:
        row = conn.execute(
            "SELECT coalesce(max(version), 0) FROM changes WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        return int(row[0]) + 1

    def _write(self, conn: sqlite3.Connection, doc: APIDoc, version: int) -> APIDoc:
        stored = doc.model_copy(update={"version": version, "updated_at": utcnow()})
        _check_storable(stored)
        conn.execute(
            "INSERT INTO docs (id, hub, version, body) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET hub = excluded.hub, version = excluded.version, "
            "body = excluded.body",
            (stored.id, stored.hub, version, stored.model_dump_json()),
        )
        self._log(conn, stored.id, "put", version)
        return stored

    @staticmethod
    def _log(conn: sqlite3.Connection, doc_id: str, op: ChangeOp, version: int) -> None:
        conn.execute(
            "INSERT INTO changes (doc_id, op, version, at) VALUES (?, ?, ?, ?)",
            (doc_id, op, version, utcnow().isoformat()),
        )


def _check_storable(doc: APIDoc) -> None:
    """Refuse (inside the write's transaction, so nothing is written) a doc that could not
    be read back exactly as it is: the store must never hold a row that breaks its readers."""
    try:
        again = doc.round_trip()
    except (ValueError, RecursionError) as exc:  # ValidationError is a ValueError
        raise InvalidDocError(doc.id, _first_line(exc)) from exc
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
            _first_line(exc),
        )
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
