"""The typed extractor (the template arm's filler) and the grammar LLM arms fill under."""

from __future__ import annotations

import logging

import pytest

from agent.apicall import parse_calls
from agent.calls.fill import candidates, fill
from agent.calls.grammar import fill_grammar, render_call
from agent.jsontypes import JSONObject

WEATHER: JSONObject = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "The city"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "description": "How many days to forecast"},
    },
    "required": ["city"],
}
FLIGHT: JSONObject = {
    "type": "object",
    "properties": {
        "origin": {"type": "string"},
        "destination": {"type": "string"},
        "date": {"type": "string", "description": "Date of travel"},
        "passengers": {"type": "integer"},
    },
    "required": ["origin", "destination", "date"],
}


def _numbers(*names: str) -> JSONObject:
    """A schema of required numbers."""
    return {
        "type": "object",
        "properties": {name: {"type": "number"} for name in names},
        "required": list(names),
    }


@pytest.mark.parametrize(
    ("schema", "request_text", "expected"),
    [
        (WEATHER, "What's the weather in Oslo?", {"city": "Oslo"}),
        (
            WEATHER,
            "Give me a 5 day forecast for San Diego in fahrenheit",
            {"city": "San Diego", "unit": "fahrenheit", "days": 5},
        ),
        (
            FLIGHT,
            "Book a flight from London to Paris on Friday for two passengers",
            {"origin": "London", "destination": "Paris", "date": "Friday", "passengers": 2},
        ),
        (
            {
                "type": "object",
                "properties": {"title": {"type": "string"}, "year": {"type": "integer"}},
                "required": ["title", "year"],
            },
            "Find the movie 'The Third Man' from 1949",
            {"title": "The Third Man", "year": 1949},
        ),
        (
            {
                "type": "object",
                "properties": {"principal": {"type": "number"}, "rate": {"type": "number"}},
                "required": ["principal", "rate"],
            },
            "What is the interest on $1,000 at a rate of 5%?",
            {"principal": 1000, "rate": 0.05},
        ),
        # a value written after the argument's name, and a minus sign (not a hyphen)
        (
            _numbers("a", "b", "c"),
            "Solve the quadratic equation with coefficients a=2, b=-5, c=3",
            {"a": 2, "b": -5, "c": 3},
        ),
        (_numbers("temperature"), "Convert -40 degrees Celsius to Kelvin", {"temperature": -40}),
        (_numbers("year"), "Sales of COVID-19 tests in 2021", {"year": 2021}),
        # a unit's letters and exponent are no scale and no value; "$5m" is five million
        (
            _numbers("mass", "acceleration"),
            "Force on a 10 kg object accelerating at 9.8 m/s^2",
            {"mass": 10, "acceleration": 9.8},
        ),
        (_numbers("amount"), "Invest $5m in bonds", {"amount": 5_000_000}),
        # a possessive is the name without its 's
        (
            {
                "type": "object",
                "properties": {"company": {"type": "string"}},
                "required": ["company"],
            },
            "What was Tesla's revenue last year?",
            {"company": "Tesla"},
        ),
        # an enum member the request names in another form
        (
            {
                "type": "object",
                "properties": {"mode": {"type": "string", "enum": ["driving", "walking"]}},
            },
            "How long is it to walk there?",
            {"mode": "walking"},
        ),
    ],
)
def test_the_extractor_fills_what_the_request_states(
    schema: JSONObject, request_text: str, expected: dict[str, object]
) -> None:
    assert fill(schema, request_text) == expected


def test_nothing_is_invented_for_what_the_request_does_not_say() -> None:
    assert fill(WEATHER, "What's the weather like?") == {}
    assert fill(FLIGHT, "Book me a flight") == {}


def test_a_second_value_of_a_filled_argument_is_not_another_arguments_value() -> None:
    # "in Rome" points at `unit` too ("in celsius"), but it is a second city.
    schema: JSONObject = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city"],
    }
    assert fill(schema, "What is the weather in Paris and in Rome?") == {"city": "Paris"}


@pytest.mark.parametrize(
    ("schema", "request_text", "about"),
    [
        # words that only point at a value
        (
            {"properties": {"gene_id": {"type": "string"}}},
            "Get the sequence of a specific gene",
            "",
        ),
        ({"properties": {"organism_name": {"type": "string"}}}, "Classify a given organism", ""),
        # the argument's own name
        ({"properties": {"isbn": {"type": "string"}}}, "Summarise a book by its ISBN", ""),
        # what the function does
        (
            {"properties": {"symbol": {"type": "string"}, "days": {"type": "integer"}}},
            "The moving average of a stock price for the past 30 days",
            "stock_moving_average Moving average of a stock price",
        ),
        # the noun a number counts
        (
            {"properties": {"symbol": {"type": "string"}, "days": {"type": "integer"}}},
            "Get the volatility of a stock over 14 days",
            "stock_volatility Volatility of a stock",
        ),
        # a plain phrase for an identifier
        ({"properties": {"meeting_id": {"type": "string"}}}, "Move the team meeting", ""),
    ],
)
def test_words_that_are_not_values_fill_no_string_argument(
    schema: JSONObject, request_text: str, about: str
) -> None:
    properties = schema["properties"]
    assert isinstance(properties, dict)
    every_one_required: JSONObject = {**schema, "type": "object", "required": list(properties)}
    filled = fill(every_one_required, request_text, about)
    assert all(not isinstance(value, str) for value in filled.values()), filled


def test_an_optional_argument_is_not_filled_with_what_the_function_does() -> None:
    schema: JSONObject = {
        "type": "object",
        "properties": {
            "news_source": {"type": "string", "description": "The news source"},
            "category": {"type": "string", "description": "The category of news"},
        },
        "required": ["news_source"],
    }
    about = "news_get_headlines Retrieve the latest news headlines from a news source."
    assert fill(schema, "Get the latest news headlines from CNN.", about) == {"news_source": "CNN"}


def test_quoted_text_is_a_value_even_when_it_names_the_function() -> None:
    schema: JSONObject = {
        "type": "object",
        "properties": {"word": {"type": "string"}},
        "required": ["word"],
    }
    about = "dictionary_define Define a word"
    assert fill(schema, "Define the word 'define'", about) == {"word": "define"}


def test_identifiers_and_units_still_come_from_the_request() -> None:
    schema: JSONObject = {
        "type": "object",
        "properties": {
            "meeting_id": {"type": "string"},
            "distance": {"type": "number"},
            "unit": {"type": "string"},
        },
        "required": ["meeting_id", "distance", "unit"],
    }
    filled = fill(schema, "Move meeting 'MTG-42' by 10 miles")
    assert filled == {"meeting_id": "MTG-42", "distance": 10, "unit": "miles"}


MESSAGE: JSONObject = {
    "type": "object",
    "properties": {
        "recipient": {"type": "string"},
        "message": {"type": "string", "description": "The message text"},
    },
    "required": ["recipient", "message"],
}
REMINDER: JSONObject = {
    "type": "object",
    "properties": {
        "time": {"type": "string"},
        "note": {"type": "string", "description": "What to be reminded of"},
    },
    "required": ["time", "note"],
}


@pytest.mark.parametrize(
    ("schema", "request_text", "expected"),
    [
        (
            MESSAGE,
            "Send a message to John saying I'll be late for dinner",
            {"recipient": "John", "message": "I'll be late for dinner"},
        ),
        (
            MESSAGE,
            "Text Mary that the meeting moved to 3 PM",
            {"recipient": "Mary", "message": "the meeting moved to 3 PM"},
        ),
        (
            MESSAGE,
            "Tell Bob: the build is green",
            {"recipient": "Bob", "message": "the build is green"},
        ),
        (
            MESSAGE,
            "Message Alice with 'see you soon'",
            {"recipient": "Alice", "message": "see you soon"},
        ),
        # the time goes to the time argument, the rest to the note
        (REMINDER, "Remind me to call mom at 5 PM", {"time": "5 PM", "note": "call mom"}),
        (
            REMINDER,
            "Set a reminder at 9 AM to take my pills",
            {"time": "9 AM", "note": "take my pills"},
        ),
    ],
)
def test_what_the_request_dictates_is_one_value_for_a_message(
    schema: JSONObject, request_text: str, expected: dict[str, object]
) -> None:
    assert fill(schema, request_text, "send_message Send a text message or a reminder") == expected


def test_dictated_words_fill_no_other_kind_of_argument() -> None:
    schema: JSONObject = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    }
    assert fill(schema, "Text Ana saying it rains in Oslo") == {"city": "Oslo"}


def test_candidates_rank_grounded_values_for_each_argument() -> None:
    options = candidates(FLIGHT, "Fly from Boston to Denver on 2024-05-01")
    assert options["origin"][0].value == "Boston"
    assert options["destination"][0].value == "Denver"
    assert options["date"][0].value == "2024-05-01"


def test_the_grammar_offers_grounded_values_and_typed_rules() -> None:
    options = candidates(WEATHER, "weather in Oslo")
    grammar, loosened = fill_grammar("get_weather", WEATHER, options, margin=0.0)
    assert loosened == []
    assert grammar.startswith('root ::= "get_weather("')
    root = grammar.splitlines()[0]
    assert root.count(" r") == 1  # one argument: city; unit and days are optional, not given
    assert '"city=" ("\'Oslo\'")' in grammar  # the grounded value only


def test_the_grammar_compiles_in_llama_cpp_for_every_schema_shape() -> None:
    from llama_cpp.llama_grammar import LlamaGrammar

    nested: JSONObject = {
        "type": "object",
        "properties": {
            "point": {
                "type": "object",
                "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
            },
            "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
            "flag": {"type": "boolean"},
            "first-name": {"type": "string"},
            "class": {"type": "integer"},
            'odd"name': {"type": "string"},
        },
        "required": ["point", "tags", "flag", "first-name", "class", 'odd"name'],
    }
    grammar, _ = fill_grammar("f", nested, {})
    LlamaGrammar.from_string(grammar, verbose=False)


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ({"$ref": "#/definitions/node"}, "$ref"),
        ({"oneOf": [{"type": "object"}, {"type": "string"}]}, "oneOf"),
        ({"type": "string", "enum": [f"v{i}" for i in range(1000)]}, "an enum of 1000"),
    ],
)
def test_schemas_the_grammar_cannot_express_fall_back_to_any_literal(
    schema: JSONObject, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    from llama_cpp.llama_grammar import LlamaGrammar

    parameters: JSONObject = {"type": "object", "properties": {"x": schema}, "required": ["x"]}
    with caplog.at_level(logging.INFO, logger="toolroute.calls"):
        grammar, loosened = fill_grammar("f", parameters, {})
    assert len(loosened) == 1 and reason in loosened[0]
    assert reason in caplog.text
    LlamaGrammar.from_string(grammar, verbose=False)


def test_deep_nesting_is_loosened_not_an_error() -> None:
    schema: JSONObject = {"type": "string"}
    for _ in range(40):
        schema = {"type": "object", "properties": {"inner": schema}}
    grammar, loosened = fill_grammar(
        "f", {"type": "object", "properties": {"x": schema}, "required": ["x"]}, {}
    )
    assert loosened and "nested past" in loosened[0]


def test_names_that_are_not_identifiers_round_trip_through_the_call() -> None:
    code = render_call("f", {"first-name": "Ana", "class": 2, "x": 1})
    assert parse_calls(code)[0].kwargs == {"first-name": "Ana", "class": 2, "x": 1}
