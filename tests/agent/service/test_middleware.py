"""The observability middleware answers an unhandled error itself, with the request id."""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import Receive, Scope, Send

from agent.service.metrics import Metrics
from agent.service.middleware import ObservabilityMiddleware


async def _broken_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("a bug")


def test_an_unhandled_error_is_a_500_that_names_its_request_id() -> None:
    app = ObservabilityMiddleware(_broken_app, metrics=Metrics())

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/anything", headers={"X-Request-ID": "req-42"})

    answer = asyncio.run(get())
    assert answer.status_code == 500
    assert answer.headers["x-request-id"] == "req-42"
    assert answer.json()["error"] == {
        "type": "internal_error",
        "message": "internal error; the request id is in the logs",
        "request_id": "req-42",
    }
