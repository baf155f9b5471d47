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
    # Never a tool call for a function the client did not define: a message says why.
    choice = reply.choices[0]
    assert choice.message.tool_calls is None and choice.finish_reason == "stop"
    assert choice.message.content.startswith('No tool was called: "get_weather(')
    assert "invalid_call: matches no API" in choice.message.content


def test_the_template_arm_fills_arguments_from_the_request(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="template",
        messages=[{"role": "user", "content": "What is the weather in Oslo?"}],
        tools=TOOLS,
    )
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    verification = reply.model_extra["toolroute"]["calls"][0]["verification"]
    assert verification["passed"] and verification["grounding"] == {"city": "request"}


def test_a_request_for_several_things_gets_several_tool_calls(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="template",
        messages=[{"role": "user", "content": "What is the weather in Paris and in Rome?"}],
        tools=TOOLS,
    )
    calls = reply.choices[0].message.tool_calls
    assert reply.choices[0].finish_reason == "tool_calls"
    assert [json.loads(c.function.arguments)["city"] for c in calls] == ["Paris", "Rome"]
    assert len({c.id for c in calls}) == 2


def test_a_request_no_tool_fits_gets_a_plain_answer(
    client: openai.OpenAI, shared_server: LiveServer
) -> None:
    messages = [{"role": "user", "content": "Translate 'good morning' into Japanese."}]
    reply = client.chat.completions.create(model="toolroute", messages=messages, tools=TOOLS)
    choice = reply.choices[0]
    assert choice.finish_reason == "stop" and choice.message.tool_calls is None
    assert choice.message.content.startswith("No tool was called: no offered API fits")
    extra = reply.model_extra["toolroute"]
    assert extra["execution"]["status"] == "no_match" and extra["selection"]["declined"]
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with shared_server.client(headers=headers) as http:
        task = http.get(f"/v1/tasks/{extra['task_id']}").json()
    assert task["reward"] is None and task["attempts"] == []


def test_tool_choice_overrides_the_decision(client: openai.OpenAI) -> None:
    unrelated = [{"role": "user", "content": "Translate 'good morning' into Japanese."}]
    required = client.chat.completions.create(
        model="template", messages=unrelated, tools=TOOLS, tool_choice="required"
    )
    assert required.choices[0].finish_reason == "tool_calls"
    named = client.chat.completions.create(
        model="template",
        messages=[{"role": "user", "content": "What is the weather in Oslo?"}],
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "send_email"}},
    )
    assert named.model_extra["toolroute"]["selection"]["candidates"][0]["id"].endswith("send_email")
    assert named.model_extra["toolroute"]["calls"][0]["function"] == "send_email"
    none = client.chat.completions.create(
        model="template",
        messages=[{"role": "user", "content": "What is the weather in Oslo?"}],
        tools=TOOLS,
        tool_choice="none",
    )
    assert none.choices[0].finish_reason == "stop" and none.choices[0].message.tool_calls is None
    assert none.model_extra["toolroute"]["execution"]["status"] == "no_match"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"tool_choice": {"type": "function", "function": {"name": "nope"}}}, "not among"),
        ({"tool_choice": "sometimes"}, "tool_choice must be"),
        ({"tools": [TOOLS[0], TOOLS[0]]}, "distinct names"),
        ({"messages": [{"role": "user", "content": "   "}]}, "no user message with text"),
        ({"messages": [{"role": "system", "content": "be brief"}]}, "no user message"),
    ],
)
def test_requests_that_cannot_be_answered_are_a_422_naming_the_problem(
    client: openai.OpenAI, change: dict[str, object], problem: str
) -> None:
    request: dict[str, object] = {
        "model": "template",
        "messages": [{"role": "user", "content": "What is the weather in Oslo?"}],
        "tools": TOOLS,
    } | change
    with pytest.raises(openai.UnprocessableEntityError, match=problem):
        client.chat.completions.create(**request)  # type: ignore[call-overload]


def test_a_tool_result_ends_the_turn_with_an_answer_in_words(client: openai.OpenAI) -> None:
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
    assert reply.choices[0].message.content == "get_weather() returned 18 C, cloudy."


def test_errors_reach_the_client_as_openai_errors(
    client: openai.OpenAI, shared_server: LiveServer
) -> None:
    with pytest.raises(openai.NotFoundError, match="unknown model"):
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="toolroute", messages=[])
    anonymous = openai.OpenAI(base_url=f"{shared_server.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        anonymous.chat.completions.create(
            model="toolroute", messages=[{"role": "user", "content": "x"}]
        )
    anonymous.close()
