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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.jsontypes import JSONObject
from agent.pipeline import Pipeline
from agent.pool import load_pool
from agent.settings import Settings
from apidb import APIDoc
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
        scratch_settings = settings.scratch(Path(scratch))
        config = load_pool(settings)
        with Pipeline.open(scratch_settings, retriever=retriever, pool_config=config) as pipeline:
            pipeline.run(questions[0].text, arm=arm)  # warm-up: load the model, fill caches
            tasks = []
            for question in questions:
                hub = question.hub if per_hub else None
                tasks.append((question, pipeline.run(question.text, arm=arm, hub=hub)))
                if progress:
                    progress()
    latencies = [t.latency_ms for _, t in tasks]
    # Generation time is the arms' own time, summed over every candidate they wrote for.
    generate = [sum(a.latency_ms for a in t.attempts) for _, t in tasks]
    n = len(tasks)
    parsed = sum(t.parse_error is None and t.generation is not None for _, t in tasks)
    resolved = sum(t.api_id is not None for _, t in tasks)
    ok = sum(t.status == "ok" for _, t in tasks)
    exact = sum(t.api_id is not None and t.api_id in gold.gold_ids(q) for q, t in tasks)
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
        tokens_in_mean=statistics.fmean(t.tokens.in_ for _, t in tasks),
        tokens_out_mean=statistics.fmean(t.tokens.out for _, t in tasks),
        cost_per_1k_requests=1000 * statistics.fmean(t.cost for _, t in tasks),
    )


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


TRIVIAL_CALL = "pipeline('summarization', model='facebook/bart-large-cnn')"


def run_sandbox_benchmark(
    settings: Settings,
    docs: list[APIDoc],
    *,
    runs: int = 200,
    gold: bool = True,
    progress: Callable[[int], None] | None = None,
) -> JSONObject:
    """Sandbox overhead, concurrency and how many catalog calls simulate to themselves.

    - `overhead`: `runs` sequential simulated runs of one trivial call, end to end
      (static check, bwrap, cgroup, runner, judging);
    - `concurrency`: rounds of 2 runs per core at once (all must succeed), then a burst
      beyond the slots and the queue (the excess must come back `busy`, nothing else);
    - `gold`: every Python doc's own canonical call, run simulated: `ok` share, and the
      share that resolves to the doc itself or to one with the same canonical call.
    """
    from concurrent.futures import ThreadPoolExecutor

    from agent.resolve import CallResolver
    from agent.sandbox import SandboxExecutor

    resolver = CallResolver(docs)
    executor = SandboxExecutor.from_settings(settings)
    executor.sandbox.check()
    figures: JSONObject = {"sandbox": executor.sandbox.describe()}

    seconds: list[float] = []
    statuses: Counter[str] = Counter()
    for _ in range(runs):
        started = time.perf_counter()
        statuses[executor.run_code(TRIVIAL_CALL, resolver).status] += 1
        seconds.append(time.perf_counter() - started)
    figures["overhead"] = {**_percentiles(seconds), "statuses": dict(statuses)}

    slots = executor.max_concurrent
    with ThreadPoolExecutor(slots) as pool:
        concurrent = Counter(
            e.status
            for e in pool.map(lambda _: executor.run_code(TRIVIAL_CALL, resolver), range(slots * 5))
        )
    burst_executor = SandboxExecutor(executor.sandbox, max_concurrent=slots, max_queue=slots)
    burst = slots * 4
    with ThreadPoolExecutor(burst) as pool:
        sleepy = "import time\ntime.sleep(1)\n" + TRIVIAL_CALL
        outcomes = list(pool.map(lambda _: burst_executor.run_code(sleepy, resolver), range(burst)))
    figures["concurrency"] = {
        "slots": slots,
        "concurrent_runs": dict(concurrent),
        "burst": burst,
        "burst_ok": sum(e.status == "ok" for e in outcomes),
        "burst_busy": sum(e.output.startswith("busy") for e in outcomes),
    }
    if gold:
        figures["gold"] = _gold_share(executor, resolver, docs, progress)
    return figures


def _gold_share(
    executor: Any, resolver: Any, docs: list[APIDoc], progress: Callable[[int], None] | None
) -> JSONObject:
    from concurrent.futures import ThreadPoolExecutor

    python_docs = [d for d in docs if d.kind == "python"]
    by_id = {d.id: d for d in docs}

    def one(doc: APIDoc) -> tuple[APIDoc, Any]:
        execution = executor.run_code(doc.call, resolver)
        if progress:
            progress(1)
        return doc, execution

    statuses: Counter[str] = Counter()
    itself = 0
    by_hub: dict[str, Counter[str]] = {}
    with ThreadPoolExecutor(executor.max_concurrent) as pool:
        for doc, execution in pool.map(one, python_docs):
            statuses[execution.status] += 1
            hub = by_hub.setdefault(doc.hub, Counter())
            hub["total"] += 1
            if execution.status != "ok":
                continue
            hub["ok"] += 1
            resolved = [r.get("api_id") for r in execution.trace if r.get("entry")]
            same = [
                i for i in resolved if i == doc.id or (i in by_id and by_id[i].call == doc.call)
            ]
            if same:
                itself += 1
                hub["itself"] += 1
    total = len(python_docs)
    return {
        "docs": total,
        "statuses": dict(statuses),
        "ok_share": statuses["ok"] / total if total else 0.0,
        "resolves_to_itself_share": itself / total if total else 0.0,
        "by_hub": {hub: dict(c) for hub, c in sorted(by_hub.items())},
    }
