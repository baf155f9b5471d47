"""toolroute as a Model Context Protocol server (the official `mcp` SDK).

    server = build_server(backend)   # the tools and resources, on any transport
    server.run("stdio")              # `toolroute mcp`; the service mounts it at /mcp

Tools:
- `search_apis(query, hub?, k?)`: the catalog's best APIs for a request;
- `call_api(request, hub?)`: the whole pipeline (retrieve, route, fill, verify, execute),
  stored as a task like any other; returns the call, its verification and its output;
- `feedback(task_id, score)`: a thumbs up (1) or down (-1) on one's own task, which
  teaches the router.

Resources: `toolroute://hubs` (the hubs and their sizes), `toolroute://hubs/{hub}` (a hub's
APIs) and `toolroute://apis/{+id}` (one API's documentation).

The backend is what differs between transports: over stdio it is a local pipeline, in
the service it is the service's own (its admission, its metrics, the caller's key).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from agent.answer import TaskRequest
from agent.errors import TOOLROUTE_ERRORS

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from agent.pipeline import Pipeline
    from agent.task import TaskResult

# A hub's resource lists at most this many APIs (a catalog may hold 100,000).
MAX_LISTED = 500


@dataclass(frozen=True)
class Backend:
    """What the MCP tools run on. `run` runs a task (with whatever admission control the
    transport has); `owner` is who is asking (their tasks only)."""

    pipeline: Pipeline
    run: Callable[[TaskRequest], Awaitable[TaskResult]]
    owner: Callable[[], str | None]


def local_backend(pipeline: Pipeline, owner: str = "local") -> Backend:
    """A backend over one local pipeline (`toolroute mcp`), tasks owned by `owner`."""

    async def run(request: TaskRequest) -> TaskResult:
        return await anyio.to_thread.run_sync(pipeline.run, request)

    return Backend(pipeline, run, lambda: owner)


def build_server(backend: Backend, version: str = "") -> MCPServer:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError

    server: MCPServer = MCPServer(
        name="toolroute",
        version=version,
        instructions=(
            "toolroute turns a request in plain words into a verified API call. "
            "search_apis finds documentation, call_api makes and runs the call, "
            "feedback rates a call's result."
        ),
        log_level="WARNING",
    )
    pipeline = backend.pipeline

    @server.tool()
    async def search_apis(query: str, hub: str | None = None, k: int = 5) -> dict[str, Any]:
        """Find the catalog's APIs that fit a request, best first."""
        try:
            hits = await anyio.to_thread.run_sync(
                lambda: pipeline.retriever.search(query, k, hub=hub)
            )
        except TOOLROUTE_ERRORS as exc:
            raise ToolError(str(exc)) from exc
        return {
            "query": query,
            "apis": [
                {
                    "id": hit.doc.id,
                    "hub": hit.doc.hub,
                    "call": hit.doc.call,
                    "description": hit.doc.description,
                    "score": round(hit.score, 4),
                }
                for hit in hits
            ],
        }

    @server.tool()
    async def call_api(request: str, hub: str | None = None) -> dict[str, Any]:
        """Turn a request into an API call: retrieve, route, fill, verify and execute it.
        Returns the task id (for feedback), the call, its verification and its output."""
        try:
            task = await backend.run(TaskRequest(request, hub=hub, owner=backend.owner()))
        except TOOLROUTE_ERRORS as exc:
            raise ToolError(str(exc)) from exc
        return _task_summary(task)

    @server.tool()
    async def feedback(task_id: str, score: int) -> dict[str, Any]:
        """Rate one of your tasks: 1 (right), -1 (wrong) or 0. Counted once per task."""
        try:
            recorded = await anyio.to_thread.run_sync(
                lambda: pipeline.feedback(task_id, score, source="mcp", owner=backend.owner())
            )
        except TOOLROUTE_ERRORS as exc:
            raise ToolError(str(exc)) from exc
        return {"task_id": task_id, "recorded": recorded}

    @server.resource("toolroute://hubs", mime_type="application/json")
    def hubs() -> str:
        """The catalog's hubs and how many APIs each holds."""
        return json.dumps(pipeline.store.hubs())

    @server.resource("toolroute://hubs/{hub}", mime_type="application/json")
    def hub_apis(hub: str) -> str:
        """A hub's APIs (id and call), ordered by id."""
        docs = pipeline.store.list_docs(hub=hub, limit=MAX_LISTED)
        if not docs:
            raise ResourceNotFoundError(f"no hub {hub!r} (or it is empty)")
        return json.dumps([{"id": doc.id, "call": doc.call} for doc in docs])

    @server.resource("toolroute://apis/{+doc_id}", mime_type="application/json")
    def api_doc(doc_id: str) -> str:
        """One API's documentation."""
        from apidb import DocNotFoundError

        try:
            doc = pipeline.store.get(doc_id)
        except DocNotFoundError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        return doc.model_dump_json(exclude_none=True)

    return server


def _task_summary(task: TaskResult) -> dict[str, Any]:
    execution = task.execution
    verification = task.calls[0].verification if task.calls else None
    return {
        "task_id": task.task_id,
        "arm": task.arm,
        "api_id": task.api_id,
        "call": task.call,
        "calls": [call.code for call in task.calls],
        "verification": verification.model_dump(mode="json") if verification else None,
        "status": execution.status if execution else None,
        "output": execution.output if execution else None,
        "reward": task.reward,
    }
