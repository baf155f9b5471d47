"""`POST /v1/chat/completions` and `GET /v1/models`: toolroute as an OpenAI-compatible
tool-calling model.

The request and the answer are `agent.chat`'s (shared with `toolroute bench calls`); this
route only checks the caller, runs the task in a worker thread and maps errors: an unknown
`model` is a 404 (as OpenAI answers), any other request problem a 422. Everything that can
be refused is refused before a stream starts, so a streamed request gets the same HTTP
errors as a plain one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import StreamingResponse

from agent.answer import TaskRequest
from agent.chat.completion import (
    ChatRequestError,
    ChatTurn,
    UnknownModelError,
    prepare,
    respond,
    task_request,
)
from agent.chat.schema import ROUTED_MODELS, ChatCompletionRequest
from agent.chat.stream import ChunkWriter
from agent.errors import AgentError, DatabaseUnavailableError
from agent.service.deps import CallerDep, StateDep, admit, run_admitted, run_task
from agent.service.middleware import error_body
from agent.service.schemas import error_responses
from agent.service.state import ServiceState
from agent.task import TaskResult
from apidb.errors import CatalogUnavailableError
from router.errors import RouterUnavailableError

log = logging.getLogger("toolroute.service")

router = APIRouter(tags=["openai"])

# Sent by the SSE answer so that proxies (nginx) pass each event on at once.
_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.post(
    "/v1/chat/completions",
    responses=error_responses(401, 404, 422, 429, 503),
    summary="OpenAI-compatible chat completions that answer with tool calls",
)
async def chat_completions(body: ChatCompletionRequest, state: StateDep, caller: CallerDep) -> Any:
    try:
        turn = prepare(body, state.pipeline.pool.names)
    except UnknownModelError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ChatRequestError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    if turn.stream:
        return await _stream(turn, state, caller.owner)
    if not turn.needs_task:
        return respond(turn, None)

    def work() -> TaskResult:
        return state.run_pipeline(task_request(turn, state.toolsets, caller.owner))

    return respond(turn, await run_task(state, work))


async def _stream(turn: ChatTurn, state: ServiceState, owner: str | None) -> StreamingResponse:
    """Check and admit first (errors are still HTTP errors), then stream."""
    request: TaskRequest | None = None
    if turn.needs_task:
        request = await run_task(state, lambda: task_request(turn, state.toolsets, owner))
        admit(state)
    writer = ChunkWriter(turn.model)

    async def events() -> AsyncIterator[str]:
        yield writer.opening()
        if request is None:
            answer = respond(turn, None)
        else:
            try:
                task = await run_admitted(state, lambda: state.run_pipeline(request))
            except Exception as exc:  # noqa: BLE001 - the stream has begun: end it with the error
                log.error("streamed task failed", exc_info=exc)
                for event in writer.failure(_stream_error(exc)):
                    yield event
                return
            answer = respond(turn, task)
        for event in writer.rest(answer, include_usage=turn.include_usage):
            yield event

    return StreamingResponse(events(), media_type="text/event-stream", headers=_STREAM_HEADERS)


def _stream_error(exc: Exception) -> dict[str, Any]:
    """The error event for a failure after the stream began: toolroute's own errors say
    what happened; anything else says only that it did (the details are in the log)."""
    if isinstance(exc, DatabaseUnavailableError | CatalogUnavailableError | RouterUnavailableError):
        return error_body("database_unavailable", str(exc))
    if isinstance(exc, AgentError):
        return error_body("agent_error", str(exc))
    return error_body("internal_error", "internal error; the request id is in the logs")


@router.get(
    "/v1/models",
    responses=error_responses(401, 429),
    summary="The models a chat completion may name: routed, or one arm",
)
def list_models(state: StateDep, caller: CallerDep) -> dict[str, Any]:
    return {"object": "list", "data": [_model(name) for name in _model_names(state)]}


@router.get(
    "/v1/models/{model}",
    responses=error_responses(401, 404, 429),
    summary="One model",
)
def get_model(model: str, state: StateDep, caller: CallerDep) -> dict[str, Any]:
    if model not in _model_names(state):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown model {model!r}")
    return _model(model)


def _model_names(state: ServiceState) -> list[str]:
    return [*ROUTED_MODELS, *state.pipeline.pool.names]


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "toolroute"}
