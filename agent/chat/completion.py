"""A chat completion request as a pipeline task, and the task as a `chat.completion`.

    turn = prepare(body, arms=pool.names)          # checks everything, runs nothing
    task = run(task_request(turn, toolsets, owner))  # the pipeline (stored, learned from)
    reply = respond(turn, task)

The last user message is the request. With `tools`, those functions are this request's
catalog; without, the service's catalog is. `model` is `toolroute` (routed) or an arm.

- The calls that verified become `tool_calls` (several when the request asks for several
  things), with `finish_reason: "tool_calls"`;
- a request no offered tool fits (the selection declined) gets a plain assistant message
  saying so, `finish_reason: "stop"`; so does `tool_choice: "none"`;
- a call that did not validate (an argument missing or of the wrong type, output that is
  not a call) is never sent as a tool call: a client must not be asked to run a function
  its schema rejects. The message says what went wrong. A call that validates but has a
  required argument the request does not state is sent (it is the best call there is),
  and its verification in `toolroute.calls` says which.

After a tool result (a last message with role `tool`), there is nothing left to call: the
answer is a plain assistant message quoting that result, so an agent loop ends.

Every answer carries a `toolroute` object (task id, arm, calls, selection, execution),
which the OpenAI SDK keeps in `model_extra`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.answer import TaskRequest
from agent.calls.select import ToolChoice
from agent.chat.schema import ROUTED_MODELS, ChatCompletionRequest
from agent.errors import ConfigError
from agent.jsontypes import JSONObject

if TYPE_CHECKING:
    from agent.task import CallRecord, TaskResult
    from agent.toolset import ToolsetCache


class ChatRequestError(ConfigError):
    """The request cannot be answered as sent (the service answers 422)."""


class UnknownModelError(ChatRequestError):
    """`model` is neither routed nor an arm (the service answers 404, as OpenAI does)."""


@dataclass(frozen=True)
class ChatTurn:
    """What one chat request asks of toolroute, checked."""

    model: str
    arm: str | None  # None: routed
    query: str
    tools: list[JSONObject] | None
    tool_choice: ToolChoice
    tool_result: str | None = None  # the conversation ended on a tool's result

    @property
    def needs_task(self) -> bool:
        return self.tool_result is None


def prepare(body: ChatCompletionRequest, arms: Sequence[str]) -> ChatTurn:
    """Check a request before anything runs. Raises `ChatRequestError`."""
    arm = _arm_for(body.model, arms)
    if body.stream:
        raise ChatRequestError("stream=true is not supported; send stream=false")
    tools = [t.model_dump(exclude_none=True) for t in body.tools] if body.tools else None
    try:
        choice = ToolChoice.parse(body.tool_choice)
    except ConfigError as exc:
        raise ChatRequestError(str(exc)) from exc
    if choice.mode == "function" and tools is not None:
        offered = {tool["function"]["name"] for tool in tools}
        if choice.function not in offered:
            raise ChatRequestError(
                f"tool_choice names {choice.function!r}, which is not among the tools: "
                + ", ".join(sorted(offered))
            )
    if choice.mode == "required" and body.tools is not None and not body.tools:
        raise ChatRequestError("tool_choice is 'required' but no tools were offered")
    last = body.messages[-1]
    tool_result = last.text if last.role in ("tool", "function") else None
    query = _query(body) if tool_result is None else ""
    return ChatTurn(body.model, arm, query, tools, choice, tool_result)


def task_request(
    turn: ChatTurn, toolsets: ToolsetCache | None, owner: str | None = None
) -> TaskRequest:
    """The pipeline task for a turn. Building the toolset indexes the request's tools
    (cached by content); an invalid tool definition raises `LoaderError`."""
    toolset = toolsets.get(turn.tools) if turn.tools and toolsets is not None else None
    return TaskRequest(
        turn.query, arm=turn.arm, toolset=toolset, owner=owner, tool_choice=turn.tool_choice
    )


def respond(turn: ChatTurn, task: TaskResult | None) -> JSONObject:
    """The `chat.completion` for a turn and its task (None when it needed none)."""
    if task is None:
        return _completion(turn.model, turn.tool_result or "", [], None)
    calls = [call for call in task.calls if _sendable(call)]
    if calls:
        return _completion(turn.model, None, [_tool_call(call) for call in calls], task)
    return _completion(turn.model, _no_call_message(task), [], task)


def _sendable(call: CallRecord) -> bool:
    """Whether a call may go to the client: it names an offered API and it ran (or, for a
    client's tools, its arguments fit the schema)."""
    return call.api_id is not None and call.status == "ok"


def _no_call_message(task: TaskResult) -> str:
    selection, execution = task.selection, task.execution
    if selection is not None and selection.declined:
        return f"No tool was called: {selection.reason}."
    if execution is not None and task.call:
        problem = f"{execution.status}: {execution.output}"
        return f"No tool was called: {task.call!r} is not a valid call ({problem})."
    if execution is not None and execution.output:
        return f"No tool was called: {execution.status}: {execution.output}"
    return "No tool was called."


def _arm_for(model: str, arms: Sequence[str]) -> str | None:
    if model in ROUTED_MODELS:
        return None
    if model in arms:
        return model
    raise UnknownModelError(
        f"unknown model {model!r}; use {' or '.join(ROUTED_MODELS)} (routed) or an arm: "
        + ", ".join(arms)
    )


def _query(body: ChatCompletionRequest) -> str:
    for message in reversed(body.messages):
        if message.role == "user":
            text = message.text.strip()
            if text:
                return text
    raise ChatRequestError("no user message with text: there is nothing to answer")


def _tool_call(call: CallRecord) -> JSONObject:
    return {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": call.function, "arguments": json.dumps(call.arguments, default=str)},
    }


def _completion(
    model: str, content: str | None, tool_calls: list[JSONObject], task: TaskResult | None
) -> JSONObject:
    message: JSONObject = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    tokens_in, tokens_out = (task.tokens.in_, task.tokens.out) if task else (0, 0)
    response: JSONObject = {
        "id": f"chatcmpl-{task.task_id if task else uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": (task.arm if task else None) or model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if tool_calls else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": tokens_in,
            "completion_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        },
    }
    if task is not None:
        execution = task.execution
        response["toolroute"] = {
            "task_id": task.task_id,
            "arm": task.arm,
            "api_id": task.api_id,
            "call": task.call,
            "calls": [call.model_dump(mode="json") for call in task.calls],
            "selection": task.selection.model_dump(mode="json") if task.selection else None,
            "execution": {
                "status": execution.status if execution else None,
                "output": execution.output if execution else None,
            },
        }
    return response
