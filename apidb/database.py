"""Reaching a database the same way from every store: SQLite files or PostgreSQL.

One instance keeps its state in SQLite files in its data directory. Several instances share
one PostgreSQL database (`TOOLROUTE_DATABASE_URL`). The stores speak SQLAlchemy Core, so a
URL picks the database. What differs between the two is here:

- `open_engine`: WAL and a busy timeout for SQLite, a checked connection pool for
  PostgreSQL (a connection a server restart broke is replaced, not handed out);
- `write_transaction`: one writer at a time for a store's tables, so that log sequence
  numbers are committed in the order they were taken (`BEGIN IMMEDIATE` on SQLite, a
  transaction-scoped advisory lock on PostgreSQL). Without it, a follower that read up to
  sequence 12 could miss 11 committed a moment later;
- `migrate`: numbered schema steps per store, applied once, in order, under the same lock,
  for SQLite and PostgreSQL alike.

Reads run in autocommit mode: each statement sees the latest committed state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    inspect,
    make_url,
)
from sqlalchemy import select as sa_select
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

SQLiteSync = Literal["NORMAL", "FULL"]
Migration = Callable[[Connection], None]

_versions_metadata = MetaData()
schema_versions = Table(
    "schema_versions",
    _versions_metadata,
    Column("component", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
)


class SchemaVersionError(Exception):
    """The database was written by a newer toolroute."""


def sqlite_url(path: str | Path) -> URL:
    return URL.create("sqlite", database=str(path))


def database_location(location: str | Path | URL) -> URL:
    """A SQLite file (a path, or ":memory:") or a database URL (`postgresql://...`, which
    means the psycopg 3 driver toolroute installs). Raises `ValueError` for a malformed URL."""
    if isinstance(location, URL):
        return location
    text = str(location)
    if "://" not in text:
        return sqlite_url(text)
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise ValueError(f"not a database URL: {exc}") from exc
    if url.get_backend_name() == "postgresql" and "+" not in url.drivername:
        url = url.set(drivername="postgresql+psycopg")
    return url


def open_engine(url: URL, *, sqlite_sync: SQLiteSync = "NORMAL") -> Engine:
    """An engine whose connections run in autocommit mode (see `write_transaction`)."""
    if url.get_backend_name() == "sqlite":
        in_memory = url.database in (None, "", ":memory:")
        if not in_memory:
            assert url.database is not None
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            isolation_level="AUTOCOMMIT",
            # An in-memory database lives in its one connection.
            **({"poolclass": StaticPool} if in_memory else {}),
        )

        def pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={sqlite_sync}")
            cursor.close()

        event.listen(engine, "connect", pragmas)
        return engine
    # pre_ping: a pooled connection that a PostgreSQL restart broke is replaced, not used.
    return create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_pre_ping=True,
        pool_size=8,
        max_overflow=8,
        pool_timeout=10,
    )


def lock_id(name: str) -> int:
    """A stable 63-bit advisory lock id for a store's name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1


@contextmanager
def write_transaction(engine: Engine, lock_name: str) -> Iterator[Connection]:
    """A transaction that holds the writer's lock for `lock_name` until it ends; rolled
    back if the block raises."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # IMMEDIATE takes the write lock up front, so two processes writing at once
            # queue instead of failing half-way with "database is locked".
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({lock_id(lock_name)})")
        try:
            yield conn
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")


def migrate(
    engine: Engine,
    component: str,
    metadata: MetaData,
    steps: Sequence[Migration | None],
    *,
    first_schema_tables: set[str] | None = None,
) -> int:
    """Bring `component`'s tables to the latest schema; returns the version now.

    `metadata` is the latest schema: a new database gets it whole (version = len(steps)).
    A database from before versions were recorded, or an older version, runs the steps
    after its version, in order, in one transaction. `steps[0]` stands for the first schema,
    which databases from before versions were recorded hold: it is never run. Such a
    database is recognised by `first_schema_tables` (default: `metadata`'s tables)."""
    with write_transaction(engine, f"migrate:{component}") as conn:
        _versions_metadata.create_all(conn)
        row = conn.execute(
            sa_select(schema_versions.c.version).where(schema_versions.c.component == component)
        ).first()
        current = int(row[0]) if row is not None else 0
        if current > len(steps):
            raise SchemaVersionError(
                f"the {component} schema is version {current}, newer than this toolroute "
                f"knows ({len(steps)}): upgrade toolroute"
            )
        if current == 0:
            existing = set(inspect(conn).get_table_names())
            if (first_schema_tables or set(metadata.tables)) & existing:
                current = 1  # written before versions were recorded: the first schema
            else:
                metadata.create_all(conn)
                current = len(steps)
        for step in steps[current:]:
            if step is not None:
                step(conn)
        latest = len(steps)
        if row is None:
            conn.execute(schema_versions.insert().values(component=component, version=latest))
        elif latest != int(row[0]):
            conn.execute(
                schema_versions.update()
                .where(schema_versions.c.component == component)
                .values(version=latest)
            )
        return latest
