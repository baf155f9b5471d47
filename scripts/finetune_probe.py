"""Experiment, not shipped: does fine-tuning MiniLM on torchhub_train.json help retrieval?

Trains one epoch of in-batch-negatives contrastive loss (MultipleNegativesRanking, with
copies of the same doc masked out as negatives) on the 837 (question, gold doc) pairs of
torchhub_train.json, builds a scratch index of the default catalog with the tuned model,
and prints recall@5 / domain@1 for dense and hybrid on the dev and held-out splits.
Nothing is saved; the shipped embedder is unchanged. See BENCHMARKS.md.

    .venv/bin/python scripts/finetune_probe.py
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import torch

from apidb import CatalogStore
from apidb.bundled import apibench_docs, default_catalog_docs
from retriever import HybridRetriever
from retriever.benchmark import GoldIndex, evaluate, load_questions
from retriever.embedder import SentenceTransformerEmbedder
from retriever.text import doc_views

BATCH = 32
SCALE = 20.0  # cosine -> logits, as sentence-transformers' MNRL default


def training_pairs() -> list[tuple[str, str]]:
    docs = apibench_docs("torchhub")
    gold = GoldIndex(docs)
    by_id = {doc.id: doc for doc in docs}
    pairs = []
    for question in load_questions("torchhub", "train"):
        ids = sorted(gold.gold_ids(question))
        if ids:
            pairs.append((question.text, doc_views(by_id[ids[0]])[0]))
    return pairs


def finetune(embedder: SentenceTransformerEmbedder, pairs: list[tuple[str, str]]) -> None:
    model = embedder._model  # the probe reaches in; the shipped code never trains
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-5)
    model.train()
    random.shuffle(pairs)
    for start in range(0, len(pairs), BATCH):
        batch = pairs[start : start + BATCH]
        queries = model(model.tokenize([q for q, _ in batch]))["sentence_embedding"]
        docs = model(model.tokenize([d for _, d in batch]))["sentence_embedding"]
        logits = (
            SCALE
            * torch.nn.functional.normalize(queries, dim=-1)
            @ (torch.nn.functional.normalize(docs, dim=-1).T)
        )
        same_doc = torch.tensor([[a == b for _, b in batch] for _, a in batch])
        off_diagonal = ~torch.eye(len(batch), dtype=torch.bool)
        logits = logits.masked_fill(same_doc & off_diagonal, -1e4)
        loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(batch)))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    embedder.fingerprint = "finetuned-probe"


def main() -> None:
    random.seed(0)
    torch.manual_seed(0)
    embedder = SentenceTransformerEmbedder()
    finetune(embedder, training_pairs())
    with tempfile.TemporaryDirectory() as scratch:
        store = CatalogStore(Path(scratch) / "catalog.db")
        store.upsert_many(default_catalog_docs())
        retriever = HybridRetriever(store, embedder, Path(scratch) / "index")
        retriever.build()
        for hub in ("huggingface", "torchhub", "tensorflowhub"):
            for split in ("dev", "heldout"):
                questions = load_questions(hub, split)  # type: ignore[arg-type]
                for mode in ("dense", "hybrid"):
                    figures = evaluate(retriever, questions, mode)
                    print(
                        f"{hub:14} {split:8} {mode:7} recall@5={figures['recall@5']:.3f} "
                        f"domain@1={figures['domain@1']:.3f}"
                    )


if __name__ == "__main__":
    main()
