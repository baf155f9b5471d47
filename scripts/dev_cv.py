"""Analysis, not shipped: choose retrieval settings for the tuned embedder on the dev split.

The tuned embedder is trained on the dev split, so its figures on dev are contaminated and
cannot choose anything. This script cross-validates instead: the dev questions fall in 5
folds (`retriever.benchmark.dev_fold`); for each fold a model is trained on the other four
plus torchhub_train.json (the same recipe as `toolroute index tune`), and the settings are
scored on the fold it left out. Every dev question is scored exactly once, by a model that
never saw it. No held-out question is read.

    .venv/bin/python scripts/dev_cv.py train --out /tmp/cv      # 5 models, ~3 min each
    .venv/bin/python scripts/dev_cv.py score --out /tmp/cv      # the grid below, per fold

`score` prints pooled out-of-fold figures per hub for each setting, and the out-of-fold
best cosine of every dev question (for the decline floor of model APIs). BENCHMARKS.md has
the results.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from apidb import CatalogStore
from apidb.bundled import APIBENCH_HUBS, default_catalog_docs
from retriever import HybridRetriever
from retriever.benchmark import (
    DEV_FOLDS,
    GoldIndex,
    Question,
    dev_fold,
    evaluate,
    load_questions,
)
from retriever.config import RetrieverConfig, fusion_for
from retriever.embedder import SentenceTransformerEmbedder
from retriever.hard_negatives import mined_with_shipped_model
from retriever.prior import PRIOR_FILE, DomainPrior, fit_domain_prior
from retriever.scoring import Hit
from retriever.synthetic_pairs import catalog_pairs
from retriever.tuning import apibench_training_pairs, tune_embedder

DENSE_WEIGHTS = (0.8, 0.9, 0.95, 1.0)
DOMAIN_WEIGHTS = (0.0, 0.1, 0.2, 0.3)
PRIOR_WEIGHTS = (0.0, 0.1, 0.2, 0.4, 0.6, 0.8)
PRIOR_C = (2.0, 8.0)
METRICS = ("recall@1", "recall@5", "mrr", "domain@1")


def train(out: Path, negatives: str = "none", synthetic: bool = False) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        store = CatalogStore(Path(scratch) / "catalog.db")
        store.upsert_many(default_catalog_docs())
        for fold in range(DEV_FOLDS):
            target = out / f"fold{fold}"
            if target.is_dir():
                print(f"fold {fold}: exists", flush=True)
                continue
            pairs = apibench_training_pairs(store, keep=_leaving_out(fold))
            if synthetic:
                pairs += catalog_pairs(store.list_docs())
            if negatives == "domain":
                pairs = mined_with_shipped_model(pairs, store)
            result = tune_embedder(
                pairs, target, source={"apibench_splits": ["train", "dev"], "left_out_fold": fold}
            )
            print(f"fold {fold}: {result.pairs} pairs, {result.seconds:.0f} s", flush=True)
        store.close()


def _leaving_out(fold: int) -> Callable[[Question], bool]:
    return lambda question: dev_fold(question) != fold


# The chosen setting and the shipped weights: enough to compare two recipes of the model.
SHORT_GRID: tuple[tuple[float, float, float, float | str], ...] = (
    (0.9, 0.0, 0.4, 8.0),
    (0.9, 0.0, 0.4, "saved"),
    (0.8, 0.2, 0.0, 2.0),
    (0.8, 0.1, 0.8, 2.0),
    # The prior fitted on the catalog's own pairs too (every API's task label and first
    # sentence, labelled with its domain), not only on the training requests.
    (0.9, 0.0, 0.4, "catalog 8.0"),
    (0.9, 0.0, 0.4, "catalog 2.0"),
    (0.9, 0.0, 0.6, "catalog 8.0"),
    (0.9, 0.0, 0.8, "catalog 8.0"),
)


def score(out: Path, short: bool = False) -> None:
    settings = (
        list(SHORT_GRID)
        if short
        else [
            (alpha, beta, gamma, c)
            for alpha, beta, gamma, c in itertools.product(
                DENSE_WEIGHTS, DOMAIN_WEIGHTS, PRIOR_WEIGHTS, PRIOR_C
            )
            if gamma or c == PRIOR_C[0]  # without the prior, its C changes nothing
        ]
    )
    pooled: dict[tuple[str, str], dict[str, float]] = {}
    best_cosines: list[float] = []
    for fold in range(DEV_FOLDS):
        embedder = SentenceTransformerEmbedder(out / f"fold{fold}")
        training = [
            q
            for hub in APIBENCH_HUBS
            for split in ("dev", "train")
            for q in load_questions(hub, split)
            if dev_fold(q) != fold
        ]
        training_vectors = embedder.encode([q.text for q in training])
        priors: dict[float | str, DomainPrior | None] = {
            c: fit_domain_prior(training_vectors, [q.gold_domain for q in training], c)
            for c in PRIOR_C
        }
        # The prior the model was saved with: fitted on every training pair, as the product
        # does (for a recipe with catalog pairs, on those too).
        priors["saved"] = DomainPrior.load(out / f"fold{fold}" / PRIOR_FILE)
        with tempfile.TemporaryDirectory() as scratch:
            store = CatalogStore(Path(scratch) / "catalog.db")
            store.upsert_many(default_catalog_docs())
            if short:
                written = catalog_pairs(store.list_docs())
                both = np.vstack([training_vectors, embedder.encode([p.query for p in written])])
                labels = [q.gold_domain for q in training] + [p.doc.domain for p in written]
                for c in PRIOR_C:
                    priors[f"catalog {c}"] = fit_domain_prior(both, labels, c)
            retriever = HybridRetriever(store, embedder, Path(scratch) / "index")
            retriever.build()
            gold = GoldIndex(store.list_docs())
            shipped = RetrieverConfig()
            for hub in APIBENCH_HUBS:
                questions = [q for q in load_questions(hub, "dev") if dev_fold(q) == fold]
                vectors = embedder.encode([q.text for q in questions])
                retriever.config = shipped
                for question, vector in zip(questions, vectors, strict=True):
                    hits = retriever.search(question.text, 5, hub=hub, vector=vector)
                    best_cosines.append(max((h.similarity or 0.0) for h in hits))
                for c, prior in priors.items():
                    assert prior is not None
                    hub_domains = {d.domain for d in store.list_docs(hub=hub)}
                    right = 0
                    for question, vector in zip(questions, vectors, strict=True):
                        p = prior.probabilities(vector)
                        guess = max(hub_domains, key=lambda d: p.get(d, 0.0))
                        right += guess == question.gold_domain
                    _add(
                        pooled,
                        (f"prior alone C={c}", hub),
                        {"n": len(questions), "domain@1": right / max(len(questions), 1)},
                    )
                for mode in ("dense", "bm25"):
                    figures = evaluate(retriever, questions, mode, gold=gold, vectors=vectors)
                    _add(pooled, (mode, hub), figures)
                for alpha, beta, gamma, c in settings:
                    retriever.config = replace(
                        shipped, dense_weight=alpha, domain_weight=beta, prior_weight=gamma
                    )
                    retriever.prior = priors[c]
                    figures = evaluate(retriever, questions, "hybrid", gold=gold, vectors=vectors)
                    _add(pooled, (f"hybrid a={alpha} b={beta} g={gamma} C={c}", hub), figures)
            store.close()
        print(f"fold {fold} scored", file=sys.stderr, flush=True)
    rows = []
    for (setting, hub_name), sums in pooled.items():
        n = sums["n"]
        rows.append(
            {"setting": setting, "hub": hub_name, "n": int(n)}
            | {m: round(sums[m] / n, 4) for m in METRICS if m in sums}
        )
    floor = float(np.quantile(best_cosines, 0.01))
    print(json.dumps({"rows": rows, "best_cosine_q01": round(floor, 4)}, indent=1))


def _add(
    pooled: dict[tuple[str, str], dict[str, float]],
    key: tuple[str, str],
    figures: dict[str, float],
) -> None:
    sums = pooled.setdefault(key, {"n": 0.0})
    n = figures["n"]
    sums["n"] += n
    for metric in METRICS:
        if metric in figures:
            sums[metric] = sums.get(metric, 0.0) + figures[metric] * n


RERANK_BLENDS = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0)


def rerank(out: Path, folds: int = DEV_FOLDS) -> None:
    """Train a reranker per fold (hard negatives from that fold's retriever) and score the
    left-out fold's hybrid top 10 reordered, at each blend with the fused score."""
    from retriever.rerank import (
        CrossEncoderReranker,
        RerankSettings,
        blend,
        mine_examples,
        train_reranker,
    )
    from retriever.text import doc_views

    settings = RerankSettings()
    sums: dict[tuple[str, str], dict[str, float]] = {}
    latencies: list[float] = []
    for fold in range(folds):
        embedder = SentenceTransformerEmbedder(out / f"fold{fold}")
        with tempfile.TemporaryDirectory() as scratch:
            store = CatalogStore(Path(scratch) / "catalog.db")
            store.upsert_many(default_catalog_docs())
            retriever = HybridRetriever(store, embedder, Path(scratch) / "index")
            retriever.build()
            target = out / f"rerank{fold}"
            if not target.is_dir():
                pairs = apibench_training_pairs(store, keep=_leaving_out(fold))
                examples = mine_examples(pairs, retriever, settings)
                train_reranker(examples, target, settings=settings)
                print(f"fold {fold}: reranker on {len(examples)} examples", file=sys.stderr)
            reranker = CrossEncoderReranker(target)
            gold = GoldIndex(store.list_docs())
            # Reorder what the chosen setting retrieves: the tuned fusion and a prior fitted
            # on this fold's training questions, as `score` does.
            training = [
                q
                for hub in APIBENCH_HUBS
                for split in ("dev", "train")
                for q in load_questions(hub, split)
                if dev_fold(q) != fold
            ]
            retriever.prior = fit_domain_prior(
                embedder.encode([q.text for q in training]), [q.gold_domain for q in training]
            )
            retriever.config = fusion_for(
                SimpleNamespace(domain_prior=retriever.prior), RetrieverConfig()
            )
            for hub in APIBENCH_HUBS:
                for question in (q for q in load_questions(hub, "dev") if dev_fold(q) == fold):
                    hits = retriever.search(question.text, settings.depth, hub=hub)
                    started = time.perf_counter()
                    logits = reranker.scores(question.text, [doc_views(h.doc)[0] for h in hits])
                    latencies.append((time.perf_counter() - started) * 1000)
                    gold_ids = gold.gold_ids(question)
                    for weight in RERANK_BLENDS:
                        order = np.argsort(
                            -blend(logits, [h.score for h in hits], weight), kind="stable"
                        )
                        ranked = [hits[i] for i in order]
                        _add_ranked(
                            pooled_row(sums, f"rerank w={weight}", hub), ranked, question, gold_ids
                        )
                    _add_ranked(
                        pooled_row(sums, "hybrid (no rerank)", hub), hits, question, gold_ids
                    )
            store.close()
        print(f"fold {fold} reranked", file=sys.stderr, flush=True)
    rows = [
        {"setting": setting, "hub": hub, "n": int(row["n"])}
        | {m: round(row[m] / row["n"], 4) for m in METRICS}
        for (setting, hub), row in sums.items()
    ]
    print(json.dumps({"rows": rows, "rerank_p50_ms": round(float(np.median(latencies)), 1)}))


def pooled_row(
    sums: dict[tuple[str, str], dict[str, float]], setting: str, hub: str
) -> dict[str, float]:
    return sums.setdefault((setting, hub), {"n": 0.0} | {m: 0.0 for m in METRICS})


def _add_ranked(row: dict[str, float], hits: list[Hit], question: Question, gold: set[str]) -> None:
    rank = next((i for i, h in enumerate(hits, start=1) if h.doc.id in gold), None)
    row["n"] += 1
    row["recall@1"] += rank == 1
    row["recall@5"] += rank is not None and rank <= 5
    row["mrr"] += 1 / rank if rank else 0.0
    row["domain@1"] += bool(hits) and hits[0].doc.domain == question.gold_domain


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("train", "score", "rerank"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--folds", type=int, default=DEV_FOLDS, help="rerank: only the first N folds (cost)"
    )
    parser.add_argument(
        "--negatives",
        choices=("none", "domain"),
        default="none",
        help="train: a mined hard negative per pair (the best-ranked API of another domain)",
    )
    parser.add_argument(
        "--synthetic", action="store_true", help="train: add a pair written from every doc"
    )
    parser.add_argument(
        "--short", action="store_true", help="score: only the chosen and shipped settings"
    )
    options = parser.parse_args()
    if options.step == "rerank":
        rerank(options.out, options.folds)
    elif options.step == "train":
        train(options.out, options.negatives, options.synthetic)
    else:
        score(options.out, options.short)
