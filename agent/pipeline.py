"""`Pipeline`: retrieve → route → select → fill → verify, then learn and store.

    from agent import Pipeline, TaskRequest
    with Pipeline.open(Settings()) as pipeline:
        task = pipeline.run(TaskRequest("summarize a news article"))

Two steps, kept apart so that every entry point shares them:

- `answer(request)` retrieves, asks the router for a ranking (without teaching it), and
  for each part of the request (`agent.calls.plan`) selects the API meant or declines
  (`agent.calls.select`), then has the first arm that can answer write the call for the
  chosen API, runs it, and verifies it, falling back to the next candidate when the call
  fails (`agent.calls.attempts`). It changes no state (the sandbox run aside): the
  evaluator asks every arm for its answer this way;
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
- a request no offered API fits is declined: a `no_match` execution, nothing run, no reward;
- when every arm fails, the task is stored with an `infra_error` execution and no reward.
Bad requests (empty or huge queries, unknown arms, policies, hubs) raise before anything
runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agent.answer import Answer, TaskRequest, task_result
from agent.arms.base import Arm
from agent.calls.attempts import CallMaker
from agent.calls.plan import parts
from agent.calls.select import calibration_for, select
from agent.errors import ConfigError, UnknownArmError
from agent.executor import Executor, ValidationExecutor
from agent.pool import ArmPool, PoolConfig, load_pool, open_router
from agent.resolve import CallResolver, CatalogResolver, callable_name
from agent.routing import ArmCosts, teach
from agent.task import TaskResult
from agent.tasks import TaskStore
from router import PolicyName, RouteContext, Router, Selection

if TYPE_CHECKING:
    from types import TracebackType

    from agent.settings import Settings
    from agent.toolset import Toolset
    from apidb import CatalogStore
    from retriever import Hit, HybridRetriever
    from retriever.embedder import Embedder

__all__ = ["Answer", "Pipeline", "TaskRequest"]
_VALIDATE_ONLY = ValidationExecutor()


class Pipeline:
    def __init__(
        self,
        store: CatalogStore,
        retriever: HybridRetriever,
        pool: ArmPool,
        router: Router,
        tasks: TaskStore,
        executor: Executor | None = None,
        tools_embedder: Embedder | None = None,
    ) -> None:
        self.store = store
        self.retriever = retriever
        # What an agent's own tools are embedded with (agent/embedding.py); by default the
        # catalog's embedder.
        self.tools_embedder: Embedder = tools_embedder or retriever.embedder
        # ... and searched with the fusion weights chosen for that embedder.
        from retriever.config import fusion_for

        self.tools_config = fusion_for(self.tools_embedder, retriever.config)
        self.catalog_calibration = calibration_for(retriever.embedder.name)
        self.pool = pool
        self.router = router
        self.tasks = tasks
        self.executor: Executor = executor or ValidationExecutor()
        self.resolver = CatalogResolver(store)
        self.arm_costs = ArmCosts()

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
        if retriever is None:
            retriever = open_catalog_retriever(settings)
        config = pool_config or load_pool(settings)
        pool = ArmPool(config, settings, extra_arms)
        pool.check()
        router = open_router(settings, config, extra=list(extra_arms or ()))
        tasks = TaskStore(settings.tasks_database_url)
        if executor is None:
            from agent.sandbox import SandboxExecutor

            executor = SandboxExecutor.from_settings(settings)
        from agent.embedding import tools_embedder

        return cls(
            retriever.store,
            retriever,
            pool,
            router,
            tasks,
            executor,
            tools_embedder(settings, retriever.embedder),
        )

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
        self.store.close()

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
        """Retrieve, route, then select, fill and verify each part; nothing learns.
        `fallbacks=False` with a fixed arm asks that arm alone (the evaluator's
        counterfactual answers)."""
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
        routing = self._route(context, request.arm, request.policy, fallbacks=fallbacks)
        timings["route_ms"] = _ms(t)

        t = time.perf_counter()
        # One catalog snapshot for the whole request.
        toolset = request.toolset
        resolver = toolset.resolver if toolset is not None else self.resolver.current()
        executor = self.executor if toolset is None else _VALIDATE_ONLY
        maker = CallMaker(self.pool.get, executor, costs=self.arm_costs)
        # A routed request escalates cheapest first; an arm asked for by name falls back
        # (when it cannot answer at all) in the router's order.
        ranking = (
            routing.ranking
            if request.arm is not None
            else self.arm_costs.escalation(routing.ranking)
        )
        answered = [
            maker.make(
                query,
                select(
                    self._named(part_hits, request, resolver),
                    choice=request.tool_choice,
                    calibration=None if toolset is not None else self.catalog_calibration,
                ),
                ranking,
                resolver,
                execute=request.execute,
                today=request.today,
                escalate=request.arm is None,
            )
            for query, part_hits in self._parts(request, hits)
        ]
        timings["calls_ms"] = _ms(t)
        return Answer(request, hits, context, routing, answered, timings, started)

    def _parts(self, request: TaskRequest, hits: list[Hit]) -> list[tuple[str, list[Hit]]]:
        """The request's parts with their own hits. Requests for model APIs are one part:
        APIBench-style requests describe one task, however many verbs they use."""
        pieces = parts(request.query)
        if len(pieces) < 2 or not hits or hits[0].doc.kind == "python":
            return [(request.query, hits)]
        retriever = request.toolset.retriever if request.toolset else self.retriever
        return [(piece, retriever.search(piece, request.k, hub=request.hub)) for piece in pieces]

    @staticmethod
    def _named(hits: list[Hit], request: TaskRequest, resolver: CallResolver) -> list[Hit]:
        """The hits, with the function `tool_choice` names first even if the search did not
        find it. Raises `ConfigError` when no offered API has that name."""
        name = request.tool_choice.function
        if name is None or any(callable_name(h.doc) == name for h in hits):
            return hits
        from retriever import Hit

        for doc in resolver.docs():
            if callable_name(doc) == name:
                return [Hit(doc=doc, score=0.0, ranks={}), *hits]
        raise ConfigError(f"tool_choice names {name!r}, which is not an offered function")

    def learn(self, answer: Answer) -> float | None:
        """Teach the router: the arms that could not answer, and every arm that wrote a
        call, rewarded by its verification (ran, and how much of it the request grounds)
        for everything its attempts cost. Returns the reward of the arm whose call
        answers (None when nothing was taught)."""
        outcomes = answer.outcomes() if answer.trains_router else []
        served = outcomes[0] if outcomes else None
        reward = teach(
            self.router,
            answer.context,
            served.arm if served else None,
            answer.failures,
            trains=served is not None,
            accuracy=served.accuracy if served else 0.0,
            cost=served.cost if served else 0.0,
            latency_s=served.latency_s if served else 0.0,
            weights=answer.request.weights,
        )
        for outcome in outcomes[1:]:  # cheaper arms whose calls did not verify
            teach(
                self.router, answer.context, outcome.arm, [], trains=True,
                accuracy=outcome.accuracy, cost=outcome.cost, latency_s=outcome.latency_s,
                weights=answer.request.weights,
            )  # fmt: skip
        return reward

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

    def _route(
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
        return task_result(answer, reward)

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


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)


def open_catalog_retriever(settings: Settings) -> HybridRetriever:
    """The settings' catalog (the bundled APIs seeded into it) and its index, built if
    missing."""
    from agent.embedding import catalog_embedder, catalog_reranker
    from apidb import CatalogStore
    from apidb.bundled import seed_default_catalog
    from retriever import HybridRetriever

    store = CatalogStore(settings.catalog_location)
    seed_default_catalog(store)
    embedder = catalog_embedder(settings, store)
    retriever = HybridRetriever.open(
        store, embedder, settings.index_dir, settings.retriever_config(embedder)
    )
    retriever.reranker = catalog_reranker(settings, retriever)
    return retriever
