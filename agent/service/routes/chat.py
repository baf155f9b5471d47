"""`POST /v1/chat/completions`: toolroute as an OpenAI-compatible tool-calling model.

The last user message is the request. With `tools`, those functions are this request's
catalog; without, the service's catalog is. The answer carries the pipeline's call as
`tool_calls`, plus a `toolroute` object (task id, arm, API id, execution) that the OpenAI
SDK keeps in `model_extra`. Set `model` to `toolroute` (routed) or to an arm's name.

After a tool result (a last message with role `tool`), there is nothing left to call: the
answer is a plain assistant message quoting that result, so an agent loop ends.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from agent.pipeline import TaskRequest
from agent.resolve import callable_name
from agent.service.deps import CallerDep, StateDep, run_task
from agent.service.schemas import error_responses
from agent.task import ParsedCall, TaskResult
from apidb import APIDoc

router = APIRouter(tags=["openai"])
ROUTED_MODELS = ("toolroute", "auto")
MAX_TOOLS = 128


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls, tool_call_id, ...

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class FunctionDef(BaseModel):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    description: str = ""
    parameters: dict[str, Any] | None = None


class ToolDef(BaseModel):
    type: Literal["function"]
    function: FunctionDef


class ChatCompletionRequest(BaseModel):
    # Other OpenAI options (temperature, max_tokens, ...) are accepted and ignored: a
    # client's defaults must not break the call.
    model_config = ConfigDict(extra="allow")

    model: str = Field(default="toolroute", max_length=100)
    messages: list[ChatMessage] = Field(min_length=1, max_length=500)
    tools: list[ToolDef] | None = Field(default=None, max_length=MAX_TOOLS)
    tool_choice: Any = None
    stream: bool = False
    n: int = Field(default=1, ge=1, le=1)


@router.post(
    "/v1/chat/completions",
    responses=error_responses(401, 404, 422, 429, 503),
    summary="OpenAI-compatible chat completions that answer with tool calls",
)
async def chat_completions(
    body: ChatCompletionRequest, state: StateDep, caller: CallerDep
) -> dict[str, Any]:
    if body.stream:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "stream=true is not supported; send stream=false"
        )
    arm = _arm_for(body.model, state.pipeline.pool.names)
    last = body.messages[-1]
    if last.role in ("tool", "function"):
        return _completion(body.model, _text(last.content), None, None, usage=(0, 0))
    query = _query(body.messages)
    tools = [t.model_dump(exclude_none=True) for t in body.tools] if body.tools else None
    wants_calls = body.tool_choice != "none"

    def work() -> tuple[TaskResult, APIDoc | None]:
        toolset = state.toolsets.get(tools) if tools else None
        request = TaskRequest(query, arm=arm, toolset=toolset, owner=caller.owner)
        task = state.run_pipeline(request)
        api_id = task.api_id
        doc = None
        if api_id and toolset is not None:
            doc = toolset.resolver.doc(api_id)
        elif api_id and api_id in state.pipeline.store:
            doc = state.pipeline.store.get(api_id)
        return task, doc

    task, doc = await run_task(state, work)
    usage = (task.tokens.in_, task.tokens.out)
    call = task.parsed_call
    # Only a call that resolved to one of the tools becomes a tool call: a client must never
    # be asked to run a function it did not define.
    if call is None or doc is None or not wants_calls:
        text = task.call or (task.execution.output if task.execution else "")
        return _completion(body.model, text, None, task, usage=usage)
    return _completion(body.model, None, _tool_call(call, doc), task, usage=usage)


def _arm_for(model: str, arms: list[str]) -> str | None:
    if model in ROUTED_MODELS:
        return None
    if model in arms:
        return model
    raise HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"unknown model {model!r}; use {' or '.join(ROUTED_MODELS)} (routed) or an arm: "
        + ", ".join(arms),
    )


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(str(p.get("text", "")) for p in content if p.get("type") == "text")


def _query(messages: list[ChatMessage]) -> str:
    for message in reversed(messages):
        if message.role == "user":
            text = _text(message.content).strip()
            if text:
                return text
    raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "no user message with text")


def _tool_call(call: ParsedCall, doc: APIDoc | None) -> dict[str, Any]:
    """The call as an OpenAI tool call: the API's callable name, arguments as JSON
    (positional arguments named by the schema's order where it has one)."""
    arguments: dict[str, Any] = dict(call.keywords)
    positional = list(call.positional)
    if doc is not None and doc.kind != "python":
        name = callable_name(doc)
        order = list(((doc.parameters or {}).get("properties") or {}).keys())
        for key, value in zip(order, positional, strict=False):
            arguments.setdefault(key, value)
        positional = positional[len(order) :]
    else:
        name = re.sub(r"[^A-Za-z0-9_-]", "_", call.function)[:64] or "call"
    if positional:
        arguments["args"] = positional
    return {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments, default=str)},
    }


def _completion(
    model: str,
    content: str | None,
    tool_call: dict[str, Any] | None,
    task: TaskResult | None,
    *,
    usage: tuple[int, int],
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_call is not None:
        message["tool_calls"] = [tool_call]
    response: dict[str, Any] = {
        "id": f"chatcmpl-{task.task_id if task else uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": (task.arm if task else None) or model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if tool_call is not None else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        },
    }
    if task is not None:
        execution = task.execution
        response["toolroute"] = {
            "task_id": task.task_id,
            "arm": task.arm,
            "api_id": task.api_id,
            "call": task.call,
            "execution": {
                "status": execution.status if execution else None,
                "output": execution.output if execution else None,
            },
        }
    return response
