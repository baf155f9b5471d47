from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from apidb import APIDoc, CatalogStore, DocExistsError, DocNotFoundError, InvalidDocError
from apidb.bundled import seed_default_catalog


def make_doc(name: str, description: str = "does a thing", hub: str = "functions") -> APIDoc:
    return APIDoc(id=f"{hub}/{name}", hub=hub, kind="function", name=name, description=description)


@pytest.fixture
def catalog(tmp_path: Path) -> CatalogStore:
    return CatalogStore(tmp_path / "catalog.db")


def test_add_get_list_count(catalog: CatalogStore) -> None:
    stored = catalog.add(make_doc("a"))
    catalog.add(make_doc("b", hub="other"))
    assert stored.version == 1
    assert catalog.get("functions/a").description == "does a thing"
    assert [d.id for d in catalog.list_docs()] == ["functions/a", "other/b"]
    assert [d.id for d in catalog.list_docs(hub="other")] == ["other/b"]
    assert catalog.count() == 2 and catalog.count(hub="functions") == 1
    assert catalog.hubs() == {"functions": 1, "other": 1}
    assert "functions/a" in catalog and "functions/zzz" not in catalog
    assert [d.id for d in catalog.list_docs(limit=1, offset=1)] == ["other/b"]


def test_add_twice_and_missing_docs_are_errors(catalog: CatalogStore) -> None:
    catalog.add(make_doc("a"))
    with pytest.raises(DocExistsError, match="already in the catalog"):
        catalog.add(make_doc("a"))
    with pytest.raises(DocNotFoundError, match="no API with id"):
        catalog.get("functions/zzz")
    with pytest.raises(DocNotFoundError):
        catalog.update(make_doc("zzz"))
    with pytest.raises(DocNotFoundError):
        catalog.delete("functions/zzz")


def test_versions_move_only_on_real_changes_and_never_go_back(catalog: CatalogStore) -> None:
    catalog.add(make_doc("a"))
    assert catalog.update(make_doc("a")).version == 1  # same content: no new version
    assert catalog.update(make_doc("a", "does another thing")).version == 2
    catalog.delete("functions/a")
    assert catalog.add(make_doc("a")).version == 3  # re-added after delete: still ahead


def test_change_log_records_every_write(catalog: CatalogStore) -> None:
    start = catalog.last_seq()
    catalog.add(make_doc("a"))
    catalog.update(make_doc("a", "new"))
    catalog.delete("functions/a")
    changes = catalog.changes_since(start)
    assert [(c.doc_id, c.op, c.version) for c in changes] == [
        ("functions/a", "put", 1),
        ("functions/a", "put", 2),
        ("functions/a", "delete", 2),
    ]
    assert catalog.changes_since(changes[-1].seq) == []


def test_upsert_many_is_all_or_nothing(catalog: CatalogStore) -> None:
    catalog.add(make_doc("a"))
    summary = catalog.upsert_many([make_doc("a"), make_doc("b"), make_doc("a", "changed")])
    assert (summary.added, summary.updated, summary.unchanged) == (1, 1, 1)

    def failing():  # type: ignore[no-untyped-def]
        yield make_doc("c")
        raise RuntimeError("disk on fire")

    before = catalog.last_seq()
    with pytest.raises(RuntimeError):
        catalog.upsert_many(failing())
    assert "functions/c" not in catalog
    assert catalog.last_seq() == before


def test_two_connections_see_each_others_writes(tmp_path: Path) -> None:
    first = CatalogStore(tmp_path / "catalog.db")
    second = CatalogStore(tmp_path / "catalog.db")
    first.add(make_doc("a"))
    assert second.get("functions/a").name == "a"
    assert second.last_seq() == first.last_seq()


def test_default_catalog_is_seeded_once(catalog: CatalogStore) -> None:
    assert seed_default_catalog(catalog) is True
    assert catalog.count() == 1726
    catalog.delete(catalog.list_docs(limit=1)[0].id)
    assert seed_default_catalog(catalog) is False
    assert catalog.count() == 1725  # a deletion sticks


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    from apidb import CatalogError

    bad = tmp_path / "catalog.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CatalogError, match="cannot open the catalog database"):
        CatalogStore(bad)


def test_a_doc_that_cannot_be_read_back_is_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    deep: dict[str, object] = {"type": "string"}
    for _ in range(40):
        deep = {"type": "object", "properties": {"x": deep}}
    with pytest.raises(ValidationError, match="nested more than"):
        APIDoc(id="functions/deep", hub="functions", kind="function", name="deep", parameters=deep)
    with CatalogStore(tmp_path / "c.db") as catalog:
        good = APIDoc(id="functions/good", hub="functions", kind="function", name="good")
        bad = good.model_copy(update={"id": "functions/bad", "parameters": deep})  # unvalidated
        with pytest.raises(InvalidDocError, match="functions/bad"):
            catalog.upsert_many([good, bad])
        assert catalog.count() == 0 and catalog.last_seq() == 0


def test_an_unreadable_row_is_skipped_with_a_warning_and_can_be_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with CatalogStore(tmp_path / "c.db") as catalog:
        catalog.add(APIDoc(id="functions/good", hub="functions", kind="function", name="good"))
        with catalog._engine.connect() as conn:  # as an older version could have written it
            conn.exec_driver_sql(
                "INSERT INTO docs (id, hub, version, body) "
                "VALUES ('functions/old', 'functions', 1, ?)",
                ('{"id": "functions/old", "extra": ' + "[" * 500 + "]" * 500 + "}",),
            )
        assert [d.id for d in catalog.list_docs()] == ["functions/good"]
        assert set(catalog.get_many(["functions/good", "functions/old"])) == {"functions/good"}
        with pytest.raises(DocNotFoundError):
            catalog.get("functions/old")
        catalog.delete("functions/old")
        assert catalog.count() == 1
    assert "unreadable catalog entry 'functions/old'" in caplog.text
