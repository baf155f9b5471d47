"""Several calls from one request: parts with verbs of their own, and listed values."""

from __future__ import annotations

import pytest

from agent.calls.plan import more_values, parts


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        (
            "Book a flight to Paris and find a hotel in Rome",
            ["Book a flight to Paris", "find a hotel in Rome"],
        ),
        (
            "Get the weather in Oslo, then send an email to Ana",
            ["Get the weather in Oslo", "send an email to Ana"],
        ),
        # "and" between values or words, not between requests: one part.
        (
            "What is the weather in Paris and in Rome?",
            ["What is the weather in Paris and in Rome?"],
        ),
        (
            "Calculate the BMI for weight 70 and height 175",
            ["Calculate the BMI for weight 70 and height 175"],
        ),
        ("Find restaurants and bars in Lyon", ["Find restaurants and bars in Lyon"]),
    ],
)
def test_a_request_splits_only_where_a_new_request_starts(
    request_text: str, expected: list[str]
) -> None:
    assert parts(request_text) == expected


def test_values_listed_with_a_filled_one_ask_for_the_same_call_again() -> None:
    assert more_values("the weather in Paris, Rome and Oslo", {"city": "Paris"}) == [
        ("city", "Paris", "Rome"),
        ("city", "Paris", "Oslo"),
    ]
    assert more_values("stock prices for AAPL and MSFT", {"symbol": "AAPL"}) == [
        ("symbol", "AAPL", "MSFT")
    ]


def test_values_another_argument_took_are_not_repeated() -> None:
    # The function takes both: one call.
    arguments = {"company_a": "Apple", "company_b": "Microsoft"}
    assert more_values("the correlation between Apple and Microsoft", arguments) == []
    assert more_values("the weather in Paris", {"city": "Paris"}) == []
