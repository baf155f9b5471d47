"""Where an argument's value came from, judged against what the request states
(`agent.calls.spans`).

`grounding(value, request, schema)` says where an argument's value came from: the request,
an enum member, the schema's default, the standard code of something the request names
(`America/New_York` for "New York"; `agent.calls.codes`), or nowhere (ungrounded). The
verifier records it for every argument, and the reward counts the share grounded.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from agent.calls.codes import named_codes
from agent.calls.dates import renderings, wanted_form
from agent.calls.members import how_named
from agent.calls.spans import (
    DAYS,
    MONTHS,
    RELATIVE_TIMES,
    Span,
    SpanKind,
    normalise,
    number_spans,
    spans,
    time_spans,
)
from agent.jsontypes import JSONObject

Source = Literal["request", "enum", "default", "code", "ungrounded"]

NAMED_KINDS: tuple[SpanKind, ...] = ("quoted", "number", "time", "proper")


def named_spans(request: str) -> list[Span]:
    """The values a request names outright: quoted text, numbers, dates and times, proper
    names. A right call uses them; a plain phrase is weaker evidence of a value."""
    return [span for span in spans(request) if span.kind in NAMED_KINDS]


def is_named(value: Any, named: list[Span]) -> bool:
    """Whether a grounded value is one the request names (not only a phrase it contains)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True  # `grounding` found it among the request's numbers
    if isinstance(value, list):
        return bool(value) and all(is_named(item, named) for item in value)
    key = normalise(str(value))
    return any(key in (normalise(span.text), normalise(str(span.value))) for span in named)


def coverage(values: list[Any], named: list[Span]) -> float | None:
    """The share of the request's named values that the call uses somewhere (None when
    the request names none)."""
    if not named:
        return None
    flat = [normalise(str(v)) for v in _flatten(values)]
    numbers = [float(v) for v in _flatten(values) if isinstance(v, int | float)]
    used = 0
    for span in named:
        if span.kind == "number":
            value = float(span.value)
            used += any(abs(n - value) < 1e-9 or abs(n - value / 100) < 1e-12 for n in numbers)
            continue
        text = normalise(span.text)
        used += bool(text) and any(text in v for v in flat)
    return used / len(named)


def looks_temporal(value: Any) -> bool:
    """Whether a value can be a date or a time: digits, a month or day name, or a relative
    time ("tomorrow", "next week")."""
    if not isinstance(value, str):
        return isinstance(value, int | float) and not isinstance(value, bool)
    words = set(normalise(value).split())
    return bool(re.search(r"\d", value)) or bool(
        words & {*MONTHS, *DAYS, *RELATIVE_TIMES, "week", "month", "year", "weekend"}
    )


def _flatten(values: Any) -> list[Any]:
    if isinstance(values, list | tuple):
        return [item for value in values for item in _flatten(value)]
    if isinstance(values, dict):
        return [item for value in values.values() for item in _flatten(value)]
    return [values]


def numbers_in(request: str) -> list[float]:
    """Every number the request states, percentages also as fractions."""
    values: list[float] = []
    for span in number_spans(request):
        values.append(float(span.value))
        if span.percent:
            values.append(round(float(span.value) / 100, 10))
    return values


def grounding(
    value: Any, request: str, schema: JSONObject, name: str = "", today: date | None = None
) -> Source:
    """Where an argument's value came from. A flag (`open_on_sundays=True`) is grounded
    when the request says what its name says; a date in the form the schema asks for
    ("2023-10-24") when the request states that day ("tomorrow", counted from `today`,
    the machine's date when None)."""
    if value is None:
        return "ungrounded"
    if isinstance(value, bool):
        words = [w for w in normalise(name.replace("_", " ")).split() if w not in ("is", "has")]
        asked = set(normalise(request).split())
        stated = (
            words and sum(w in asked or w.rstrip("s") in asked for w in words) / len(words) >= 0.6
        )
        return (
            "request" if stated else "default" if schema.get("default") == value else "ungrounded"
        )
    enum = schema.get("enum")
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
    item_enum = items.get("enum") if isinstance(items, dict) else None
    if isinstance(value, list):
        if not value:
            return "ungrounded"
        sources = {grounding(v, request, items or {}) for v in value}
        return (
            "ungrounded"
            if "ungrounded" in sources
            else sources.pop()
            if len(sources) == 1
            else "request"
        )
    if "default" in schema and schema["default"] == value:
        return "default"
    stated = _stated(value, request)
    if stated or isinstance(value, str) and _in_wanted_form(value, request, schema, today):
        return "request"
    if (
        isinstance(enum, list)
        and value in enum
        or isinstance(item_enum, list)
        and value in item_enum
    ):
        return "enum" if _enum_named(value, request) else "ungrounded"
    if isinstance(value, str) and value in named_codes(request):
        return "code"
    return "ungrounded"


def _in_wanted_form(value: str, request: str, schema: JSONObject, today: date | None) -> bool:
    form = wanted_form(schema)
    if form is None:
        return False
    stretches = [(span.start, span.end) for span in time_spans(request)]
    return value in renderings(request, stretches, form, today or date.today()).values()


def _stated(value: Any, request: str) -> bool:
    if isinstance(value, bool):
        return False  # a flag is grounded through its name (see the filler), not its value
    if isinstance(value, int | float):
        return any(abs(float(value) - n) < 1e-9 for n in numbers_in(request))
    if isinstance(value, str):
        words, asked = normalise(value).split(), set(normalise(request).split())
        return bool(words) and all(word in asked for word in words)
    return False


def _enum_named(member: Any, request: str) -> bool:
    """Whether the request names an enum member: every word of it, in any order and
    form (`agent.calls.members.how_named`)."""
    return how_named(member, request) >= 2.5
