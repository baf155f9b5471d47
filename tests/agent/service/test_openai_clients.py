"""The clients agents use, against a live server: the `openai` SDK (sync, async, streaming,
legacy functions, structured output) and LangChain's `ChatOpenAI`, through whole agent
loops. The template arm is real (it fills arguments from the request), so every answer
here is computed, not queued."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.agent.service.conftest import API_KEY, AUTH, LiveServer
from tests.agent.service.test_openai_compatible import TOOLS

WEATHER = "What is the weather in Paris and in Rome?"
TWO_STEPS = "Get the weather in Paris, then email it to Ana"


@pytest.fixture
def client(template_server: LiveServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{template_server.url}/v1", api_key=API_KEY, max_retries=0) as c:
        yield c


def _chat(template_server: LiveServer, **options: Any) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=f"{template_server.url}/v1",
        api_key=API_KEY,
        model="template",
        max_retries=0,
        **options,
    )


# ---------------------------------------------------------------- the openai SDK


def test_models_lists_the_routed_models_and_every_arm(client: openai.OpenAI) -> None:
    names = [model.id for model in client.models.list()]
    assert names[:2] == ["toolroute", "auto"] and "template" in names
    assert client.models.retrieve("template").owned_by == "toolroute"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-9")


def test_streamed_tool_calls_assemble_into_the_same_calls(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="template",
        messages=[{"role": "user", "content": WEATHER}],
        tools=TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    arguments: dict[int, str] = {}
    names: dict[int, str] = {}
    for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if delta.function and delta.function.name:
                names[delta.index] = delta.function.name
            if delta.function and delta.function.arguments:
                arguments[delta.index] = arguments.get(delta.index, "") + delta.function.arguments
    assert names == {0: "get_weather", 1: "get_weather"}
    assert [json.loads(arguments[i])["city"] for i in (0, 1)] == ["Paris", "Rome"]
    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finishing] == ["tool_calls"]
    assert finishing[0].model_extra["toolroute"]["arm"] == "template"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


def test_the_sdks_stream_helper_reads_a_plain_answer(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model="template",
        messages=[{"role": "user", "content": "Translate 'good morning' into Japanese."}],
        tools=TOOLS,
    ) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert final.choices[0].finish_reason == "stop" and not message.tool_calls
    assert message.content.startswith("No tool was called: no offered API fits")


def test_a_streamed_request_is_refused_before_the_stream_starts(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="unknown model"):
        client.chat.completions.create(
            model="gpt-9", messages=[{"role": "user", "content": "x"}], stream=True
        )
    with pytest.raises(openai.UnprocessableEntityError, match="distinct names"):
        client.chat.completions.create(
            model="template",
            messages=[{"role": "user", "content": "x"}],
            tools=[TOOLS[0], TOOLS[0]],
            stream=True,
        )


def test_the_async_client_answers_and_streams(template_server: LiveServer) -> None:
    async def both() -> tuple[Any, list[Any]]:
        async with openai.AsyncOpenAI(
            base_url=f"{template_server.url}/v1", api_key=API_KEY, max_retries=0
        ) as client:
            messages = [{"role": "user", "content": "What is the weather in Oslo?"}]
            reply = await client.chat.completions.create(
                model="template", messages=messages, tools=TOOLS
            )
            stream = await client.chat.completions.create(
                model="template", messages=messages, tools=TOOLS, stream=True
            )
            return reply, [chunk async for chunk in stream]

    reply, chunks = asyncio.run(both())
    assert reply.choices[0].message.tool_calls[0].function.arguments == '{"city": "Oslo"}'
    streamed = [
        delta.function.arguments
        for chunk in chunks
        for delta in (chunk.choices[0].delta.tool_calls or [] if chunk.choices else [])
        if delta.function and delta.function.arguments
    ]
    assert streamed == ['{"city": "Oslo"}']


def test_legacy_functions_are_the_catalog_and_answer_with_function_call(
    client: openai.OpenAI,
) -> None:
    functions = [tool["function"] for tool in TOOLS]
    reply = client.chat.completions.create(  # type: ignore[call-overload]
        model="template",
        messages=[{"role": "user", "content": "What is the weather in Oslo?"}],
        functions=functions,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "function_call" and choice.message.tool_calls is None
    assert choice.message.function_call.name == "get_weather"
    assert json.loads(choice.message.function_call.arguments) == {"city": "Oslo"}
    assert reply.model_extra["toolroute"]["api_id"] == "request-tools/get_weather"
    named = client.chat.completions.create(  # type: ignore[call-overload]
        model="template",
        messages=[{"role": "user", "content": "Email Ana that the deal is 'signed'"}],
        functions=functions,
        function_call={"name": "send_email"},
    )
    assert named.choices[0].message.function_call.name == "send_email"


class Forecast(BaseModel):
    city: str
    days: int


def test_a_json_schema_response_is_filled_from_the_request(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(
        model="template",
        messages=[{"role": "user", "content": "A forecast for Oslo for the next 3 days"}],
        response_format=Forecast,
    )
    message = completion.choices[0].message
    assert message.parsed == Forecast(city="Oslo", days=3)
    assert completion.choices[0].finish_reason == "stop"


def test_an_agent_loop_calls_waits_for_the_result_and_answers_in_words(
    client: openai.OpenAI,
) -> None:
    """call, tool result, next call, tool result, final answer."""
    messages: list[Any] = [{"role": "user", "content": TWO_STEPS}]
    results = {"get_weather": '{"temperature": 18, "sky": "cloudy"}', "send_email": "sent"}
    called = []
    for _ in range(3):
        reply = client.chat.completions.create(model="template", messages=messages, tools=TOOLS)
        message = reply.choices[0].message
        if reply.choices[0].finish_reason != "tool_calls":
            break
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            called.append((call.function.name, json.loads(call.function.arguments)))
            content = results[call.function.name]
            messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
    assert called == [
        ("get_weather", {"city": "Paris"}),
        ("send_email", {"to": "Ana", "body": "temperature 18, sky cloudy"}),
    ]
    assert reply.choices[0].finish_reason == "stop"
    assert message.content == (
        'get_weather(city="Paris") returned temperature 18, sky cloudy. '
        'send_email(to="Ana", body="temperature 18, sky cloudy") returned sent.'
    )


def test_tasks_from_the_endpoint_train_the_router(
    client: openai.OpenAI, template_server: LiveServer
) -> None:
    reply = client.chat.completions.create(
        model="toolroute",
        messages=[{"role": "user", "content": "What is the weather in Oslo?"}],
        tools=TOOLS,
    )
    extra = reply.model_extra["toolroute"]
    assert extra["reward"] is not None
    with template_server.client(headers=AUTH) as http:
        assert http.get(f"/v1/tasks/{extra['task_id']}").json()["reward"] == extra["reward"]


def test_a_tool_with_an_invalid_schema_is_a_422_carrying_the_request_id(
    template_server: LiveServer,
) -> None:
    broken = {
        "type": "function",
        "function": {
            "name": "f",
            "parameters": {"type": "object", "properties": {"x": {"type": 5}}},
        },
    }
    body = {"model": "template", "messages": [{"role": "user", "content": "x"}], "tools": [broken]}
    with template_server.client(headers=AUTH) as http:
        answer = http.post("/v1/chat/completions", json=body)
    assert answer.status_code == 422, answer.text
    request_id = answer.headers["x-request-id"]
    assert answer.json()["error"]["request_id"] == request_id != "-"


def test_the_api_reference_is_served_without_a_cdn(template_server: LiveServer) -> None:
    with httpx.Client(base_url=template_server.url) as http:
        page = http.get("/docs").text
        assert "/static/swagger/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
        assert http.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
        assert http.get("/openapi.json").json()["info"]["title"] == "toolroute"


# ---------------------------------------------------------------- LangChain


@tool
def get_weather(city: str) -> str:
    """Current weather for a city"""
    return f"18 C in {city}"


@tool
def send_email(to: str, body: str) -> str:
    """Send an email message to a recipient"""
    return "sent"


def test_langchain_invoke_and_ainvoke_return_tool_calls(template_server: LiveServer) -> None:
    model = _chat(template_server).bind_tools([get_weather, send_email])
    message = model.invoke("What is the weather in Oslo?")
    assert isinstance(message, AIMessage)
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [
        ("get_weather", {"city": "Oslo"})
    ]
    later = asyncio.run(model.ainvoke("What is the weather in Rome?"))
    assert later.tool_calls[0]["args"] == {"city": "Rome"}


def test_langchain_stream_merges_into_the_tool_calls(template_server: LiveServer) -> None:
    model = _chat(template_server).bind_tools([get_weather, send_email])
    merged = None
    for chunk in model.stream(WEATHER):
        merged = chunk if merged is None else merged + chunk
    assert merged is not None
    assert [c["args"]["city"] for c in merged.tool_calls] == ["Paris", "Rome"]


def test_langchain_structured_output(template_server: LiveServer) -> None:
    structured = _chat(template_server).with_structured_output(Forecast)
    assert structured.invoke("A forecast for Oslo for the next 3 days") == Forecast(
        city="Oslo", days=3
    )


def test_a_langchain_agent_loop_ends_with_an_answer(template_server: LiveServer) -> None:
    tools = {"get_weather": get_weather, "send_email": send_email}
    model = _chat(template_server).bind_tools(list(tools.values()))
    history: list[Any] = [HumanMessage(TWO_STEPS)]
    for _ in range(3):
        reply = model.invoke(history)
        history.append(reply)
        if not reply.tool_calls:
            break
        for call in reply.tool_calls:
            output = tools[call["name"]].invoke(call["args"])
            history.append(ToolMessage(output, tool_call_id=call["id"]))
    names = [c["name"] for m in history if isinstance(m, AIMessage) for c in m.tool_calls]
    assert names == ["get_weather", "send_email"]
    assert history[-1].content.endswith("returned sent.")
    assert "18 C in Paris" in history[-1].content
