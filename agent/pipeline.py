"""`Pipeline`: retrieve → route → generate → execute → reward → learn → store.

    from agent import Pipeline
    with Pipeline.open(Settings()) as pipeline:
        result = pipeline.run("summarize a news article")

Failures have defined outcomes rather than exceptions:
- an arm that cannot answer (server down, timeout, model missing) is an infrastructure
  failure: recorded for that arm, never taught as a wrong answer, and the next arm in the
  policy's ranking answers instead;
- output that is not a call, or a call to no catalog API, is an `invalid_call` execution
  and teaches the router that the arm was wrong;
- when every arm fails, the task is stored with an `infra_error` execution and no reward.
Bad requests (empty or huge queries, unknown arms, policies, hubs) raise before anything
runs. Every task that ran is stored before `run` returns.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agent.apicall import APICall, extract_code
from agent.arms.base import Arm, Generation, GenerationRequest
from agent.errors import (
    ArmUnavailableError,
    CallParseError,
    ConfigError,
    UnknownArmError,
)
from agent.executor import Execution, Executor, ValidationExecutor
from agent.pool import ArmPool, PoolConfig, load_pool, open_router
from agent.resolve import CallResolver, CatalogResolver
from agent.tasks import TaskStore
from router import PolicyName, RewardWeights, RouteContext, Router, Selection

if TYPE_CHECKING:
    from types import TracebackType

    from agent.settings import Settings
    from agent.toolset import Toolset
    from apidb import CatalogStore
    from retriever import Hit, HybridRetriever

logger = logging.getLogger("toolroute.pipeline")
_VALIDATE_ONLY = ValidationExecutor()


@dataclass
class Attempt:
    arm: str
    error: str


class Pipeline:
    def __init__(
        self,
        store: CatalogStore,
        retriever: HybridRetriever,
        pool: ArmPool,
        router: Router,
        tasks: TaskStore,
        executor: Executor | None = None,
    ) -> None:
        self.store = store
        self.retriever = retriever
        self.pool = pool
        self.router = router
        self.tasks = tasks
        self.executor: Executor = executor or ValidationExecutor()
        self.resolver = CatalogResolver(store)

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        retriever: HybridRetriever | None = None,
        pool_config: PoolConfig | None = None,
        extra_arms: Mapping[str, Arm] | None = None,
        executor: Executor | None = None,
    ) -> Pipeline:
        """Everything from settings: catalog, index (built if missing), arms, router, tasks."""
        from apidb import CatalogStore
        from apidb.bundled import seed_default_catalog

        if retriever is None:
            from retriever import HybridRetriever
            from retriever.embedder import SentenceTransformerEmbedder

            store = CatalogStore(settings.catalog_path)
            seed_default_catalog(store)
            retriever = HybridRetriever.open(
                store,
                SentenceTransformerEmbedder(settings.embedder_model),
                settings.index_dir,
                settings.retriever_config(),
            )
        config = pool_config or load_pool(settings)
        pool = ArmPool(config, settings, extra_arms)
        pool.check()
        router = open_router(settings, config, extra=list(extra_arms or ()))
        tasks = TaskStore(settings.tasks_database_url)
        if executor is None:
            from agent.sandbox import SandboxExecutor

            executor = SandboxExecutor.from_settings(settings)
        return cls(retriever.store, retriever, pool, router, tasks, executor)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.pool.close()
        self.router.close()
        self.tasks.close()

    # ----------------------------------------------------------------- the flow

    def run(
        self,
        query: str,
        *,
        hub: str | None = None,
        k: int = 5,
        arm: str | None = None,
        policy: str | None = None,
        weights: RewardWeights | None = None,
        execute: bool = True,
        toolset: Toolset | None = None,
        learn: bool = True,
        store: bool = True,
        owner: str | None = None,
    ) -> dict[str, Any]:
        """One task, stored before it is returned.

        `learn=False` leaves the router untouched: not taught, not asked for fallbacks (a
        fixed `arm` answers alone), no failure recorded; `store=False` keeps the task out
        of the task database. How the evaluator asks each arm for its own answer while it
        routes and teaches the router itself, in question order.

        With a `toolset` (a client's own tool definitions) those tools are the catalog for
        this request. The client runs its own tools, so the call is validated against their
        schemas but not executed, and the router is not taught: validation alone is not the
        execution success its reward is defined by.
        """
        started = time.perf_counter()
        if arm is not None and arm not in self.pool.names:
            raise UnknownArmError(arm, self.pool.names)
        timings: dict[str, float] = {}

        t = time.perf_counter()
        hits, context = self.retrieve(query, hub=hub, k=k, toolset=toolset)
        timings["retrieve_ms"] = _ms(t)

        t = time.perf_counter()
        selection = self._select(context, arm, policy, fallbacks=learn)
        timings["route_ms"] = _ms(t)

        t = time.perf_counter()
        # One catalog snapshot for the whole request.
        resolver = toolset.resolver if toolset is not None else self.resolver.current()
        request = GenerationRequest(query, hits, resolver=resolver)
        generation, attempts = self._generate(selection, request, record=learn)
        timings["generate_ms"] = _ms(t)

        call: APICall | None = None
        parse_error: str | None = None
        execution: Execution | None = None
        reward: float | None = None
        if generation is None:
            execution = Execution("infra_error", "; ".join(f"{a.arm}: {a.error}" for a in attempts))
        else:
            call, parse_error = _resolve(resolver, generation.text, hits)
            if execute:
                t = time.perf_counter()
                executor = self.executor if toolset is None else _VALIDATE_ONLY
                execution = executor.execute(
                    call,
                    parse_error,
                    code=extract_code(generation.text),
                    resolver=resolver,
                    preferred=[h.doc.id for h in hits],
                )
                timings["execute_ms"] = _ms(t)
                learns = learn and toolset is None and execution.trains_router
                if learns and generation.arm in self.router.arms:
                    reward = self.router.update(
                        generation.arm,
                        context,
                        accuracy=1.0 if execution.succeeded else 0.0,
                        cost=generation.cost,
                        latency_s=generation.latency_s,
                        weights=weights,
                    )
        task = self._task(
            query,
            hub,
            k,
            hits,
            selection,
            generation,
            attempts,
            call,
            parse_error,
            execution,
            reward,
            context.features,
            timings,
            started,
        )
        task["owner"] = owner
        if store:
            self.tasks.save(task)  # stored before anyone sees the result
        return task

    def retrieve(
        self, query: str, *, hub: str | None = None, k: int = 5, toolset: Toolset | None = None
    ) -> tuple[list[Hit], RouteContext]:
        """The docs for `query` and the routing context built from them."""
        retriever = toolset.retriever if toolset is not None else self.retriever
        vector = retriever.embed_query(query)
        hits = retriever.search(query, k, hub=hub, vector=vector)
        top = hits[0].doc if hits else None
        context = self.router.context(
            vector,
            [h.score for h in hits],
            hub or (top.hub if top else None),
            top.kind if top else None,
        )
        return hits, context

    def _select(
        self, context: Any, arm: str | None, policy: str | None, *, fallbacks: bool = True
    ) -> Selection:
        routed = self.router.arms
        if arm is not None and not fallbacks:
            return Selection(arm, str(PolicyName.fixed(arm)), [arm], {})
        if arm is not None:
            others = [a for a in self.router.select(context, policy=policy).ranking if a != arm]
            return Selection(arm, str(PolicyName.fixed(arm)), [arm, *others], {})
        return self.router.select(context, policy=policy, allowed=routed)

    def _generate(
        self, selection: Selection, request: GenerationRequest, *, record: bool = True
    ) -> tuple[Generation | None, list[Attempt]]:
        attempts: list[Attempt] = []
        for name in selection.ranking:
            try:
                return self.pool.get(name).generate(request), attempts
            except (ArmUnavailableError, ConfigError) as exc:
                # Not the arm's answer being wrong: it could not answer at all.
                logger.warning("arm %s could not answer: %s", name, exc)
                attempts.append(Attempt(name, str(exc)))
                if record and name in self.router.arms:
                    self.router.record_infra_failure(name)
        return None, attempts

    def _task(
        self,
        query: str,
        hub: str | None,
        k: int,
        hits: Sequence[Hit],
        selection: Selection,
        generation: Generation | None,
        attempts: list[Attempt],
        call: APICall | None,
        parse_error: str | None,
        execution: Execution | None,
        reward: float | None,
        features: Any,
        timings: dict[str, float],
        started: float,
    ) -> dict[str, Any]:
        return {
            "task_id": uuid.uuid4().hex,
            "created_at": datetime.now(UTC).isoformat(),
            "query": query,
            "hub": hub,
            "k": k,
            "hits": [_hit_json(h) for h in hits],
            "arm": generation.arm if generation else None,
            "routing": selection.to_json(),
            "fallbacks": [{"arm": a.arm, "error": a.error} for a in attempts],
            "generation": generation.to_json() if generation else None,
            "call": call.code if call else (generation.text if generation else None),
            "parsed_call": call.to_json() if call else None,
            "parse_error": parse_error,
            "api_id": call.api_id if call else None,
            "execution": execution.to_json() if execution else None,
            "reward": reward,
            "latency_ms": _ms(started),
            "timings": timings,
            "cost": generation.cost if generation else 0.0,
            "tokens": {
                "in": generation.tokens_in if generation else 0,
                "out": generation.tokens_out if generation else 0,
            },
            "context": {"features": [float(x) for x in features] if features is not None else None},
        }

    # ----------------------------------------------------------------- feedback

    def feedback(
        self,
        task_id: str,
        score: int,
        *,
        source: str = "api",
        comment: str | None = None,
        owner: str | None = None,
    ) -> bool:
        """Human feedback on a task: stored once per source, then a second reward. With
        `owner`, only on that caller's own tasks (another's is not found)."""
        if score not in (-1, 0, 1):
            raise ConfigError("feedback score must be -1, 0 or 1")
        task = self.tasks.get(task_id, owner=owner)
        created = datetime.now(UTC).isoformat()
        if not self.tasks.add_feedback(task_id, source, score, comment, created):
            return False  # already counted: feedback is idempotent per task and source
        arm = task.get("arm")
        features = (task.get("context") or {}).get("features")
        if arm in self.router.arms and features is not None:
            import numpy as np

            self.router.feedback(arm, RouteContext(np.array(features), task.get("hub")), score)
        return True


def _resolve(
    resolver: CallResolver, text: str, hits: Sequence[Hit]
) -> tuple[APICall | None, str | None]:
    try:
        return resolver.resolve_text(text, [h.doc.id for h in hits]), None
    except CallParseError as exc:
        return None, str(exc)


def _hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "id": hit.doc.id,
        "hub": hit.doc.hub,
        "kind": hit.doc.kind,
        "call": hit.doc.call,
        "score": round(hit.score, 6),
        "ranks": hit.ranks,
    }


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)
