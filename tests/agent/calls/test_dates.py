"""Dates and times in the form an argument asks for, counted from a stated or real today."""

from __future__ import annotations

from datetime import date

import pytest

from agent.calls.dates import render, resolve_day, stated_date, wanted_form
from agent.calls.fill import fill
from agent.calls.grounding import grounding
from agent.chat.completion import prepare
from agent.chat.schema import ChatCompletionRequest
from agent.jsontypes import JSONObject

MONDAY = date(2023, 10, 23)
MEETING: JSONObject = {
    "type": "object",
    "properties": {
        "participants": {"type": "array", "items": {"type": "string"}},
        "date": {"type": "string", "description": "Meeting date (e.g., YYYY-MM-DD)."},
        "time": {"type": "string", "description": "Meeting time (e.g., HH:MM AM/PM)."},
    },
    "required": ["date", "time"],
}


@pytest.mark.parametrize(
    ("schema", "form"),
    [
        ({"type": "string", "format": "date"}, "date"),
        ({"type": "string", "format": "date-time"}, "date-time"),
        ({"type": "string", "format": "time"}, "time-24h"),
        ({"type": "string", "description": "Date (e.g., YYYY-MM-DD)."}, "date"),
        ({"type": "string", "description": "Start time (HH:MM AM/PM)"}, "time-12h"),
        ({"type": "string", "description": "Time as HH:MM"}, "time-24h"),
        ({"type": "string", "description": "When, in ISO 8601 date and time"}, "date-time"),
        ({"type": "string", "description": "The date of travel"}, None),  # no form given
    ],
)
def test_the_form_is_read_off_the_schema(schema: JSONObject, form: str | None) -> None:
    assert wanted_form(schema) == form


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("tomorrow", date(2023, 10, 24)),
        ("tonight", MONDAY),
        ("on Thursday", date(2023, 10, 26)),
        ("next Monday", date(2023, 10, 30)),  # a weekday is its next coming one
        ("next month on the 5th", date(2023, 11, 5)),
        ("2024-02-29", date(2024, 2, 29)),
        ("5 May 2024", date(2024, 5, 5)),
        ("June 15th", None),  # the year is left open
        ("next week", None),
        ("Saturday or Sunday", None),  # two days: neither is the one
        ("2023-02-30", None),  # no such day
    ],
)
def test_only_a_day_the_words_fix_is_resolved(text: str, day: date | None) -> None:
    assert resolve_day(text, MONDAY) == day


def test_times_and_date_times_are_written_in_the_asked_form() -> None:
    assert render("at 2 PM", "time-12h", MONDAY) == "2:00 PM"
    assert render("at 12:30 am", "time-24h", MONDAY) == "00:30"
    assert render("tonight at 7 PM", "date-time", MONDAY) == "2023-10-23T19:00"
    assert render("room 12", "time-24h", MONDAY) is None  # a number is no time
    assert render("tomorrow", "date-time", MONDAY) is None  # no time of day


def test_the_extractor_fills_dates_counted_from_today() -> None:
    request = "Schedule a meeting with John and Jane for tomorrow at 2 PM."
    assert fill(MEETING, request, "schedule_meeting", MONDAY) == {
        "participants": ["John", "Jane"],
        "date": "2023-10-24",
        "time": "2:00 PM",
    }
    # The week is left open: the words stay as written rather than a guessed day.
    moved = fill(MEETING, "Move it to next week on Wednesday at 10 AM", "move", MONDAY)
    assert moved["date"] != "2023-10-25" and moved["time"] == "10:00 AM"


def test_a_rendered_date_is_grounded_only_for_the_day_it_names() -> None:
    schema = MEETING["properties"]["date"]  # type: ignore[index]
    request = "a meeting tomorrow at 2 PM"
    assert grounding("2023-10-24", request, schema, "date", MONDAY) == "request"
    assert grounding("2023-10-25", request, schema, "date", MONDAY) == "ungrounded"


@pytest.mark.parametrize(
    ("said", "day"),
    [
        ("Today is Monday, 23 October 2023.", MONDAY),
        ("Current date: 2023-10-23", MONDAY),
        ("today is October 23, 2023", MONDAY),
        ("Today is tomorrow", None),  # only a date that stands on its own
        ("You are a helpful assistant.", None),
    ],
)
def test_the_date_a_conversation_states_is_its_today(said: str, day: date | None) -> None:
    assert stated_date(said) == day
    body = ChatCompletionRequest.model_validate(
        {
            "model": "template",
            "messages": [
                {"role": "system", "content": said},
                {"role": "user", "content": "Book a room for tomorrow"},
            ],
            "tools": [{"type": "function", "function": {"name": "book", "parameters": MEETING}}],
        }
    )
    assert prepare(body, ["template"]).today == day
