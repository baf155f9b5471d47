"""A chat completion request as a pipeline task, and the task as a `chat.completion`.

    turn = prepare(body, arms=pool.names)          # checks everything, runs nothing
    task = run(task_request(turn, toolsets, owner))  # the pipeline (stored, learned from)
    reply = respond(turn, task)                      # or, streamed: agent.chat.stream

The last user message is the request. With `tools` (or the legacy `functions`), those
functions are this request's catalog; without, the service's catalog is. `model` is
`toolroute` (routed) or an arm.

- The calls that verified become `tool_calls` (several when the request asks for several
  things), with `finish_reason: "tool_calls"` (`function_call` for a legacy request);
- a request no offered tool fits (the selection declined) gets a plain assistant message
  saying so, `finish_reason: "stop"`; so does `tool_choice: "none"`;
- a call that did not validate (an argument missing or of the wrong type, output that is
  not a call) is never sent as a tool call: a client must not be asked to run a function
  its schema rejects. The message says what went wrong. A call that validates but has a
  required argument the request does not state is sent (it is the best call there is),
  and its verification in `toolroute.calls` says which.

An agent loop continues the conversation with the tool results. A request can need more
than one turn: in "get the weather in Paris, then email it to Ana" the email waits for the
weather (`agent.calls.plan.stages`), and its turn writes that result into the request.
When every stage has had its turn, the answer states the results in plain words
(`agent.chat.conversation.summary`), never the raw JSON alone.

`response_format` with a JSON schema is answered by filling that schema as if it were a
function's parameters (the grammar of an LLM arm, or the template arm's extractor): the
content is the JSON object.

Every answer carries a `toolroute` object (task id, arm, calls, selection, execution),
which the OpenAI SDK keeps in `model_extra`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from agent.answer import TaskRequest
from agent.calls.dates import stated_date
from agent.calls.plan import refer_to, stages
from agent.calls.select import ToolChoice
from agent.chat.conversation import Conversation, read, result_text, summary
from agent.chat.schema import ROUTED_MODELS, ChatCompletionRequest, ChatMessage
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
    query: str  # what the pipeline is asked this turn ("" when nothing is left to call)
    tools: list[JSONObject] | None
    tool_choice: ToolChoice
    answer: str | None = None  # the answer, when nothing is left to call
    legacy: bool = False  # the request used `functions`: answer with `function_call`
    structured: str | None = None  # response_format: the function whose arguments answer
    json_object: bool = False  # response_format json_object: the content is a JSON object
    stream: bool = False
    include_usage: bool = False
    today: date | None = None  # the date the conversation gives as today, if it does

    @property
    def needs_task(self) -> bool:
        return self.answer is None

    @property
    def client_tools(self) -> bool:
        return self.tools is not None and self.structured is None


def prepare(body: ChatCompletionRequest, arms: Sequence[str]) -> ChatTurn:
    """Check a request before anything runs. Raises `ChatRequestError`."""
    arm = _arm_for(body.model, arms)
    tools, choice, structured = _tools_and_choice(body)
    conversation = read(body.messages)
    if not conversation.request:
        raise ChatRequestError("no user message with text: there is nothing to answer")
    # Stages are for a client's own tools, which it runs between turns. The service's
    # catalog answers a request whole: a model API request describes one task however
    # many verbs it uses ("transcribe the audio and then translate it").
    whole = structured is not None or tools is None
    query, answer = _this_turn(conversation, choice, whole=whole)
    return ChatTurn(
        model=body.model,
        arm=arm,
        query=query,
        tools=tools,
        tool_choice=choice,
        answer=answer,
        legacy=body.functions is not None,
        structured=structured,
        json_object=body.response_format is not None and body.response_format.type == "json_object",
        stream=body.stream,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
        today=_stated_today(body.messages),
    )


def _stated_today(messages: Sequence[ChatMessage]) -> date | None:
    """The date the conversation gives as today ("Today is 2023-10-23"), as agent
    frameworks put it in the system prompt; the latest one said wins."""
    for message in reversed(messages):
        if message.role in ("system", "developer", "user"):
            stated = stated_date(message.text)
            if stated is not None:
                return stated
    return None


def _tools_and_choice(
    body: ChatCompletionRequest,
) -> tuple[list[JSONObject] | None, ToolChoice, str | None]:
    """The request's functions as tools, its tool choice, and the name of the function a
    JSON-schema response is written as (None without one)."""
    form = body.response_format
    if form is not None and form.type == "json_schema" and form.json_schema is not None:
        spec = form.json_schema
        function = {
            "name": spec.name,
            "description": spec.description or f"The {spec.name} the request describes",
            "parameters": spec.schema_,
        }
        return (
            [{"type": "function", "function": function}],
            ToolChoice("function", spec.name),
            spec.name,
        )
    if body.functions is not None:
        tools: list[JSONObject] | None = [
            {"type": "function", "function": f.model_dump(exclude_none=True)}
            for f in body.functions
        ]
        asked: object = body.function_call
    else:
        tools = (
            [t.model_dump(exclude_none=True) for t in body.tools]
            if body.tools is not None
            else None
        )
        asked = body.tool_choice
    try:
        choice = ToolChoice.parse(asked)
    except ConfigError as exc:
        raise ChatRequestError(str(exc)) from exc
    if choice.mode == "function" and tools is not None:
        offered = {tool["function"]["name"] for tool in tools}
        if choice.function not in offered:
            raise ChatRequestError(
                f"tool_choice names {choice.function!r}, which is not among the tools: "
                + (", ".join(sorted(offered)) or "(none)")
            )
    if choice.mode == "required" and tools is not None and not tools:
        raise ChatRequestError("tool_choice is 'required' but no tools were offered")
    return tools, choice, None


def _this_turn(
    conversation: Conversation, choice: ToolChoice, *, whole: bool
) -> tuple[str, str | None]:
    """(what to ask the pipeline, the answer when nothing is left to call)."""
    if whole:
        return conversation.request, None
    waiting = stages(conversation.request)
    done = conversation.turns_done
    if not conversation.ends_on_results:
        return waiting[min(done, len(waiting) - 1)], None
    if done < len(waiting) and choice.mode != "none":
        return refer_to(waiting[done], result_text(conversation.results)), None
    return "", summary(conversation.all_results)


def task_request(
    turn: ChatTurn, toolsets: ToolsetCache | None, owner: str | None = None
) -> TaskRequest:
    """The pipeline task for a turn. Building the toolset indexes the request's tools
    (cached by content); an invalid tool definition raises `LoaderError`."""
    toolset = toolsets.get(turn.tools) if turn.tools and toolsets is not None else None
    return TaskRequest(
        turn.query,
        arm=turn.arm,
        toolset=toolset,
        owner=owner,
        tool_choice=turn.tool_choice,
        today=turn.today,
    )


def respond(turn: ChatTurn, task: TaskResult | None) -> JSONObject:
    """The `chat.completion` for a turn and its task (None when it needed none)."""
    if task is None:
        return _completion(turn, _as_json(turn, turn.answer or ""), [], None)
    if turn.structured is not None:
        return _completion(turn, _structured(turn.structured, task), [], task)
    calls = [call for call in task.calls if _sendable(call)]
    if not calls:
        return _completion(turn, _as_json(turn, _no_call_message(task)), [], task)
    # The service's own catalog: the client cannot run these functions, so the message
    # also says in words what was called and what it gave.
    content = None if turn.client_tools else _catalog_message(task)
    return _completion(turn, content, [_tool_call(call) for call in calls], task)


def _as_json(turn: ChatTurn, text: str) -> str:
    return json.dumps({"answer": text}) if turn.json_object else text


def _structured(function: str, task: TaskResult) -> str:
    """The JSON object a schema response is: the arguments of the call written for it (the
    best one, verified or not: the client asked for this shape, not for a tool call)."""
    written = [call for call in task.calls if call.function == function]
    best = next((call for call in written if call.status == "ok"), written[0] if written else None)
    return json.dumps(best.arguments if best is not None else {}, default=str)


def _sendable(call: CallRecord) -> bool:
    """Whether a call may go to the client: it names an offered API and it ran (or, for a
    client's tools, its arguments fit the schema)."""
    return call.api_id is not None and call.status == "ok"


def _catalog_message(task: TaskResult) -> str:
    execution = task.execution
    said = f"Called {task.call}"
    if execution is not None and execution.status:
        said += f" ({execution.status})"
    if execution is not None and execution.output:
        said += f": {execution.output}"
    return said


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


def _tool_call(call: CallRecord) -> JSONObject:
    return {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": call.function, "arguments": json.dumps(call.arguments, default=str)},
    }


def _completion(
    turn: ChatTurn, content: str | None, tool_calls: list[JSONObject], task: TaskResult | None
) -> JSONObject:
    message: JSONObject = {"role": "assistant", "content": content}
    finish = "stop"
    if tool_calls and turn.legacy:
        # The legacy form has one call per message.
        message["function_call"] = tool_calls[0]["function"]
        finish = "function_call"
    elif tool_calls:
        message["tool_calls"] = tool_calls
        finish = "tool_calls"
    tokens_in, tokens_out = (task.tokens.in_, task.tokens.out) if task else (0, 0)
    response: JSONObject = {
        "id": f"chatcmpl-{task.task_id if task else uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": (task.arm if task else None) or turn.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": tokens_in,
            "completion_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        },
    }
    if task is not None:
        response["toolroute"] = toolroute_extra(task)
    return response


def toolroute_extra(task: TaskResult) -> JSONObject:
    """What toolroute adds to an answer: the task, its arm, calls, selection, execution."""
    execution = task.execution
    return {
        "task_id": task.task_id,
        "arm": task.arm,
        "api_id": task.api_id,
        "call": task.call,
        "reward": task.reward,
        "calls": [call.model_dump(mode="json") for call in task.calls],
        "selection": task.selection.model_dump(mode="json") if task.selection else None,
        "execution": {
            "status": execution.status if execution else None,
            "output": execution.output if execution else None,
        },
    }
