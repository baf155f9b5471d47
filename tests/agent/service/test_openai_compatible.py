"""`/v1/chat/completions` through the real `openai` client against a live server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from retriever.embedder import SentenceTransformerEmbedder
from tests.agent.service.conftest import (
    API_KEY,
    RESNET_QUERY,
    LiveServer,
    start_live_server,
)
from tests.fakes import FakeArm

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "send_email",
            "description": "Send an email message to a recipient",
            "parameters": {
                "type": "object",
                "properties": {"to": {"type": "string"}, "body": {"type": "string"}},
                "required": ["to", "body"],
            },
        },
    },
]


@pytest.fixture(scope="module")
def shared_server(
    small_index_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    embedder: SentenceTransformerEmbedder,
) -> Iterator[LiveServer]:
    """The template arm, plus `weather`: a fake model that calls the weather tool."""
    arms = {"weather": FakeArm("weather", default="get_weather(city='Paris', unit='C')")}
    server = start_live_server(small_index_dir, tmp_path_factory.mktemp("openai"), embedder, arms)
    yield server
    server.stop()


@pytest.fixture
def client(shared_server: LiveServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{shared_server.url}/v1", api_key=API_KEY, max_retries=0) as c:
        yield c


def test_the_services_catalog_answers_with_a_tool_call(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="toolroute", messages=[{"role": "user", "content": RESNET_QUERY}]
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "torch_hub_load"
    arguments = json.loads(call.function.arguments)
    extra = reply.model_extra["toolroute"]
    assert extra["arm"] == "template" and extra["execution"]["status"] == "ok"
    # The arguments are the executed call's: its repo and model name the API it resolved to.
    assert extra["api_id"] == f"torchhub/{arguments['repo_or_dir']}/{arguments['model']}"
    assert reply.id == f"chatcmpl-{extra['task_id']}"


def test_request_tools_are_the_catalog_and_arguments_are_validated(
    client: openai.OpenAI,
) -> None:
    reply = client.chat.completions.create(
        model="weather",
        messages=[
            {"role": "system", "content": "You call tools."},
            {"role": "user", "content": "what's the weather like in Paris?"},
        ],
        tools=TOOLS,
        temperature=0.2,  # accepted and ignored
    )
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "C"}
    extra = reply.model_extra["toolroute"]
    assert extra["api_id"] == "request-tools/get_weather"
    # The client runs its own tools: toolroute validates the call, it does not execute it.
    assert extra["execution"]["status"] == "ok"
    assert "arguments valid" in extra["execution"]["output"]


def test_a_call_that_breaks_the_tool_schema_is_reported(client: openai.OpenAI) -> None:
    tools = [TOOLS[1]]  # send_email(to, body): the weather call matches nothing here
    reply = client.chat.completions.create(
        model="weather", messages=[{"role": "user", "content": "email Bob"}], tools=tools
    )
    assert reply.model_extra["toolroute"]["execution"]["status"] == "invalid_call"
    # Never a tool call for a function the client did not define: the text comes back.
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].message.content == "get_weather(city='Paris', unit='C')"


def test_an_answer_that_is_not_a_call_comes_back_as_text(client: openai.OpenAI) -> None:
    # The template arm fills in no values: `get_weather(city=<string>, ...)` is not Python.
    reply = client.chat.completions.create(
        model="template", messages=[{"role": "user", "content": "weather in Oslo"}], tools=TOOLS
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "stop" and choice.message.tool_calls is None
    assert choice.message.content.startswith("get_weather(")
    assert reply.model_extra["toolroute"]["execution"]["status"] == "invalid_call"


def test_a_tool_result_ends_the_turn(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="toolroute",
        messages=[
            {"role": "user", "content": "weather in Paris"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "18 C, cloudy"},
        ],
        tools=TOOLS,
    )
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.content == "18 C, cloudy"


def test_errors_reach_the_client_as_openai_errors(
    client: openai.OpenAI, shared_server: LiveServer
) -> None:
    with pytest.raises(openai.NotFoundError, match="unknown model"):
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.UnprocessableEntityError, match="stream"):
        client.chat.completions.create(
            model="toolroute", messages=[{"role": "user", "content": "x"}], stream=True
        )
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="toolroute", messages=[])
    anonymous = openai.OpenAI(base_url=f"{shared_server.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        anonymous.chat.completions.create(
            model="toolroute", messages=[{"role": "user", "content": "x"}]
        )
    anonymous.close()
