"""Analysis, not shipped: how far could fusion settings alone take the shipped retriever?

An oracle ceiling, and deliberately so: it scores a grid of fusion settings (dense weight,
domain-vote weight and temperature) on ALL the eval questions, and keeps the best value of
each figure per hub, each maximised separately. Nothing here may choose a default (that
would be tuning on the eval questions; the defaults come from the dev splits). It answers
one question: can issue #2's targets be reached by re-weighting what the retriever already
computes, or does the gap lie in the representation? Builds a scratch index of the default
catalog (about 80 s), then runs 48 settings (about 5 min). See BENCHMARKS.md.

    .venv/bin/python scripts/fusion_ceiling.py
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from apidb.bundled import APIBENCH_HUBS
from retriever.benchmark import GoldIndex, evaluate, load_questions, scratch_default_index
from retriever.config import RetrieverConfig
from retriever.embedder import SentenceTransformerEmbedder

DENSE_WEIGHTS = (0.6, 0.7, 0.8, 0.9)
DOMAIN_WEIGHTS = (0.0, 0.2, 0.4, 0.8)
DOMAIN_TEMPERATURES = (0.05, 0.1, 0.3)


def main() -> None:
    with scratch_default_index(SentenceTransformerEmbedder()) as retriever:
        gold = GoldIndex(retriever.store.list_docs())
        # Embed each question once; only the fusion changes between settings.
        questions = {hub: load_questions(hub, "all") for hub in APIBENCH_HUBS}
        vectors = {
            hub: retriever.embedder.encode([q.text for q in qs]) for hub, qs in questions.items()
        }
        best: dict[tuple[str, str], tuple[float, str]] = {}
        shipped = RetrieverConfig()
        for alpha, beta, temperature in itertools.product(
            DENSE_WEIGHTS, DOMAIN_WEIGHTS, DOMAIN_TEMPERATURES
        ):
            retriever.config = replace(
                shipped, dense_weight=alpha, domain_weight=beta, domain_temperature=temperature
            )
            setting = f"alpha {alpha}, beta {beta}, T {temperature}"
            for hub, qs in questions.items():
                figures = evaluate(retriever, qs, "hybrid", gold=gold, vectors=vectors[hub])
                for metric in ("recall@5", "domain@1"):
                    if figures[metric] > best.get((hub, metric), (-1.0, ""))[0]:
                        best[(hub, metric)] = (figures[metric], setting)
            print(setting, flush=True)
        print("\nhub            metric     ceiling  setting")
        for (hub_name, metric), (value, setting) in sorted(best.items()):
            print(f"{hub_name:14} {metric:9} {value:8.3f}  {setting}")


if __name__ == "__main__":
    main()
