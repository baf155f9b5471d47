"""A `chat.completion` as the server-sent events OpenAI streams (`stream: true`).

The pipeline answers whole, so the stream is: a first chunk with the assistant's role at
once (a client sees the answer has started while the call is being made), then the content
or each tool call (its id and name, then its arguments), the finish reason, the usage if
`stream_options.include_usage` asked for it, and `[DONE]`. These are the shapes the `openai`
SDK's stream and LangChain's chunk merging read:

    data: {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {...}}], ...}

A failure after the stream began cannot change the HTTP status any more: it is sent as an
`{"error": {...}}` event (which the SDK raises as `APIError`), then `[DONE]`.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from agent.jsontypes import JSONObject

DONE = "data: [DONE]\n\n"


@dataclass
class ChunkWriter:
    """The chunks of one streamed answer: one id, one creation time, one model."""

    model: str
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))

    def opening(self) -> str:
        return self._event({"role": "assistant", "content": ""})

    def rest(self, completion: JSONObject, *, include_usage: bool) -> list[str]:
        """Every event after the opening one, from the finished completion."""
        choice = _first_choice(completion)
        message = _object(choice.get("message"))
        events: list[str] = []
        content = message.get("content")
        if isinstance(content, str) and content:
            events.append(self._event({"content": content}))
        calls = message.get("tool_calls")
        for index, call in enumerate(calls if isinstance(calls, list) else []):
            function = _object(_object(call).get("function"))
            opening: JSONObject = {
                "index": index,
                "id": _object(call).get("id"),
                "type": "function",
                "function": {"name": function.get("name"), "arguments": ""},
            }
            events.append(self._event({"tool_calls": [opening]}))
            arguments = {"index": index, "function": {"arguments": function.get("arguments")}}
            events.append(self._event({"tool_calls": [arguments]}))
        legacy = message.get("function_call")
        if isinstance(legacy, dict):
            events.append(self._event({"function_call": legacy}))
        finish = self._chunk({}, finish_reason=choice.get("finish_reason"))
        if "toolroute" in completion:
            finish["toolroute"] = completion["toolroute"]
        events.append(_data(finish))
        if include_usage:
            usage = self._chunk(None)
            usage["usage"] = completion.get("usage")
            events.append(_data(usage))
        events.append(DONE)
        return events

    def failure(self, error: JSONObject) -> list[str]:
        return [_data(error), DONE]

    def _event(self, delta: JSONObject) -> str:
        return _data(self._chunk(delta))

    def _chunk(self, delta: JSONObject | None, finish_reason: Any = None) -> JSONObject:
        choices: list[Any] = []
        if delta is not None:
            choices.append({"index": 0, "delta": delta, "finish_reason": finish_reason})
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }


def _data(payload: JSONObject) -> str:
    return f"data: {json.dumps(payload, default=str)}\n\n"


def _first_choice(completion: JSONObject) -> JSONObject:
    choices = completion.get("choices")
    return _object(choices[0]) if isinstance(choices, list) and choices else {}


def _object(value: object) -> JSONObject:
    return value if isinstance(value, dict) else {}
