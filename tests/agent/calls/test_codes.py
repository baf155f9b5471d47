"""Standard codes for what a request names: looked up in the shipped tables, never guessed."""

from __future__ import annotations

import pytest

from agent.calls.codes import currency_codes, named_codes, timezone_codes
from agent.calls.fill import fill
from agent.calls.grounding import grounding
from agent.jsontypes import JSONObject

CLOCK: JSONObject = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "The city and country"},
        "timezone": {"type": "string", "description": "The target timezone"},
    },
    "required": ["location", "timezone"],
}
EXCHANGE: JSONObject = {
    "type": "object",
    "properties": {
        "base_currency": {"type": "string", "description": "The base currency."},
        "target_currency": {"type": "string", "description": "The target currency."},
    },
    "required": ["base_currency", "target_currency"],
}


@pytest.mark.parametrize(
    ("request_text", "zones"),
    [
        ("Get the current time in New York.", ["America/New_York"]),
        ("What time is it in New York City and in Paris?", ["America/New_York", "Europe/Paris"]),
        ("Find the current time in Tokyo, Japan.", ["Asia/Tokyo"]),
        ("The time in Japan", ["Asia/Tokyo"]),  # a country with one zone
        ("The time in San Diego", []),  # in no table: no code rather than a guess
        ("The time in the United States", []),  # several zones: none is the answer
        ("the time in paris", []),  # a place is named with a capital
    ],
)
def test_a_place_gets_its_zone_only_from_the_zone_tables(
    request_text: str, zones: list[str]
) -> None:
    assert [named.code for named in timezone_codes(request_text)] == zones


@pytest.mark.parametrize(
    ("request_text", "codes"),
    [
        ("the exchange rate between US dollars and Euros", ["USD", "EUR"]),
        ("Convert 100 Swiss francs to Japanese yen", ["CHF", "JPY"]),
        ("convert 5 EUR to GBP", ["EUR", "GBP"]),
        ("prices in Chinese yuan", ["CNY"]),  # a word no other currency's name has
        ("convert 20 dollars to pounds", []),  # which dollar, which pound: not said
        ("real-time rates", []),  # an everyday word, not the Brazilian real
    ],
)
def test_a_currency_gets_its_code_when_the_request_names_it(
    request_text: str, codes: list[str]
) -> None:
    assert [named.code for named in currency_codes(request_text)] == codes


def test_the_extractor_fills_codes_and_keeps_the_name_for_its_own_argument() -> None:
    assert fill(CLOCK, "Find the current time in Tokyo, Japan.") == {
        "location": "Tokyo, Japan",
        "timezone": "Asia/Tokyo",
    }
    assert fill(EXCHANGE, "Get the current exchange rate between US dollars and Euros.") == {
        "base_currency": "USD",
        "target_currency": "EUR",
    }
    # The cue words decide the direction, not only the order.
    assert fill(EXCHANGE, "How many euros do I get to the US dollar, from Swiss francs?") == {
        "base_currency": "CHF",
        "target_currency": "USD",
    }


def test_one_named_currency_fills_one_argument_and_its_name_none() -> None:
    about = "get_exchange_rate Get the exchange rate between two currencies"
    filled = fill(EXCHANGE, "What is the rate for Swiss francs?", about)
    assert list(filled.values()).count("CHF") == 1
    assert "Swiss" not in filled.values()


def test_a_code_is_grounded_as_a_code_and_an_invented_one_is_not() -> None:
    schema: JSONObject = {"type": "string"}
    assert grounding("America/New_York", "the time in New York", schema) == "code"
    assert grounding("America/Chicago", "the time in New York", schema) == "ungrounded"
    assert grounding("New York", "the time in New York", schema) == "request"
    assert named_codes("convert US dollars to Swiss francs") == {"USD", "CHF"}
