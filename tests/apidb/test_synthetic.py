from __future__ import annotations

import collections
from pathlib import Path

import pytest

from apidb import CatalogStore
from apidb.synthetic import synthetic_docs


def test_the_same_size_and_seed_give_the_same_docs() -> None:
    first = [doc.model_dump() for doc in synthetic_docs(300)]
    assert first == [doc.model_dump() for doc in synthetic_docs(300)]
    assert first[:120] == [doc.model_dump() for doc in synthetic_docs(120)]  # a prefix
    assert first != [doc.model_dump() for doc in synthetic_docs(300, seed=1)]


def test_a_catalog_of_exactly_n_distinct_apis_of_both_kinds() -> None:
    docs = list(synthetic_docs(2000))
    assert len(docs) == 2000 and len({doc.id for doc in docs}) == 2000
    kinds = collections.Counter(doc.kind for doc in docs)
    assert 0.6 < kinds["http"] / 2000 < 0.8 and kinds["python"] > 0
    hubs = {doc.hub for doc in docs}
    assert len(hubs) >= 20  # every area, HTTP and Python
    http = next(doc for doc in docs if doc.kind == "http")
    assert http.http is not None and http.call.split()[0] in {"GET", "POST", "PATCH", "DELETE"}
    assert http.description.endswith((".", "scope.")) and " a air" not in http.description
    python = next(doc for doc in docs if doc.kind == "python")
    assert python.call.startswith(python.name + "(") and python.parameters


def test_synthetic_docs_are_storable(tmp_path: Path) -> None:
    docs = list(synthetic_docs(150))
    with CatalogStore(tmp_path / "catalog.db") as store:
        summary = store.upsert_many(docs)
        assert summary.added == 150 and store.count() == 150
        assert store.get(docs[7].id).content_equal(docs[7])


def test_a_negative_size_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 0"):
        list(synthetic_docs(-1))
    assert list(synthetic_docs(0)) == []
