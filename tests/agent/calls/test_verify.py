"""Verification: schema, grounding of every argument, execution; and its reward term."""

from __future__ import annotations

import pytest

from agent.apicall import parse_calls
from agent.calls.grounding import grounding
from agent.calls.verify import verify
from agent.executor import Execution
from apidb import APIDoc

WEATHER = APIDoc(
    id="tools/get_weather",
    hub="tools",
    kind="function",
    name="get_weather",
    call="get_weather(city=<string>)",
    parameters={
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
            "days": {"type": "integer"},
        },
        "required": ["city"],
    },
)
OK = Execution("ok", "arguments valid")


@pytest.mark.parametrize(
    ("value", "request_text", "schema", "source"),
    [
        ("Oslo", "weather in oslo, please", {}, "request"),
        (3, "a three day forecast", {}, "request"),
        (0.05, "at a rate of 5%", {}, "request"),
        ("fahrenheit", "in Fahrenheit", {"enum": ["celsius", "fahrenheit"]}, "request"),
        ("walking", "how long to walk there", {"enum": ["driving", "walking"]}, "enum"),
        ("driving", "how long to walk there", {"enum": ["driving", "walking"]}, "ungrounded"),
        ("celsius", "weather in Oslo", {"default": "celsius"}, "default"),
        ("Bergen", "weather in Oslo", {}, "ungrounded"),
        (7, "weather in Oslo", {}, "ungrounded"),
        (["Oslo", "Rome"], "Oslo and Rome", {"items": {"type": "string"}}, "request"),
        (["Oslo", "Paris"], "Oslo and Rome", {"items": {"type": "string"}}, "ungrounded"),
    ],
)
def test_grounding_says_where_each_value_came_from(
    value: object, request_text: str, schema: dict[str, object], source: str
) -> None:
    assert grounding(value, request_text, schema) == source


def test_a_call_that_runs_with_grounded_arguments_passes_with_full_accuracy() -> None:
    call = parse_calls("get_weather(city='Oslo', days=3)")[0]
    result = verify(call, WEATHER, "the weather in Oslo for 3 days", OK)
    assert result.passed and result.accuracy == 1.0
    assert result.grounding == {"city": "request", "days": "request"}


def test_an_invented_required_value_fails_and_earns_less() -> None:
    call = parse_calls("get_weather(city='Bergen')")[0]
    result = verify(call, WEATHER, "what's the weather?", OK)
    assert not result.passed and result.ungrounded_required == ["city"]
    assert "city" in result.reason
    assert result.accuracy == 0.5  # it ran; none of its arguments is grounded


def test_an_invented_optional_value_lowers_the_reward_but_passes() -> None:
    call = parse_calls("get_weather(city='Oslo', days=7)")[0]
    result = verify(call, WEATHER, "weather in Oslo", OK)
    # Grounding 0.5 (one of two), coverage 1 (Oslo is used): 0.5 + 0.5 * 0.75.
    assert result.passed and result.accuracy == 0.875


def test_a_stray_phrase_or_a_value_left_out_earns_less_than_the_right_call() -> None:
    request = "weather in Oslo for 3 days"
    right = verify(parse_calls("get_weather(city='Oslo', days=3)")[0], WEATHER, request, OK)
    partial = verify(parse_calls("get_weather(city='Oslo')")[0], WEATHER, request, OK)
    phrase = verify(parse_calls("get_weather(city='weather', days=3)")[0], WEATHER, request, OK)
    assert right.accuracy == 1.0
    assert partial.accuracy == 0.875  # "3" is stated and not used: coverage 1/2
    assert phrase.accuracy < right.accuracy and phrase.grounding["city"] == "request"


def test_a_value_that_cannot_be_a_date_is_not_grounded_as_one() -> None:
    doc = WEATHER.model_copy(
        update={
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "date": {"type": "string"}},
                "required": ["city", "date"],
            }
        }
    )
    request = "weather in Oslo tomorrow"
    wrong = verify(parse_calls("f(city='Oslo', date='Oslo')")[0], doc, request, OK)
    right = verify(parse_calls("f(city='Oslo', date='tomorrow')")[0], doc, request, OK)
    assert wrong.grounding["date"] == "ungrounded" and not wrong.passed
    assert right.passed and right.grounding["date"] == "request"


def test_a_call_that_did_not_run_fails_and_earns_nothing() -> None:
    call = parse_calls("get_weather(city='Oslo')")[0]
    result = verify(call, WEATHER, "weather in Oslo", Execution("invalid_call", "bad"))
    assert not result.passed and result.accuracy == 0.0
    assert "did not run (invalid_call)" in result.reason
    nothing = verify(None, WEATHER, "weather in Oslo", Execution("invalid_call", "no code"))
    assert not nothing.passed and nothing.reason == "no call was written"


def test_positional_arguments_are_named_by_the_schema() -> None:
    call = parse_calls("get_weather('Oslo', 'celsius')")[0]
    result = verify(call, WEATHER, "weather in Oslo", OK)
    assert result.grounding == {"city": "request", "unit": "default"}


def test_a_model_apis_arguments_come_from_its_catalog_entry() -> None:
    doc = APIDoc(
        id="torchhub/resnet18",
        hub="torchhub",
        kind="python",
        name="resnet18",
        call="torch.hub.load(repo_or_dir='pytorch/vision', model='resnet18', pretrained=True)",
    )
    call = parse_calls(doc.call)[0]
    result = verify(call, doc, "classify images", OK)
    assert result.passed and set(result.grounding.values()) == {"catalog"}
