"""What one running service holds: the pipeline, keys, limits, metrics, the Slack bot."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from agent.service.auth import Keyring, key_store
from agent.service.limits import Admission, RateLimiter
from agent.service.metrics import Metrics
from retriever.hybrid import SERVICE_SAVE_DELAY_S

if TYPE_CHECKING:
    from anyio import CapacityLimiter
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    from agent.catalog import CatalogWriter
    from agent.pipeline import Pipeline, TaskRequest
    from agent.service.slack import SlackBot
    from agent.settings import Settings
    from agent.task import TaskResult
    from agent.toolset import ToolsetCache
    from retriever.sync import ChangeFollower

log = logging.getLogger("toolroute.service")
T = TypeVar("T")

PipelineFactory = Callable[["Settings"], "Pipeline"]


def default_pipeline(settings: Settings) -> Pipeline:
    from agent.pipeline import Pipeline

    return Pipeline.open(settings)


@dataclass
class ServiceState:
    settings: Settings
    pipeline: Pipeline
    keyring: Keyring | None  # None: TOOLROUTE_AUTH=disabled
    limiter: RateLimiter
    auth_failures: RateLimiter  # per client address
    admission: Admission
    metrics: Metrics
    toolsets: ToolsetCache
    catalog: CatalogWriter
    slack: SlackBot | None = None
    # Applies other processes' catalog changes (a CLI import) to the index in the background.
    follower: ChangeFollower | None = None
    # Bounds worker threads to the admission's worker count; made inside the event loop.
    worker_limiter: CapacityLimiter | None = None
    # The MCP server's session manager (`routes.mcp`), running while the app runs.
    mcp_sessions: StreamableHTTPSessionManager | None = None
    started_at: float = field(default_factory=time.time)

    @classmethod
    def open(
        cls,
        settings: Settings,
        metrics: Metrics,
        pipeline_factory: PipelineFactory,
        on_new_key: Callable[[str, str], None],
    ) -> ServiceState:
        from agent.catalog import CatalogWriter
        from agent.toolset import ToolsetCache

        keyring = None
        if settings.auth == "required":
            store = key_store(settings)
            keyring, created = Keyring.load(settings.api_key_list, store, settings.admin_key_list)
            if created is not None:
                on_new_key(created, store.describe())
        else:
            log.warning("TOOLROUTE_AUTH=disabled: the API answers anyone (local development only)")
        pipeline = pipeline_factory(settings)
        workers = settings.workers or 2 * (os.cpu_count() or 1)
        state = cls(
            settings=settings,
            pipeline=pipeline,
            keyring=keyring,
            limiter=RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst),
            auth_failures=RateLimiter(
                settings.auth_failures_per_minute / 60, max(1, settings.auth_failures_per_minute)
            ),
            admission=Admission(workers, settings.queue_limit),
            metrics=metrics,
            toolsets=ToolsetCache(pipeline.tools_embedder, pipeline.tools_config),
            catalog=CatalogWriter(pipeline.store, settings.code_origins(), pipeline.retriever),
        )
        # A service lives on: it saves index changes at most every few seconds (each save
        # rewrites the whole index), and at shutdown.
        pipeline.retriever.save_delay_s = SERVICE_SAVE_DELAY_S
        state.follower = pipeline.retriever.follow()
        if settings.slack_enabled:
            from agent.service.slack import SlackBot

            state.slack = SlackBot.from_settings(settings, state)
        metrics.bind(
            in_flight=lambda: state.admission.in_flight,
            task_queue=lambda: state.admission.waiting,
            sandbox_queue=lambda: state.pipeline.executor.queue_depth,
            sandbox_running=lambda: state.pipeline.executor.running,
        )
        return state

    def run_admitted(self, work: Callable[[], T]) -> T:
        """Run `work` (in a worker thread) as an admitted task. The caller has already
        called `admission.enter()`; this frees the place when the work itself ends, even
        if the request that asked for it was cancelled meanwhile, so that shutdown's drain
        waits for the work, not for the request."""
        started = time.perf_counter()
        try:
            return work()
        finally:
            self.admission.leave(time.perf_counter() - started)

    def run_pipeline(self, request: TaskRequest) -> TaskResult:
        """One task through the pipeline (stored before it returns), counted in the metrics.
        Every entry point (REST, OpenAI-compatible, Slack) runs tasks through here."""
        task = self.pipeline.run(request)
        self.metrics.observe_task(task)
        return task

    def feedback(self, task_id: str, score: int, *, source: str, owner: str | None) -> bool:
        """Human feedback on `owner`'s task (any task when None); False if already given."""
        return self.pipeline.feedback(task_id, score, source=source, owner=owner)

    def first_delivery(self, key: str, created_at: str) -> bool:
        return self.pipeline.tasks.first_delivery(key, created_at)

    def shutdown(self) -> None:
        """Stop taking tasks, let running ones finish (up to the drain timeout), kill what
        is still in the sandbox, close everything."""
        drained = self.admission.drain(self.settings.drain_timeout_s)
        killed = self.pipeline.executor.shutdown()
        if not drained:
            log.warning("shutdown: drain timed out; killed %d sandboxed runs", killed)
            self.admission.drain(5.0)  # killed runs end at once and their tasks are stored
        if self.slack is not None:
            self.slack.close()
        if self.follower is not None:
            self.follower.stop()
        self.pipeline.retriever.flush()
        self.toolsets.close()
        self.pipeline.close()
        if self.keyring is not None:
            self.keyring.close()
