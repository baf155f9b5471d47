"""Rate limits, the bounded queue and graceful shutdown, on real servers."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from agent.arms.base import GenerationRequest, RawGeneration
from tests.agent.service.conftest import AUTH, GOOD_CALL, RESNET_QUERY, LiveServer
from tests.fakes import FakeArm


class GatedArm(FakeArm):
    """Answers only once the test opens the gate: a task that is still running."""

    def __init__(self) -> None:
        super().__init__("gated", default=GOOD_CALL)
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)

    def _generate(self, request: GenerationRequest) -> RawGeneration:
        self.entered.release()
        assert self.gate.wait(60), "the test never opened the gate"
        return super()._generate(request)


@pytest.fixture
def gated() -> GatedArm:
    return GatedArm()


@pytest.fixture
def fake_arms(gated: GatedArm) -> dict[str, FakeArm]:
    return {"gated": gated}


def post_task(server: LiveServer, **body: Any) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/tasks", json={"query": RESNET_QUERY} | body, headers=AUTH, timeout=60
    )


def task_count(server: LiveServer) -> int:
    with sqlite3.connect(server.data_dir / "tasks.db") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0])


def wait_for_metric(server: LiveServer, line: str) -> None:
    deadline = time.monotonic() + 30
    while line not in httpx.get(f"{server.url}/metrics", headers=AUTH).text:
        assert time.monotonic() < deadline, f"never saw {line!r}"
        time.sleep(0.05)


def test_over_the_rate_limit_is_429_with_retry_after(start_server: Any) -> None:
    server = start_server(rate_limit_per_s=0.5, rate_limit_burst=2)
    with server.client(headers=AUTH) as api:
        assert [api.get("/v1/router").status_code for _ in range(2)] == [200, 200]
        limited = api.get("/v1/router")
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 2
    # Limits are per key: another key is not slowed by this one.
    other = httpx.get(f"{server.url}/v1/router", headers={"Authorization": "Bearer test-key-beta"})
    assert other.status_code == 200


def test_a_full_queue_is_503_with_retry_after_and_loses_no_task(
    start_server: Any, gated: GatedArm
) -> None:
    server = start_server(workers=1, queue_limit=1)
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(post_task, server, arm="gated")
        assert gated.entered.acquire(timeout=30)
        queued = pool.submit(post_task, server, arm="gated")
        wait_for_metric(server, "toolroute_task_queue_depth 1.0")
        # The worker is busy and the one queue place is taken: the next task is refused.
        refused = post_task(server, arm="gated")
        assert refused.status_code == 503
        assert refused.json()["error"]["type"] == "unavailable"
        assert int(refused.headers["retry-after"]) >= 1
        gated.gate.set()
        assert running.result().status_code == 201
        assert queued.result().status_code == 201
    assert task_count(server) == 2  # both admitted tasks stored, the refused one never ran
    assert post_task(server, arm="gated").status_code == 201  # and it recovers at once


def test_shutdown_drains_running_tasks_then_stops(start_server: Any, gated: GatedArm) -> None:
    server = start_server()
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(post_task, server, arm="gated")
        assert gated.entered.acquire(timeout=30)
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        threading.Timer(0.5, gated.gate.set).start()
        reply = running.result()
        stopping.join(60)
    assert reply.status_code == 201  # the in-flight task finished and answered
    assert task_count(server) == 1
    with pytest.raises(httpx.ConnectError):
        post_task(server)
