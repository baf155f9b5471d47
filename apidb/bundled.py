"""The data shipped with toolroute: the APIBench API databases and eval sets (see NOTICE)."""

from __future__ import annotations

from pathlib import Path

from apidb.loaders import load_file
from apidb.names import APIBENCH_HUBS
from apidb.schema import APIDoc
from apidb.store import CatalogStore

APIBENCH_DIR = Path(__file__).parent / "data" / "apibench"

# Hub name -> (API database, eval questions).
APIBENCH_FILES = {
    "huggingface": ("huggingface_api.jsonl", "huggingface_eval.json"),
    "torchhub": ("torchhub_api.jsonl", "torchhub_eval.json"),
    "tensorflowhub": ("tensorflowhub_api.jsonl", "tensorflow_eval.json"),
}
TORCHHUB_DEV_FILE = APIBENCH_DIR / "torchhub_train.json"

_SEEDED_KEY = "default_catalog_seeded"


def apibench_docs(hub: str) -> list[APIDoc]:
    return load_file(APIBENCH_DIR / APIBENCH_FILES[hub][0], "apibench", hub=hub)


def default_catalog_docs() -> list[APIDoc]:
    """The 1,726 APIBench APIs, in file order (huggingface, torchhub, tensorflowhub)."""
    return [doc for hub in APIBENCH_HUBS for doc in apibench_docs(hub)]


def seed_default_catalog(store: CatalogStore) -> bool:
    """Load the default catalog into a new store, once. Returns True if it seeded.

    A store that was seeded before is never re-seeded, so deleting APIs sticks.
    """
    if store.get_meta(_SEEDED_KEY) is not None:
        return False
    if store.count() == 0:
        store.upsert_many(default_catalog_docs())
    store.set_meta(_SEEDED_KEY, "apibench")
    return True


__all__ = [
    "APIBENCH_DIR",
    "APIBENCH_FILES",
    "APIBENCH_HUBS",
    "TORCHHUB_DEV_FILE",
    "apibench_docs",
    "default_catalog_docs",
    "seed_default_catalog",
]
