"""`/mcp`: the MCP server (`agent.mcpserver`) over streamable HTTP, behind the API keys.

The route is an ordinary FastAPI route, so the caller is checked exactly as everywhere
else (401, the rate limit, the failed-authentication limit); then the SDK's session
manager answers the request. Sessions are stateless: any replica can answer any request,
and nothing is kept between them. The caller's key goes to the tools through a context
variable, which the per-request server task inherits.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import APIRouter, HTTPException, status
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from agent.answer import TaskRequest
from agent.errors import ServiceBusyError
from agent.mcpserver import Backend, build_server
from agent.service.auth import ApiKey
from agent.service.deps import CallerDep, StateDep, run_task
from agent.service.state import ServiceState

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    from agent.task import TaskResult

router = APIRouter(include_in_schema=False)

_caller: contextvars.ContextVar[ApiKey | None] = contextvars.ContextVar("mcp_caller", default=None)


@asynccontextmanager
async def mcp_sessions(state: ServiceState, version: str) -> AsyncIterator[None]:
    """The MCP session manager for the service's lifetime (part of the app's lifespan)."""
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    async def run(request: TaskRequest) -> TaskResult:
        try:
            return await run_task(state, lambda: state.run_pipeline(request))
        except HTTPException as exc:  # a full queue: the tool answers with the reason
            raise ServiceBusyError(str(exc.detail)) from exc

    def owner() -> str | None:
        caller = _caller.get()
        return caller.owner if caller is not None else None

    server = build_server(Backend(state.pipeline, run, owner), version=version)
    manager = StreamableHTTPSessionManager(
        app=server._lowlevel_server,  # noqa: SLF001 - the SDK's documented way to mount it
        stateless=True,
        json_response=True,
    )
    state.mcp_sessions = manager
    async with manager.run():
        yield


class _Delegate(Response):
    """A response that lets the MCP session manager answer the request itself."""

    def __init__(self, manager: StreamableHTTPSessionManager, caller: ApiKey) -> None:
        self.manager = manager
        self.caller = caller
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _caller.set(self.caller)
        try:
            await self.manager.handle_request(scope, receive, send)
        finally:
            _caller.reset(token)


@router.api_route("/mcp", methods=["GET", "POST", "DELETE"])
async def mcp_endpoint(state: StateDep, caller: CallerDep) -> Response:
    manager = state.mcp_sessions
    if manager is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the MCP server is not running")
    return _Delegate(manager, caller)
