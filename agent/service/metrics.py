"""Prometheus metrics, in a registry of the app's own (no process-global state, so several
apps in one process, as in tests, do not share counters)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# Buckets around what a task costs here: ~20 ms (template, no sandbox) to seconds (a model).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_REWARD_BUCKETS = (-1.0, -0.5, 0.0, 0.25, 0.5, 0.75, 0.9, 1.0, 1.5)


if TYPE_CHECKING:
    from agent.task import TaskResult


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "toolroute_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "toolroute_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.task_seconds = Histogram(
            "toolroute_task_duration_seconds",
            "Pipeline time per task (retrieve to store)",
            ["arm"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.arm_pulls = Counter("toolroute_arm_pulls", "Tasks served per arm", ["arm"], registry=r)
        self.rewards = Histogram(
            "toolroute_reward",
            "Rewards given to arms",
            ["arm"],
            buckets=_REWARD_BUCKETS,
            registry=r,
        )
        self.executions = Counter(
            "toolroute_executions", "Executions by outcome", ["status"], registry=r
        )
        self.rejected = Counter(
            "toolroute_rejected_requests",
            "Requests refused before any work (rate limit, full queue, shutdown)",
            ["reason"],
            registry=r,
        )
        self.feedback = Counter(
            "toolroute_feedback", "Human feedback recorded", ["source", "score"], registry=r
        )
        self.tasks_in_flight = Gauge(
            "toolroute_tasks_in_flight", "Tasks running or queued", registry=r
        )
        self.task_queue_depth = Gauge(
            "toolroute_task_queue_depth", "Tasks waiting for a worker", registry=r
        )
        self.sandbox_queue_depth = Gauge(
            "toolroute_sandbox_queue_depth", "Sandbox runs waiting for a slot", registry=r
        )
        self.sandbox_running = Gauge(
            "toolroute_sandbox_running", "Sandbox runs in progress", registry=r
        )

    def bind(
        self,
        *,
        in_flight: Callable[[], float],
        task_queue: Callable[[], float],
        sandbox_queue: Callable[[], float],
        sandbox_running: Callable[[], float],
    ) -> None:
        """Gauges read live values at scrape time instead of being kept in step by hand."""
        self.tasks_in_flight.set_function(in_flight)
        self.task_queue_depth.set_function(task_queue)
        self.sandbox_queue_depth.set_function(sandbox_queue)
        self.sandbox_running.set_function(sandbox_running)

    def observe_task(self, task: TaskResult) -> None:
        arm = task.arm or "none"
        self.arm_pulls.labels(arm).inc()
        self.task_seconds.labels(arm).observe(task.latency_ms / 1000)
        self.executions.labels(task.status or "not_run").inc()
        if task.reward is not None:
            self.rewards.labels(arm).observe(task.reward)

    def render(self) -> bytes:
        return generate_latest(self.registry)
