"""ASGI middleware: request ids, access logs and metrics, and the request body cap.

Pure ASGI rather than `BaseHTTPMiddleware`, so the body cap can stop reading a request part
way (a client announcing a small body and sending a large one is cut off just the same).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.jsontypes import JSONObject
from agent.service.metrics import Metrics

log = logging.getLogger("toolroute.access")

REQUEST_ID_HEADER = "x-request-id"
# A caller's own id is kept if it is short and plain; anything else gets a fresh one.
_CALLER_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record, so log lines of one request can be joined."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def error_body(kind: str, message: str, **extra: Any) -> JSONObject:
    """The one error shape every route answers with."""
    return {
        "error": {"type": kind, "message": message, "request_id": request_id_var.get(), **extra}
    }


class ObservabilityMiddleware:
    """Request id in and out, one access log line and the HTTP metrics per request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, REQUEST_ID_HEADER)
        request_id = given if given and _CALLER_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Answered here, not by Starlette's outermost handler: there the request id
            # is already gone, and the client could not quote it.
            log.error("unhandled error", exc_info=exc)
            if started_response:
                raise
            status = 500
            await _send_json(
                send_with_id,
                500,
                error_body("internal_error", "internal error; the request id is in the logs"),
            )
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.request_seconds.labels(method, route).observe(elapsed)
            log.info("%s %s %d %.1fms", method, scope["path"], status, elapsed * 1000)
            request_id_var.reset(token)


class BodyLimitMiddleware:
    """413 for a request body over its route's limit, announced or not.

    An unannounced body is counted as it arrives; past the limit the app is handed an
    end-of-body (so it stops reading) and whatever it answers is replaced by the 413.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _header(scope, "content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        seen = 0
        over = False

        async def counting_receive() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded_send(message: Message) -> None:
            if not over:
                await send(message)
            elif message["type"] == "http.response.start":
                await _too_large(send, limit)
            # else: the app's own body for a response that was replaced; dropped

        await self.app(scope, counting_receive, guarded_send)


async def _too_large(send: Send, limit: int) -> None:
    await _send_json(
        send,
        413,
        error_body("payload_too_large", f"the request body is over the {limit:,}-byte limit"),
    )


async def _send_json(send: Send, status: int, payload: JSONObject) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: str) -> str | None:
    wanted = name.encode()
    for key, value in scope.get("headers", []):
        if key.lower() == wanted:
            return str(value.decode("latin-1"))
    return None


def _route_template(scope: Scope) -> str:
    """The matched route's path template (`/v1/tasks/{task_id}`), never the raw path, so
    the metrics' label values stay few."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
