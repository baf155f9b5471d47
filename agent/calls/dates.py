"""Dates and times in the form an argument asks for.

A request says "tomorrow at 2 PM"; an API that asks for `YYYY-MM-DD` and `HH:MM AM/PM`
needs `2023-10-24` and `2:00 PM`. The schema says which form it wants (its `format`, or
the pattern its description gives); the request's words and a reference date (today, or
the date the conversation states: "Today is 2023-10-23") say which day. Nothing is
resolved that the words leave open: "next week" has no one day, so it stays words.

A written date without its year ("June 15th") is left open too.

`render(text, form, today)` turns a date or time the request states into the form, or
None when it cannot; `wanted_form(schema)` reads the form off a schema; `stated_date`
finds the date a conversation gives as today.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any, Literal

Form = Literal["date", "date-time", "time-12h", "time-24h"]

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s?(am|pm|a\.m\.|p\.m\.)?(?!\w)", re.IGNORECASE)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MONTH_DAY = re.compile(
    r"\b(?P<month>[a-z]+)\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?(?:,?\s*(?P<year>\d{4}))?\b"
    r"|\b(?P<day2>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<month2>[a-z]+)(?:,?\s*(?P<year2>\d{4}))?\b",
    re.IGNORECASE,
)
_WHICH_WEEK = re.compile(r"\b(?:next|this|last|coming) week\b", re.IGNORECASE)
_TODAY_IS = re.compile(
    r"\b(?:today(?:'s date)? is|current date(?: is)?:?|date:)\s*"
    r"(?:(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday),?\s+)?(.{6,30})",
    re.IGNORECASE,
)


def wanted_form(schema: dict[str, Any]) -> Form | None:
    """The form a string argument asks for: from its `format`, else from the pattern its
    description shows ("e.g., YYYY-MM-DD", "HH:MM AM/PM", "ISO 8601")."""
    declared = schema.get("format")
    if declared in ("date", "date-time"):
        return declared  # type: ignore[no-any-return]
    if declared == "time":
        return "time-24h"
    description = str(schema.get("description") or "")
    upper = description.upper()
    has_date = "YYYY-MM-DD" in upper
    has_time = "HH:MM" in upper
    if has_date and has_time or "ISO 8601" in upper and "TIME" in upper:
        return "date-time"
    if has_date or "ISO 8601" in upper:
        return "date"
    if has_time:
        return "time-12h" if re.search(r"HH:MM\s*(AM|\(?AM/PM)", upper) else "time-24h"
    return None


def render(text: str, form: Form, today: date) -> str | None:
    """`text` (a date or time the request states, or the whole request for a date-time)
    in `form`; None when the text does not fix it."""
    if form in ("time-12h", "time-24h"):
        clock = _clock(text)
        return None if clock is None else _time_text(*clock, form)
    day = resolve_day(text, today)
    if form == "date":
        return None if day is None else day.isoformat()
    clock = _clock(text)
    if clock is None or day is None:
        return None
    return datetime(day.year, day.month, day.day, *clock).isoformat(timespec="minutes")


def renderings(
    request: str, stretches: list[tuple[int, int]], form: Form, today: date
) -> dict[tuple[int, int], str]:
    """The dates or times the request states at `stretches` (its date and time spans), in
    `form`. A day is read from the span and the words after it ("next month on the 5th");
    a date-time from the whole request. None is read when the week is left open."""
    if form in ("date", "date-time") and _WHICH_WEEK.search(request):
        return {}  # "next week on Wednesday": whose week, from which day, is not said
    found = {}
    for start, end in stretches:
        text = request if form == "date-time" else request[start : end + 16]
        rendered = render(text, form, today)
        if rendered is not None:
            found[(start, end)] = rendered
    return found


def resolve_day(text: str, today: date) -> date | None:
    """The one day `text` names: an ISO date or a written one with its year,
    today/tonight/tomorrow/yesterday, a weekday (its next coming one; "next Friday" too),
    "next month on the 5th". None when the words leave the day open."""
    lowered = text.lower()
    if _ISO_DATE.search(lowered) or _written_date(lowered):
        return absolute_day(lowered)
    words = set(re.findall(r"[a-z]+", lowered))
    if words & {"today", "tonight"}:
        return today
    if "tomorrow" in words:
        return today + timedelta(days=1)
    if "yesterday" in words:
        return today - timedelta(days=1)
    if "week" in words:
        return None  # "next week on Wednesday": which week starts when is not said
    named = [i for i, name in enumerate(_WEEKDAYS) if name in words]
    if len(named) == 1:
        ahead = (named[0] - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    nth = re.search(r"next month on the (\d{1,2})(?:st|nd|rd|th)?\b", lowered)
    if nth:
        year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
        return _day(year, month, int(nth.group(1)))
    return None


def absolute_day(text: str) -> date | None:
    """The day an ISO date ("2023-10-23") or a written one with its year ("23 October
    2023", "October 23, 2023") names; None for anything else."""
    lowered = text.lower()
    iso = _ISO_DATE.search(lowered)
    if iso:
        return _day(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    written = _written_date(lowered)
    if written is None:
        return None
    month, day, year = written
    return _day(year, month, day) if year else None


def _written_date(lowered: str) -> tuple[int, int, int | None] | None:
    """(month, day, year or None) of the first written date ("June 15th", "5 May 2024")."""
    for match in _MONTH_DAY.finditer(lowered):
        month = _MONTHS.get(match.group("month") or match.group("month2") or "")
        if month is not None:
            year = match.group("year") or match.group("year2")
            day = int(match.group("day") or match.group("day2"))
            # "June 15th" leaves the year open: this year's or the next, the words do not say.
            return month, day, int(year) if year else None
    return None


def stated_date(text: str) -> date | None:
    """The date a conversation gives as today ("Today is Monday, 23 October 2023.")."""
    match = _TODAY_IS.search(text)
    return None if match is None else absolute_day(match.group(1))


def _clock(text: str) -> tuple[int, int] | None:
    """The one time of day `text` states, as (hour, minute) on a 24-hour clock."""
    for match in _CLOCK.finditer(text):
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        half = (match.group(3) or "").lower().replace(".", "")
        if not half and match.group(2) is None:
            continue  # a bare number is no time
        if half and not 1 <= hour <= 12 or hour > 23 or minute > 59:
            continue
        if half == "pm" and hour != 12:
            hour += 12
        elif half == "am" and hour == 12:
            hour = 0
        return hour, minute
    return None


def _time_text(hour: int, minute: int, form: Form) -> str:
    if form == "time-24h":
        return f"{hour:02d}:{minute:02d}"
    half = "AM" if hour < 12 else "PM"
    return f"{(hour % 12) or 12}:{minute:02d} {half}"


def _day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
