"""Retrieval benchmark on the APIBench eval questions.

Only the user's instruction is searched: the text after ``###Instruction:`` and before
``###Output``, never the answer. A retrieved doc is the gold API when its call text equals
the gold call (whitespace and quote style ignored); for the few gold calls that appear in
no catalog entry (77 in huggingface) the API name decides instead. Matching on the name
alone would be far too loose elsewhere: 659 of 688 tensorflowhub gold names (such as
``model_id``) are shared by more than three catalog entries.

Splits: ``all`` (every question, the reported figures), ``dev`` (question_id % 5 == 0, the
20% used to choose fields and weights), ``heldout`` (the other 80%), and ``train``
(torchhub_train.json, torchhub only, also used for choices).
"""

from __future__ import annotations

import json
import re
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from apidb import APIDoc, CatalogStore
from apidb.bundled import (
    APIBENCH_DIR,
    APIBENCH_FILES,
    APIBENCH_HUBS,
    TORCHHUB_DEV_FILE,
    default_catalog_docs,
)
from retriever.config import SEARCH_MODES, RetrieverConfig, Split
from retriever.embedder import Embedder, Vectors
from retriever.hybrid import HybridRetriever
from retriever.rerank import CrossEncoderReranker
from retriever.text import call_key, normalise_call

DEPTH = 10

_INSTRUCTION = re.compile(r"#+\s*Instruction:\s*(.*?)(?:#+\s*Output|$)", re.S)
_TRAIN_INSTRUCTION = re.compile(r"'Instruction':\s*(.*?),\s*'Output'", re.S)


@dataclass(frozen=True, slots=True)
class Question:
    question_id: int  # 1-based line number in the eval file
    hub: str
    text: str
    gold_call: str
    gold_name: str
    gold_domain: str
    from_train_file: bool = False  # torchhub_train.json, not an eval file


def instruction_text(code: str) -> str:
    """The user's request in an APIBench sample, without the answer."""
    match = _INSTRUCTION.search(code) or _TRAIN_INSTRUCTION.search(code)
    if match is None:
        raise ValueError("no instruction found in sample")
    return match.group(1).strip()


def load_questions(hub: str, split: Split = "all") -> list[Question]:
    if split == "train":
        if hub != "torchhub":
            return []
        path = TORCHHUB_DEV_FILE
    else:
        path = APIBENCH_DIR / APIBENCH_FILES[hub][1]
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if split == "dev" and number % 5 != 0 or split == "heldout" and number % 5 == 0:
            continue
        record = json.loads(line)
        questions.append(
            Question(
                question_id=number,
                hub=hub,
                text=instruction_text(record["code"]),
                gold_call=record["api_call"],
                gold_name=record["api_data"]["api_name"],
                gold_domain=record["api_data"]["domain"],
                from_train_file=split == "train",
            )
        )
    return questions


DEV_FOLDS = 5


def dev_fold(question: Question, folds: int = DEV_FOLDS) -> int | None:
    """The cross-validation fold of a dev question (None outside the dev split): choices
    for a model trained on dev are made on folds its training left out."""
    if question.from_train_file or question.question_id % 5 != 0:
        return None
    return (question.question_id // 5) % folds


class GoldIndex:
    """Which catalog docs count as the gold API of a question."""

    def __init__(self, docs: list[APIDoc]) -> None:
        self._by_call: dict[tuple[str, str], set[str]] = {}
        self._by_name: dict[tuple[str, str], set[str]] = {}
        for doc in docs:
            self._by_call.setdefault(call_key(doc), set()).add(doc.id)
            self._by_name.setdefault((doc.hub, doc.name), set()).add(doc.id)

    def gold_ids(self, question: Question) -> set[str]:
        by_call = self._by_call.get((question.hub, normalise_call(question.gold_call)))
        return by_call or self._by_name.get((question.hub, question.gold_name), set())


def evaluate(
    retriever: HybridRetriever,
    questions: list[Question],
    mode: str,
    *,
    gold: GoldIndex | None = None,
    on_question: Callable[[], None] | None = None,
    vectors: Vectors | None = None,
) -> dict[str, float]:
    """Recall, MRR, domain@1 and latency of `mode` over `questions`. `vectors` (one query
    embedding per question) skips embedding, for callers that score many settings of the
    same questions; the latencies then leave the embedder out."""
    gold = gold or GoldIndex(retriever.store.list_docs())
    if vectors is not None and len(vectors) != len(questions):
        raise ValueError(f"{len(vectors)} vectors for {len(questions)} questions")
    found_at: list[int | None] = []
    domain_hits = 0
    latencies = []
    for i, question in enumerate(questions):
        vector = None if vectors is None else vectors[i]
        started = time.perf_counter()
        hits = retriever.search(
            question.text,
            DEPTH,
            hub=question.hub,
            mode=mode,  # type: ignore[arg-type]
            vector=vector,
        )
        latencies.append((time.perf_counter() - started) * 1000)
        gold_ids = gold.gold_ids(question)
        rank = next((i for i, hit in enumerate(hits, start=1) if hit.doc.id in gold_ids), None)
        found_at.append(rank)
        domain_hits += bool(hits) and hits[0].doc.domain == question.gold_domain
        if on_question is not None:
            on_question()
    n = max(len(questions), 1)

    def recall(depth: int) -> float:
        return round(sum(1 for r in found_at if r is not None and r <= depth) / n, 4)

    return {
        "n": len(questions),
        "recall@1": recall(1),
        "recall@5": recall(5),
        "recall@10": recall(10),
        "mrr": round(sum(1 / r for r in found_at if r is not None) / n, 4),
        "domain@1": round(domain_hits / n, 4),
        "p50_ms": round(statistics.median(latencies), 2) if latencies else 0.0,
        "p99_ms": round(_percentile(latencies, 99), 2) if latencies else 0.0,
    }


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


@dataclass(frozen=True, slots=True)
class BenchResult:
    figures: dict[str, dict[str, dict[str, float]]]
    build_seconds: float
    peak_rss_mb: float
    docs: int
    # Median ms to add (then delete) one doc and have the next search see it; None when
    # the benchmark reused an index (it never changes a live catalog).
    add_ms: float | None
    delete_ms: float | None


def measure_updates(retriever: HybridRetriever, rounds: int = 20) -> tuple[float, float]:
    """Median latency of a catalog add + index sync, and of a delete + sync."""
    adds, deletes = [], []
    for round_number in range(rounds):
        doc = APIDoc(
            id=f"bench/probe-{round_number}",
            hub="bench",
            kind="function",
            name=f"probe_{round_number}",
            description=f"Benchmark probe number {round_number}: convert a recipe to metric units.",
        )
        started = time.perf_counter()
        retriever.store.add(doc)
        retriever.sync()
        adds.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        retriever.store.delete(doc.id)
        retriever.sync()
        deletes.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(adds), 2), round(statistics.median(deletes), 2)


@contextmanager
def scratch_default_index(embedder: Embedder) -> Iterator[HybridRetriever]:
    """A freshly built index of the default catalog in a scratch directory that is removed
    afterwards: for analysis scripts that must not touch the user's data dir."""
    with tempfile.TemporaryDirectory(prefix="toolroute-scratch-") as scratch:
        store = CatalogStore(Path(scratch) / "catalog.db")
        try:
            store.upsert_many(default_catalog_docs())
            retriever = HybridRetriever(store, embedder, Path(scratch) / "index")
            retriever.build()
            yield retriever
        finally:
            store.close()


def run_retrieval_benchmark(
    store: CatalogStore,
    embedder: Embedder,
    *,
    hubs: list[str],
    split: Split = "all",
    config: RetrieverConfig | None = None,
    index_dir: Path | None = None,
    progress: Callable[[str, int], AbstractContextManager[Callable[[], None]]] | None = None,
    reranker: CrossEncoderReranker | None = None,
) -> BenchResult:
    """Build a fresh index (timed) unless `index_dir` is given, then score every mode
    (hybrid through `reranker` when given).

        A fresh build works on a scratch copy of the catalog, where the benchmark also times
        single-doc updates. `progress(label, total)` gives a callback ticked once per question.
    """
    with tempfile.TemporaryDirectory(prefix="toolroute-bench-") as scratch:
        started = time.perf_counter()
        if index_dir is None:
            scratch_store = store.copy_to(Path(scratch) / "catalog.db")
            retriever = HybridRetriever(scratch_store, embedder, Path(scratch) / "index", config)
            retriever.build()
        else:
            retriever = HybridRetriever.open(store, embedder, index_dir, config)
        build_seconds = time.perf_counter() - started
        retriever.reranker = reranker
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        figures: dict[str, dict[str, dict[str, float]]] = {}
        gold = GoldIndex(retriever.store.list_docs())
        for hub in hubs:
            questions = load_questions(hub, split)
            if not questions:
                continue
            figures[hub] = {}
            for mode in SEARCH_MODES[::-1]:  # bm25, dense, hybrid
                if progress is None:
                    figures[hub][mode] = evaluate(retriever, questions, mode, gold=gold)
                else:
                    with progress(f"{hub} {mode}", len(questions)) as tick:
                        figures[hub][mode] = evaluate(
                            retriever, questions, mode, gold=gold, on_question=tick
                        )
        add_ms = delete_ms = None
        if index_dir is None:
            add_ms, delete_ms = measure_updates(retriever)
            retriever.store.close()
        return BenchResult(
            figures,
            round(build_seconds, 2),
            round(peak_rss_mb, 1),
            len(retriever),
            add_ms,
            delete_ms,
        )


def all_hubs(choice: str) -> list[str]:
    return list(APIBENCH_HUBS) if choice == "all" else [choice]
