"""Benchmarks of the pipeline and the router (figures in BENCHMARKS.md).

`run_ask_benchmark` sends APIBench questions (instruction text only, a seeded sample spread
over the three hubs, each searched in its own hub unless told otherwise) through the real
pipeline with one arm, after a warm-up request, and reports warm latency and how often the
output parses, resolves to a catalog API (the rest are hallucinations), executes, and is
the gold API. Router state and tasks go to a scratch
directory, so a benchmark never trains the service's router.

`run_router_benchmark` times `select` + `update` for every policy with 8 arms, in memory
(the policy's own overhead) and through the persisted `Router` (with its SQLite write).
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.pipeline import Pipeline
from agent.pool import load_pool
from agent.settings import Settings
from retriever import HybridRetriever
from retriever.benchmark import GoldIndex, Question, load_questions
from router import POLICIES, RouteContext, Router, make_policy
from router.features import FEATURE_DIM

HUBS = ("huggingface", "torchhub", "tensorflowhub")


@dataclass
class AskFigures:
    arm: str
    n: int
    p50_ms: float
    p95_ms: float
    generate_p50_ms: float
    parsed: float
    resolved: float
    hallucination: float
    ok: float
    exact_api: float
    tokens_in_mean: float
    tokens_out_mean: float
    cost_per_1k_requests: float


def sample_questions(n: int, seed: int = 0) -> list[Question]:
    """`n` questions, as evenly spread over the hubs as `n` allows, in a seeded order."""
    rng = random.Random(seed)
    per_hub = {hub: rng.sample(load_questions(hub), k=len(load_questions(hub))) for hub in HUBS}
    picked: list[Question] = []
    while len(picked) < n:
        for hub in HUBS:
            if per_hub[hub] and len(picked) < n:
                picked.append(per_hub[hub].pop())
    return picked


def run_ask_benchmark(
    settings: Settings,
    retriever: HybridRetriever,
    arm: str,
    questions: list[Question],
    *,
    per_hub: bool = True,
    progress: Callable[[], None] | None = None,
) -> AskFigures:
    """`per_hub` searches each question's own hub, as APIBench evaluates (and as the
    retrieval benchmark does); otherwise the whole catalog."""
    gold = GoldIndex(list(retriever.store.iter_docs()))
    with tempfile.TemporaryDirectory(prefix="toolroute-bench-") as scratch:
        scratch_settings = settings.model_copy(update={"data_dir": Path(scratch)})
        _share_models(settings.data_dir, Path(scratch))
        # The pool from the real settings: the scratch dir has no toolroute.toml.
        config = load_pool(settings)
        with Pipeline.open(scratch_settings, retriever=retriever, pool_config=config) as pipeline:
            pipeline.run(questions[0].text, arm=arm)  # warm-up: load the model, fill caches
            tasks = []
            for question in questions:
                hub = question.hub if per_hub else None
                tasks.append((question, pipeline.run(question.text, arm=arm, hub=hub)))
                if progress:
                    progress()
    latencies = [t["latency_ms"] for _, t in tasks]
    generate = [t["timings"].get("generate_ms", 0.0) for _, t in tasks]
    n = len(tasks)
    parsed = sum(t["parse_error"] is None and t["generation"] is not None for _, t in tasks)
    resolved = sum(t["api_id"] is not None for _, t in tasks)
    ok = sum((t["execution"] or {}).get("status") == "ok" for _, t in tasks)
    exact = sum(t["api_id"] is not None and t["api_id"] in gold.gold_ids(q) for q, t in tasks)
    return AskFigures(
        arm=arm,
        n=n,
        p50_ms=statistics.median(latencies),
        p95_ms=float(np.percentile(latencies, 95)),
        generate_p50_ms=statistics.median(generate),
        parsed=parsed / n,
        resolved=resolved / n,
        hallucination=1 - resolved / n,
        ok=ok / n,
        exact_api=exact / n,
        tokens_in_mean=statistics.fmean(t["tokens"]["in"] for _, t in tasks),
        tokens_out_mean=statistics.fmean(t["tokens"]["out"] for _, t in tasks),
        cost_per_1k_requests=1000 * statistics.fmean(t["cost"] for _, t in tasks),
    )


def _share_models(data_dir: Path, scratch: Path) -> None:
    """Link the assembled model files into the scratch dir instead of assembling again."""
    models = data_dir / "models"
    if models.is_dir():
        (scratch / "models").symlink_to(models, target_is_directory=True)


def run_router_benchmark(
    arms: int = 8, iterations: int = 5_000, persisted_iterations: int = 300, seed: int = 0
) -> dict[str, dict[str, float]]:
    names = [f"arm{i}" for i in range(arms)]
    rng = np.random.default_rng(seed)
    contexts = [RouteContext(rng.normal(size=FEATURE_DIM), "torchhub") for _ in range(64)]
    figures: dict[str, dict[str, float]] = {}
    for name in [*POLICIES, "fixed:arm0"]:
        policy = make_policy(name, names, dim=FEATURE_DIM, seed=seed)
        timings = []
        for i in range(iterations):
            context = contexts[i % len(contexts)]
            start = time.perf_counter()
            arm = policy.select(context)
            policy.update(arm, context, float(rng.random()))
            timings.append(time.perf_counter() - start)
        figures[name] = _percentiles(timings)
    with tempfile.TemporaryDirectory(prefix="toolroute-router-") as scratch:
        router = Router(names, Path(scratch) / "router.db", policy="linucb", seed=seed)
        timings = []
        for i in range(persisted_iterations):
            context = contexts[i % len(contexts)]
            start = time.perf_counter()
            arm = router.select(context).arm
            router.update(arm, context, accuracy=float(rng.random() < 0.5), cost=0.0, latency_s=0.5)
            timings.append(time.perf_counter() - start)
        router.close()
    figures["persisted Router (all policies learn)"] = _percentiles(timings)
    return figures


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "n": float(len(ms)),
    }
