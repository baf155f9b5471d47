"""`Pipeline`: retrieve → route → generate → execute, then learn and store.

    from agent import Pipeline, TaskRequest
    with Pipeline.open(Settings()) as pipeline:
        task = pipeline.run(TaskRequest("summarize a news article"))

Two steps, kept apart so that every entry point shares them:

- `answer(request)` retrieves, asks the router for a ranking (without teaching it),
  generates with the first arm that can answer, and executes the call. It changes no
  state (the sandbox run aside): the evaluator asks every arm for its answer this way;
- `run(request)` is `answer`, then `learn` (record the arms that could not answer, reward
  the one that did), then the typed `TaskResult`, stored before it is returned. The REST
  API, the OpenAI-compatible endpoint, the Slack bot, the CLI and the benchmarks all go
  through `run`.

Failures have defined outcomes rather than exceptions:
- an arm that cannot answer (server down, timeout, model missing) is an infrastructure
  failure: recorded for that arm, never taught as a wrong answer, and the next arm in the
  policy's ranking answers instead;
- output that is not a call, or a call to no catalog API, is an `invalid_call` execution
  and teaches the router that the arm was wrong;
- when every arm fails, the task is stored with an `infra_error` execution and no reward.
Bad requests (empty or huge queries, unknown arms, policies, hubs) raise before anything
runs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agent.apicall import APICall, extract_code
from agent.arms.base import Arm, Generation, GenerationRequest
from agent.errors import CallParseError, ConfigError, UnknownArmError
from agent.executor import Execution, Executor, ValidationExecutor
from agent.pool import ArmPool, PoolConfig, load_pool, open_router
from agent.resolve import CallResolver, CatalogResolver
from agent.routing import Failure, first_available, teach
from agent.task import (
    ExecutionRecord,
    FallbackRecord,
    GenerationRecord,
    HitRecord,
    ParsedCall,
    RoutingRecord,
    TaskContext,
    TaskResult,
    Tokens,
)
from agent.tasks import TaskStore
from router import PolicyName, RewardWeights, RouteContext, Router, Selection

if TYPE_CHECKING:
    from types import TracebackType

    from agent.settings import Settings
    from agent.toolset import Toolset
    from apidb import CatalogStore
    from retriever import Hit, HybridRetriever

_VALIDATE_ONLY = ValidationExecutor()


@dataclass(frozen=True)
class TaskRequest:
    """What a caller asks for. `arm` pins an arm instead of routing; `toolset` (a client's
    own tools) is the catalog for this request; `owner` is who asked (an API key id)."""

    query: str
    hub: str | None = None
    k: int = 5
    arm: str | None = None
    policy: str | None = None
    weights: RewardWeights | None = None
    execute: bool = True
    toolset: Toolset | None = None
    owner: str | None = None


@dataclass(frozen=True)
class Answer:
    """What `Pipeline.answer` found out, before anyone learned from it."""

    request: TaskRequest
    hits: list[Hit]
    context: RouteContext
    selection: Selection
    generation: Generation | None
    failures: list[Failure]
    call: APICall | None
    parse_error: str | None
    execution: Execution | None
    timings: dict[str, float]
    started: float
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def trains_router(self) -> bool:
        """Whether this answer's outcome may teach the router. Not for a client's own
        tools: they are validated, not executed, and validation is not the execution
        success the reward is defined by."""
        return (
            self.request.toolset is None
            and self.generation is not None
            and self.execution is not None
            and self.execution.trains_router
        )


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
        """Everything from settings: catalog, index (built if missing), arms (checked:
        a missing library fails here, naming the fix), router, tasks."""
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

    def run(self, request: TaskRequest | str, **options: Any) -> TaskResult:
        """One task: answer, learn, and the result, stored before it is returned.
        `run("query", hub=..., arm=...)` is `run(TaskRequest("query", hub=..., arm=...))`."""
        if isinstance(request, str):
            request = TaskRequest(request, **options)
        answer = self.answer(request)
        task = self.result(answer, self.learn(answer))
        self.tasks.save(task)  # stored before anyone sees the result
        return task

    def answer(self, request: TaskRequest, *, fallbacks: bool = True) -> Answer:
        """Retrieve, route, generate, execute; nothing learns. `fallbacks=False` with a
        fixed arm asks that arm alone (the evaluator's counterfactual answers)."""
        started = time.perf_counter()
        if request.arm is not None and request.arm not in self.pool.names:
            raise UnknownArmError(request.arm, self.pool.names)
        timings: dict[str, float] = {}

        t = time.perf_counter()
        hits, context = self.retrieve(
            request.query, hub=request.hub, k=request.k, toolset=request.toolset
        )
        timings["retrieve_ms"] = _ms(t)

        t = time.perf_counter()
        selection = self._select(context, request.arm, request.policy, fallbacks=fallbacks)
        timings["route_ms"] = _ms(t)

        t = time.perf_counter()
        # One catalog snapshot for the whole request.
        toolset = request.toolset
        resolver = toolset.resolver if toolset is not None else self.resolver.current()
        generation_request = GenerationRequest(request.query, hits, resolver=resolver)
        served = first_available(
            selection.ranking, lambda name: self.pool.get(name).generate(generation_request)
        )
        timings["generate_ms"] = _ms(t)

        call, parse_error, execution = None, None, None
        generation = served.value
        if generation is None:
            errors = "; ".join(f"{f.arm}: {f.error}" for f in served.failures)
            execution = Execution("infra_error", errors)
        else:
            call, parse_error = _resolve(resolver, generation.text, hits)
            if request.execute:
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
        return Answer(
            request, hits, context, selection, generation, served.failures, call, parse_error,
            execution, timings, started,
        )  # fmt: skip

    def learn(self, answer: Answer) -> float | None:
        """Teach the router: the arms that could not answer, and the one that did."""
        generation, execution = answer.generation, answer.execution
        return teach(
            self.router,
            answer.context,
            generation.arm if generation is not None else None,
            answer.failures,
            trains=answer.trains_router,
            accuracy=1.0 if execution is not None and execution.succeeded else 0.0,
            cost=generation.cost if generation is not None else 0.0,
            latency_s=generation.latency_s if generation is not None else 0.0,
            weights=answer.request.weights,
        )

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
        self, context: RouteContext, arm: str | None, policy: str | None, *, fallbacks: bool
    ) -> Selection:
        if arm is not None and not fallbacks:
            return Selection(arm, str(PolicyName.fixed(arm)), [arm], {})
        if arm is not None:
            others = [a for a in self.router.select(context, policy=policy).ranking if a != arm]
            return Selection(arm, str(PolicyName.fixed(arm)), [arm, *others], {})
        return self.router.select(context, policy=policy, allowed=self.router.arms)

    def result(self, answer: Answer, reward: float | None) -> TaskResult:
        """The typed task, built once from an answer and its reward."""
        request, generation, call = answer.request, answer.generation, answer.call
        execution = answer.execution
        return TaskResult(
            task_id=uuid.uuid4().hex,
            created_at=answer.created_at,
            query=request.query,
            hub=request.hub,
            k=request.k,
            hits=[_hit_record(h) for h in answer.hits],
            arm=generation.arm if generation else None,
            routing=RoutingRecord.model_validate(answer.selection.to_json()),
            fallbacks=[FallbackRecord(arm=f.arm, error=f.error) for f in answer.failures],
            generation=GenerationRecord.model_validate(generation.to_json())
            if generation
            else None,
            call=call.code if call else (generation.text if generation else None),
            parsed_call=ParsedCall.model_validate(call.to_json()) if call else None,
            parse_error=answer.parse_error,
            api_id=call.api_id if call else None,
            execution=ExecutionRecord.model_validate(execution.to_json()) if execution else None,
            reward=reward,
            latency_ms=_ms(answer.started),
            timings=answer.timings,
            cost=generation.cost if generation else 0.0,
            tokens=Tokens(
                in_=generation.tokens_in if generation else 0,
                out=generation.tokens_out if generation else 0,
            ),
            context=TaskContext(features=_features(answer.context.features)),
            owner=request.owner,
        )

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
        features = task.context.features
        if task.arm in self.router.arms and features is not None:
            import numpy as np

            self.router.feedback(task.arm, RouteContext(np.array(features), task.hub), score)
        return True


def _resolve(
    resolver: CallResolver, text: str, hits: Sequence[Hit]
) -> tuple[APICall | None, str | None]:
    try:
        return resolver.resolve_text(text, [h.doc.id for h in hits]), None
    except CallParseError as exc:
        return None, str(exc)


def _hit_record(hit: Hit) -> HitRecord:
    return HitRecord(
        id=hit.doc.id,
        hub=hit.doc.hub,
        kind=hit.doc.kind,
        call=hit.doc.call,
        score=round(hit.score, 6),
        ranks=hit.ranks,
    )


def _features(features: Any) -> list[float] | None:
    return [float(x) for x in features] if features is not None else None


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)
