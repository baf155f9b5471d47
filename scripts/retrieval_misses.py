"""Analysis, not shipped: why do the retriever's recall@5 misses miss?

For each hub (by default on the splits used for choices: torchhub_train.json and the dev
splits; `--heldout` for the held-out split, `--model DIR` for a tuned embedder), it counts
the questions whose gold API is not in the top 5, and how many of those have all five hits
in the gold API's own domain. Such a miss is a choice between same-domain
APIs the question does not tell apart ("an image classification API with high accuracy"),
not a wrong kind of API. It also prints how many distinct APIs that domain holds.
Builds a scratch index of the default catalog (about 80 s). See BENCHMARKS.md.

    .venv/bin/python scripts/retrieval_misses.py [--heldout] [--model DIR]
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter
from pathlib import Path

from apidb import APIDoc
from retriever.benchmark import GoldIndex, load_questions, scratch_default_index
from retriever.config import Split
from retriever.embedder import SentenceTransformerEmbedder
from retriever.text import call_key

SPLITS: list[tuple[str, Split]] = [
    ("huggingface", "dev"),
    ("torchhub", "dev"),
    ("torchhub", "train"),
    ("tensorflowhub", "dev"),
]


HELDOUT: list[tuple[str, Split]] = [
    ("huggingface", "heldout"),
    ("torchhub", "heldout"),
    ("tensorflowhub", "heldout"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heldout", action="store_true", help="the held-out split instead")
    parser.add_argument("--model", type=Path, help="a sentence-transformers model directory")
    options = parser.parse_args()
    splits = HELDOUT if options.heldout else SPLITS
    with scratch_default_index(SentenceTransformerEmbedder(options.model)) as retriever:
        docs = retriever.store.list_docs()
        gold = GoldIndex(docs)
        apis_per_domain = Counter((hub, domain) for hub, domain, _ in _distinct_apis(docs))
        print(
            "| hub | split | n | misses@5 | all top 5 in the gold domain "
            "| APIs in that domain (median) |"
        )
        print("|---|---|---|---|---|---|")
        for hub, split in splits:
            questions = load_questions(hub, split)
            misses = 0
            in_domain: list[int] = []
            for question in questions:
                hits = retriever.search(question.text, 5, hub=hub)
                gold_ids = gold.gold_ids(question)
                if any(hit.doc.id in gold_ids for hit in hits):
                    continue
                misses += 1
                if hits and all(hit.doc.domain == question.gold_domain for hit in hits):
                    in_domain.append(apis_per_domain[(hub, question.gold_domain)])
            median = statistics.median(in_domain) if in_domain else 0
            print(
                f"| {hub} | {split} | {len(questions)} | {misses} | "
                f"{len(in_domain)} ({len(in_domain) / max(misses, 1):.0%}) | {median:g} |"
            )


def _distinct_apis(docs: list[APIDoc]) -> set[tuple[str, str, tuple[str, str]]]:
    """(hub, domain, call key): APIBench lists some APIs more than once."""
    return {(doc.hub, doc.domain, call_key(doc)) for doc in docs}


if __name__ == "__main__":
    main()
