"""Analysis, not shipped: training pairs with queries synthesised from the catalog itself.

`toolroute index tune` learns from torchhub_train.json, which only asks about the 94
torchhub APIs. The issue allows "queries synthesised from the catalog's own descriptions",
which would give huggingface and tensorflowhub training pairs of their own. This writes a
pairs file for `toolroute index tune --pairs FILE`: the torchhub_train pairs, plus one
synthetic query for each distinct API of the default catalog. Two ways to synthesise:

- ``sentence``: one sentence of the API's description (an inverse cloze task);
- ``task``: "I need an API for <functionality>: <one sentence of the description>".

Seeded, so the same file comes out every time. The result (no held-out gain over the
torchhub_train pairs alone) is in BENCHMARKS.md, "Other representations tried".

    .venv/bin/python scripts/catalog_query_pairs.py task /tmp/pairs.jsonl
"""

from __future__ import annotations

import json
import random
import re
import sys
import tempfile
from pathlib import Path

from apidb import APIDoc, CatalogStore
from apidb.bundled import default_catalog_docs
from retriever.text import call_key
from retriever.tuning import apibench_training_pairs

STYLES = ("sentence", "task")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_MIN_SENTENCE_CHARS = 20  # shorter pieces are version numbers and "N/A"s, not requests


def synthetic_query(doc: APIDoc, style: str, rng: random.Random) -> str:
    sentences = [
        part.strip()
        for part in _SENTENCE_END.split(doc.description or "")
        if len(part.strip()) >= _MIN_SENTENCE_CHARS
    ]
    sentence = rng.choice(sentences) if sentences else ""
    functionality = str(doc.extra.get("functionality", "")).strip()
    if style == "sentence":
        return sentence or functionality
    task = f"I need an API for {functionality.lower()}" if functionality else ""
    return f"{task}: {sentence}" if task and sentence else task or sentence


def main(style: str, out: Path) -> None:
    rng = random.Random(0)
    docs = default_catalog_docs()
    with tempfile.TemporaryDirectory(prefix="toolroute-pairs-") as scratch:
        store = CatalogStore(Path(scratch) / "catalog.db")
        try:
            store.upsert_many(docs)
            pairs = [(p.query, p.doc.id) for p in apibench_training_pairs(store)]
        finally:
            store.close()
    seen: set[tuple[str, str]] = set()
    for doc in docs:
        if call_key(doc) in seen:  # one query per distinct API, not per listed copy
            continue
        seen.add(call_key(doc))
        query = synthetic_query(doc, style, rng)
        if query:
            pairs.append((query, doc.id))
    with out.open("w", encoding="utf-8") as file:
        for query, api_id in pairs:
            file.write(json.dumps({"query": query, "api_id": api_id}) + "\n")
    print(f"{len(pairs):,} pairs -> {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in STYLES:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(STYLES)}}} OUT.jsonl")
    main(sys.argv[1], Path(sys.argv[2]))
