"""`POST /v1/chat/completions`: toolroute as an OpenAI-compatible tool-calling model.

The request and the answer are `agent.chat`'s (shared with `toolroute bench calls`); this
route only checks the caller, runs the task in a worker thread and maps errors: an unknown
`model` is a 404 (as OpenAI answers), any other request problem a 422.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from agent.chat.completion import (
    ChatRequestError,
    UnknownModelError,
    prepare,
    respond,
    task_request,
)
from agent.chat.schema import ChatCompletionRequest
from agent.service.deps import CallerDep, StateDep, run_task
from agent.service.schemas import error_responses
from agent.task import TaskResult

router = APIRouter(tags=["openai"])


@router.post(
    "/v1/chat/completions",
    responses=error_responses(401, 404, 422, 429, 503),
    summary="OpenAI-compatible chat completions that answer with tool calls",
)
async def chat_completions(
    body: ChatCompletionRequest, state: StateDep, caller: CallerDep
) -> dict[str, Any]:
    try:
        turn = prepare(body, state.pipeline.pool.names)
    except UnknownModelError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ChatRequestError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    if not turn.needs_task:
        return respond(turn, None)

    def work() -> TaskResult:
        return state.run_pipeline(task_request(turn, state.toolsets, caller.owner))

    return respond(turn, await run_task(state, work))
