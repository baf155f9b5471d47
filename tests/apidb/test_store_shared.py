"""The catalog on PostgreSQL (shared by several instances) behaves as on SQLite, and its
change log stays gapless and ordered with concurrent writers."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from apidb import APIDoc, CatalogStore
from apidb.database import SchemaVersionError, migrate, open_engine, sqlite_url
from apidb.errors import CatalogError, CatalogUnavailableError, DocExistsError
from apidb.store import MIGRATIONS, metadata


def doc(name: str, description: str = "") -> APIDoc:
    return APIDoc(
        id=f"functions/{name}",
        hub="functions",
        kind="function",
        name=name,
        description=description or f"do {name}",
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "catalog.db")
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_the_same_catalog_on_either_database(location: str) -> None:
    with CatalogStore(location) as store:
        first = store.add(doc("weather"))
        assert first.version == 1
        with pytest.raises(DocExistsError):
            store.add(doc("weather"))
        assert store.update(doc("weather", "changed")).version == 2
        assert store.update(doc("weather", "changed")).version == 2  # same content
        store.upsert_many([doc("a"), doc("b")])
        assert store.count() == 3 and store.hubs() == {"functions": 3}
        assert [d.id for d in store.list_docs(limit=2)] == ["functions/a", "functions/b"]
        assert [d.id for d in store.list_docs(after="functions/a")] == [
            "functions/b",
            "functions/weather",
        ]
        store.delete("functions/a")
        assert "functions/a" not in store and "functions/b" in store
        assert store.add(doc("a")).version == 2  # versions never go back, even after delete
        changes = store.changes_since(0)
        assert [c.seq for c in changes] == list(range(1, len(changes) + 1))
        assert store.last_seq() == changes[-1].seq
        store.set_meta("k", "1")
        store.set_meta("k", "2")
        assert store.get_meta("k") == "2" and store.get_meta("missing") is None


def test_concurrent_writers_keep_the_change_log_in_commit_order(location: str) -> None:
    """A follower that reads `changes_since(last)` must never skip a change: every write
    holds the catalog's writer lock, so sequence numbers commit in order."""
    writers, per_writer = 4, 15
    seen: list[int] = []
    done = threading.Event()

    def follow() -> None:
        with CatalogStore(location) as follower:
            last = 0
            while not done.is_set() or follower.last_seq() > last:
                for change in follower.changes_since(last):
                    seen.append(change.seq)
                    last = change.seq

    def write(worker: int) -> None:
        with CatalogStore(location) as store:
            for n in range(per_writer):
                store.add(doc(f"w{worker}_{n}"))

    with CatalogStore(location):  # create the schema once, before the race
        pass
    follower = threading.Thread(target=follow)
    follower.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    follower.join(timeout=30)
    assert seen == list(range(1, writers * per_writer + 1))


def test_an_old_catalog_file_opens_and_is_recorded_as_the_first_schema(tmp_path: Path) -> None:
    """A data dir from before schema versions (the sqlite3 store's own DDL) upgrades in
    place; a file from a newer toolroute is refused with a clear error."""
    path = tmp_path / "catalog.db"
    with sqlite3.connect(path) as raw:
        raw.executescript(
            """
            CREATE TABLE docs (id TEXT PRIMARY KEY, hub TEXT NOT NULL, version INTEGER NOT NULL,
                               body TEXT NOT NULL);
            CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL,
                                  op TEXT NOT NULL, version INTEGER NOT NULL, at TEXT NOT NULL);
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            """
        )
        raw.execute(
            "INSERT INTO docs VALUES ('functions/old', 'functions', 3, ?)",
            (doc("old").model_copy(update={"version": 3}).model_dump_json(),),
        )
        raw.execute(
            "INSERT INTO changes (doc_id, op, version, at) VALUES ('functions/old', 'put', 3, 'x')"
        )
    raw.close()
    with CatalogStore(path) as store:
        assert store.get("functions/old").version == 3
        assert store.update(doc("old", "new text")).version == 4
    engine = open_engine(sqlite_url(path))
    try:
        with engine.connect() as conn:
            version = conn.exec_driver_sql(
                "SELECT version FROM schema_versions WHERE component = 'catalog'"
            ).scalar_one()
        assert version == len(MIGRATIONS)
        with engine.connect() as conn:
            conn.exec_driver_sql("UPDATE schema_versions SET version = 99")
        with pytest.raises(SchemaVersionError, match="newer than this toolroute"):
            migrate(engine, "catalog", metadata, MIGRATIONS)
    finally:
        engine.dispose()
    with pytest.raises(CatalogError, match="version 99"):
        CatalogStore(path)


def test_migration_steps_run_once_in_order(tmp_path: Path) -> None:
    from sqlalchemy import Column, Integer, MetaData, Table

    schema = MetaData()
    Table("things", schema, Column("id", Integer, primary_key=True))
    ran: list[int] = []
    steps = [None, lambda conn: ran.append(2), lambda conn: ran.append(3)]
    engine = open_engine(sqlite_url(tmp_path / "m.db"))
    try:
        assert migrate(engine, "things", schema, steps[:1]) == 1  # a new database: created
        assert migrate(engine, "things", schema, steps) == 3
        assert migrate(engine, "things", schema, steps) == 3
        assert ran == [2, 3]
    finally:
        engine.dispose()


def test_a_catalog_server_that_is_down_is_unavailable_not_broken() -> None:
    with pytest.raises(CatalogUnavailableError, match="cannot open the catalog database"):
        CatalogStore("postgresql://nobody@127.0.0.1:1/none")


def test_a_bulk_import_counts_and_versions_as_one_doc_at_a_time(location: str) -> None:
    """Chunked writes (one statement per chunk) give what per-doc writes gave, including an
    id repeated within one import and chunks larger than one statement's batch."""
    with CatalogStore(location) as store:
        store.add(doc("kept"))
        store.add(doc("changed"))
        many = [doc(f"n{i}") for i in range(1200)]
        summary = store.upsert_many(
            [doc("kept"), doc("changed", "new"), *many, doc("twice", "one"), doc("twice", "two")]
        )
        # "twice" is added, then updated by its second copy.
        assert (summary.added, summary.updated, summary.unchanged) == (1201, 2, 1)
        assert store.get("functions/changed").version == 2
        assert store.get("functions/twice").description == "two"
        assert store.get("functions/twice").version == 2
        assert store.count() == 1203
        changes = store.changes_since(0)
        assert len(changes) == 2 + 1 + 1200 + 2
        assert [c.seq for c in changes] == list(range(1, len(changes) + 1))
