"""The chat endpoint's pieces without a server: hostile tool schemas, the stream's
events (including the error event a failure after the stream began becomes), and where
a conversation stands."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from agent.chat.conversation import read, summary
from agent.chat.schema import ChatMessage, FunctionDef
from agent.chat.stream import DONE, ChunkWriter


def _nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": {}}
    inner = schema
    for _ in range(depth):
        child: dict[str, Any] = {"type": "object", "properties": {}}
        inner["properties"] = {"x": child}
        inner = child
    return schema


def test_a_schema_nested_past_any_use_is_refused_not_crashed() -> None:
    with pytest.raises(ValidationError, match="nested too deeply"):
        FunctionDef(name="f", parameters=_nested(2000))
    FunctionDef(name="f", parameters=_nested(20))  # deep, but usable


def _events(lines: list[str]) -> list[Any]:
    assert all(line.startswith("data: ") and line.endswith("\n\n") for line in lines)
    return [line[6:].strip() for line in lines]


def test_the_stream_carries_each_call_then_the_finish_usage_and_done() -> None:
    writer = ChunkWriter("template")
    completion = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "function": {"name": "f", "arguments": '{"a": 1}'}},
                        {"id": "c2", "function": {"name": "g", "arguments": "{}"}},
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        "toolroute": {"task_id": "t"},
    }
    opening = json.loads(_events([writer.opening()])[0])
    assert opening["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    *chunks, done = _events(writer.rest(completion, include_usage=True))
    assert done == DONE[6:].strip()
    parsed = [json.loads(chunk) for chunk in chunks]
    assert {chunk["id"] for chunk in parsed} == {opening["id"]}
    deltas = [chunk["choices"][0]["delta"] for chunk in parsed if chunk["choices"]]
    assert deltas[0]["tool_calls"][0] == {
        "index": 0,
        "id": "c1",
        "type": "function",
        "function": {"name": "f", "arguments": ""},
    }
    assert deltas[1]["tool_calls"][0]["function"] == {"arguments": '{"a": 1}'}
    assert deltas[2]["tool_calls"][0]["index"] == 1
    finish = parsed[-2]
    assert finish["choices"][0]["finish_reason"] == "tool_calls"
    assert finish["toolroute"] == {"task_id": "t"}
    assert parsed[-1]["choices"] == [] and parsed[-1]["usage"]["total_tokens"] == 3


def test_a_failure_after_the_stream_began_is_an_error_event_then_done() -> None:
    error = {"error": {"type": "agent_error", "message": "boom", "request_id": "r"}}
    event, done = ChunkWriter("template").failure(error)
    assert json.loads(event[6:]) == error and done == DONE


def test_the_conversation_since_the_last_request() -> None:
    messages = [
        ChatMessage(role="user", content="an older request"),
        ChatMessage(role="user", content="weather in Oslo, then email it to Ana"),
        ChatMessage.model_validate(
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "a",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            }
        ),
        ChatMessage.model_validate({"role": "tool", "tool_call_id": "a", "content": '{"t": 3}'}),
    ]
    state = read(messages)
    assert state.request == "weather in Oslo, then email it to Ana"
    assert state.turns_done == 1 and state.ends_on_results
    assert summary(state.all_results) == 'get_weather(city="Oslo") returned t 3.'
    assert not read(messages[:2]).ends_on_results
