"""Filling a function's arguments from the request, with values the request grounds.

`candidates(schema, request)` ranks, for every argument of a JSON schema, the values the
request offers that fit it (`grounding.spans`), best first; `fill(schema, request)` takes
the best consistent choice: the template arm's typed extractor, and the candidates an LLM
arm's grammar may choose among.

What makes a value fit an argument, in order of weight:
- its type: a number for `integer`/`number` (a percentage becomes a fraction for a rate:
  "5%" is 0.05 for `interest_rate`), an enum member the request names, a time for a
  date/time field, text otherwise;
- the words around it: the cue before it ("from" for `origin`, "to" for `destination`,
  "in"/"near" for `location`, "by" for `artist`) and the noun after a number ("5 days" for
  `days`, "two people" for `passengers`), matched against the argument's name and
  description;
- its kind: quoted text for titles and text, what the request dictates ("saying I'll be
  late", "remind me to call mom") for a message or a note, proper names for named things,
  and plain phrases last;
- for a time zone or a currency, the standard code of what the request names
  (`America/New_York` for "New York", `USD` for "US dollars"; `agent.calls.codes`), over
  the name itself.
Each span of the request fills one argument at most (a code and the name it stands for
count apart: "Tokyo, Japan" is the location and `Asia/Tokyo` the time zone). Required
arguments take the best fitting value there is; optional ones only a value the request
clearly gives.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from typing import Any

from agent.calls.codes import NamedCode, currency_codes, timezone_codes
from agent.calls.dates import renderings, wanted_form
from agent.calls.members import enum_members, flag, listed_items
from agent.calls.slots import STOPWORDS, Choice, Slot, any_of, slots, stems
from agent.calls.spans import Span, spans
from agent.jsontypes import JSONObject

# Cue words before a value, and the argument words they point to.
_CUES: dict[str, tuple[str, ...]] = {
    "from": ("origin", "from", "source", "start", "departure", "base", "sender", "current"),
    "to": ("destination", "to", "target", "end", "arrival", "recipient", "into"),
    "into": ("target", "to", "destination", "language"),
    "in": (
        "location",
        "city",
        "place",
        "area",
        "region",
        "country",
        "state",
        "where",
        "language",
        "unit",
    ),
    "near": ("location", "city", "place", "area", "address", "landmark", "near"),
    "at": ("location", "place", "time", "venue", "address"),
    "around": ("location", "area", "time"),
    "by": ("artist", "author", "director", "creator", "by", "composer", "singer", "band"),
    "for": ("topic", "query", "keywords", "interest", "subject", "for", "search", "recipe", "name"),
    "about": ("topic", "query", "subject", "keywords"),
    "on": ("topic", "date", "day", "subject"),
    "of": ("name", "title", "word", "song", "company", "book", "movie", "item"),
    "with": ("feature", "features", "amenities", "with", "ingredients"),
}
_TEXT_NAMES = ("title", "text", "song", "word", "name", "message", "query", "phrase", "term",
               "keyword", "keywords", "question", "sentence", "content", "isbn")  # fmt: skip
# Arguments that take what a request dictates ("saying ...", "remind me to ...").
_DICTATED_NAMES = ("message", "text", "body", "content", "note", "notes", "reminder", "memo",
                   "task", "subject", "title", "comment", "caption", "description")  # fmt: skip
_PLACE_NAMES = ("location", "city", "place", "area", "address", "region", "country", "state",
                "origin", "destination", "landmark", "venue", "from", "to")  # fmt: skip
_TIME_NAMES = ("date", "time", "day", "when", "datetime", "schedule", "start", "end")
_RATE_NAMES = ("rate", "ratio", "fraction", "probability", "yield", "return")
_PERCENT_NAMES = ("percent", "percentage", "pct")
_TOPIC_CUES = frozenset({"about", "regarding", "concerning", "related", "on", "in"})
_TOPIC_WORDS = (
    "topic",
    "subject",
    "query",
    "keyword",
    "keywords",
    "interest",
    "genre",
    "category",
    "theme",
)
_LIST_GAP = re.compile(r"\s*,?\s*(?:and|or|&)?\s*(?:in|for|at|of|on|to|from)?\s*", re.IGNORECASE)
_MIN_OPTIONAL = 2.0  # an optional argument is filled only from this score up
_MIN_REQUIRED = 0.5
_OTHER_VALUE = 0.5  # how much better a span must fit a taken argument to be its second value
# A code looked up for what the request names fits its argument better than the name.
_CODE_SCORE = 4.0


def candidates(
    schema: JSONObject | None,
    request: str,
    about: str = "",
    limit: int = 4,
    today: date | None = None,
) -> dict[str, list[Choice]]:
    """For each argument, the values the request offers, best first (at most `limit`).
    `about` is the function's name and description: words of the request that say what
    the function does ("latest", "average") describe the operation, not an argument."""
    found = spans(request)
    operation = frozenset(stems(about)) - STOPWORDS
    argument_slots = slots(schema)
    ranked = {}
    for index, slot in enumerate(argument_slots):
        options = _rank(slot, found, request, operation, today or date.today())
        place = index / max(1, len(argument_slots) - 1) if len(argument_slots) > 1 else 0.0
        ranked[slot.name] = sorted(
            (_in_order(choice, place, len(request)) for choice in options), key=lambda c: -c.score
        )[:limit]
    return ranked


def _in_order(choice: Choice, place: float, length: int) -> Choice:
    """A touch of order: with nothing else to tell them apart, earlier arguments take
    earlier values ("between London and Paris": origin London)."""
    if choice.span is None:
        return choice
    where = choice.span[0] / max(1, length)
    return replace(choice, score=choice.score + 0.2 * (1 - abs(where - place)))


def fill(
    schema: JSONObject | None, request: str, about: str = "", today: date | None = None
) -> dict[str, Any]:
    """The best consistent arguments: each span used once, optional arguments only when the
    request clearly gives them."""
    return {name: c.value for name, c in assign(schema, request, about, today).items()}


def exclusive_options(
    schema: JSONObject | None,
    request: str,
    about: str = "",
    limit: int = 4,
    today: date | None = None,
) -> dict[str, list[Choice]]:
    """`candidates`, without the spans the best consistent assignment gives to another
    argument: what an LLM arm may choose among, so that one phrase of the request never
    fills two arguments ("Rome, Italy" as both the destination and the date)."""
    chosen = assign(schema, request, about, today)
    options = candidates(schema, request, about, limit=8, today=today)
    exclusive: dict[str, list[Choice]] = {}
    for name, choices in options.items():
        taken = [_place(c) for other, c in chosen.items() if other != name]
        exclusive[name] = [c for c in choices if not any(_clash(_place(c), t) for t in taken)][
            :limit
        ]
    return exclusive


def assign(
    schema: JSONObject | None, request: str, about: str = "", today: date | None = None
) -> dict[str, Choice]:
    """The best consistent assignment of the request's values to the arguments. `today`
    is the day relative dates count from ("tomorrow"); None for the machine's date."""
    ranked = candidates(schema, request, about, limit=8, today=today)
    required = {slot.name for slot in slots(schema) if slot.required}
    pairs = sorted(
        ((choice.score, name, i, choice) for name, options in ranked.items()
         for i, choice in enumerate(options)),
        key=lambda item: (-item[0], item[1], item[2]),
    )  # fmt: skip
    # Each span's best score over every argument: a value joined to a taken argument's
    # value that fits that argument much better than this one is another value for it
    # ("the weather in Paris and in Rome": a second city, asked for by a second call), not
    # this argument's value.
    best_for_span: dict[tuple[bool, int, int], tuple[float, str]] = {}
    for score, name, _, choice in pairs:
        place = _place(choice)
        if place is not None and place not in best_for_span:
            best_for_span[place] = (score, name)
    chosen: dict[str, Choice] = {}
    used: list[tuple[bool, int, int]] = []
    for score, name, _, choice in pairs:
        if name in chosen:
            continue
        if score < (_MIN_REQUIRED if name in required else _MIN_OPTIONAL):
            continue
        place = _place(choice)
        if place is None:
            chosen[name] = choice
            continue
        if any(_clash(place, other) for other in used):
            continue
        best_score, best_name = best_for_span[place]
        if (
            best_name != name
            and best_name in chosen
            and best_score - score > _OTHER_VALUE
            and _joined(request, chosen[best_name].span, choice.span)
        ):
            continue
        chosen[name] = choice
        used.append(place)
    order = list(ranked)
    return {name: chosen[name] for name in order if name in chosen}


# --------------------------------------------------------------------------- scoring


def _rank(
    slot: Slot, found: list[Span], request: str, operation: frozenset[str], today: date
) -> list[Choice]:
    if slot.type == "boolean":
        return flag(slot, request)
    if slot.type == "array":
        return _list(slot, found, request)
    enum = slot.schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum_members(slot, enum, request)
    choices = [c for c in (_score(slot, span, operation) for span in found) if c is not None]
    codes = _codes(slot, request) if slot.type == "string" else []
    if codes:
        # Where a name has its code, the name itself ("Swiss" of "Swiss francs") is no
        # value for a code's argument.
        stretches = [(True, *code.span) for code in codes if code.span is not None]
        choices = [
            c for c in choices if not any(_clash((True, *c.span), s) for s in stretches if c.span)
        ]
    form = wanted_form(slot.schema) if slot.type == "string" else None
    if form is not None:
        # A date or time in the form the argument asks for ("2023-10-24" for "tomorrow");
        # one the words do not fix stays as written, for the verifier to judge.
        times = [(s.start, s.end) for s in found if s.kind == "time"]
        rendered = renderings(request, times, form, today)
        choices = [replace(c, value=rendered[c.span]) if c.span in rendered else c for c in choices]
    return sorted(choices + codes, key=lambda c: -c.score)


def _codes(slot: Slot, request: str) -> list[Choice]:
    """The standard codes of what the request names, for a time zone or currency slot."""
    if (
        "timezone" in slot.name_words
        or {"time", "zone"} <= slot.name_words
        or "tz" in slot.name_words
    ):
        named: list[NamedCode] = timezone_codes(request)
    elif "currency" in slot.name_words:
        named = currency_codes(request)
    else:
        return []
    choices = []
    for code in named:
        before = re.findall(r"[a-z]+", request[: code.start].lower())[-1:]
        cue = before[0] if before else ""
        bonus = 2.0 if cue in _CUES and any_of(slot.name_words, _CUES[cue]) else 0.0
        choices.append(Choice(code.code, _CODE_SCORE + bonus, (code.start, code.end), code=True))
    return choices


def _score(slot: Slot, span: Span, operation: frozenset[str] = frozenset()) -> Choice | None:
    if slot.type in ("integer", "number"):
        return _number(slot, span)
    if slot.type != "string":
        return None
    if span.kind == "number" and not _names_an_id(slot):
        return None
    if not _may_be_a_value(slot, span, operation):
        return None
    if span.kind == "clause":
        return _dictated(slot, span)
    score = 1.0 + _cue_score(slot, span)
    name = slot.name.lower()
    if span.kind == "quoted":
        score += 2.5 if any_of(slot.words, _TEXT_NAMES) else 1.0
    elif span.kind == "proper":
        score += 1.5 if any_of(slot.words, _PLACE_NAMES) or "name" in slot.words else 0.4
        score += 0.3 * min(len(span.text.split()), 3)  # "San Diego, California" over "Diego"
    elif span.kind == "time":
        score += 2.0 if any_of(slot.words, _TIME_NAMES) else -1.0
    else:  # a plain phrase: weakest evidence, but what topics and keywords are made of
        score += (
            0.6
            if any_of(
                slot.words,
                (
                    "topic",
                    "query",
                    "keyword",
                    "keywords",
                    "interest",
                    "genre",
                    "subject",
                    "category",
                    "discipline",
                    "level",
                    "cuisine",
                    "type",
                ),
            )
            else -0.5
        )
        score += 0.3 if span.whole else -0.3
        if any_of(slot.words, _PLACE_NAMES) and span.cue not in _CUES:
            score -= 0.5  # places are named ("Oslo") or cued ("in the city centre")
    if span.kind != "time" and any_of(slot.words, ("date", "time")) and "zone" not in name:
        score -= 1.5
    if set(span.before) & _TOPIC_CUES and any_of(slot.words, _TOPIC_WORDS):
        score += 2.0  # "related to technology", "about jazz"
    return Choice(span.value if span.kind != "proper" else span.text, score, (span.start, span.end))


def _may_be_a_value(slot: Slot, span: Span, operation: frozenset[str]) -> bool:
    """Whether a span can be a string argument's value at all. Not: words that only point
    at a value ("a specific gene", "a given organism"); what the function does or the
    argument's own name ("the latest news headlines", "by its ISBN", "my current
    location"); the noun a number counts ("for the past 14 days"), unless the argument is
    a unit; a plain phrase for an identifier ("the team meeting" for `meeting_id`). An
    argument with no value left is one the request does not give: the arm declines or
    asks an LLM, instead of calling with a word that is certainly wrong."""
    if span.kind == "quoted":
        return True  # quoted on purpose: "define the word 'define'"
    words = set(stems(span.text)) - STOPWORDS
    if not words or words <= operation | slot.name_words:
        return False
    if span.kind != "phrase":
        return True
    if _follows_number(span) and "unit" not in slot.words:
        return False
    return not _names_an_id(slot)


def _dictated(slot: Slot, span: Span) -> Choice | None:
    """Dictated words are one value, for a message-like argument only; the whole stretch
    a little over the one without its trailing time ("call mom" when a time argument
    takes "at 5 PM"; "meet me at 5 PM" when none does)."""
    if not any_of(slot.words, _DICTATED_NAMES):
        return None
    return Choice(span.value, 4.0 + 0.001 * (span.end - span.start), (span.start, span.end))


def _number(slot: Slot, span: Span) -> Choice | None:
    if span.kind != "number":
        return None
    value = span.value
    if span.percent and not any_of(slot.words, _PERCENT_NAMES):
        value = round(float(value) / 100, 10)  # "5%" is 0.05 for an interest rate
    if slot.type == "integer" and not float(value).is_integer():
        return None
    score = 1.0 + _cue_score(slot, span) + _named_score(slot, span)
    if span.percent:
        score += 2.0 if any_of(slot.words, _RATE_NAMES + _PERCENT_NAMES) else -1.0
    if span.money:
        score += (
            1.5
            if any_of(
                slot.words,
                (
                    "amount",
                    "price",
                    "cost",
                    "principal",
                    "balance",
                    "budget",
                    "income",
                    "value",
                    "investment",
                    "loan",
                    "salary",
                    "profit",
                    "flow",
                    "equity",
                    "revenue",
                ),
            )
            else 0.0
        )
    if not span.percent and any_of(slot.words, _RATE_NAMES) and not span.money:
        score -= 0.5
    if slot.type == "integer" and isinstance(value, int):
        value = int(value)
    return Choice(value, score, (span.start, span.end))


def _named_score(slot: Slot, span: Span) -> float:
    """ "a=2, b=-5": a value written after the argument's own name and "=" is its value."""
    return 4.0 if span.named and span.named.lower() == slot.name.lower() else 0.0


def _cue_score(slot: Slot, span: Span) -> float:
    """How well the words around a span point at this slot: the content words right
    before it ("rate of 5%": `rate`) and right after it, up to a break ("5 days": `days`;
    not "and" in "$1,000,000 and shareholder's equity"), and the cue word before it."""
    score = 0.0
    before = [w for w in span.before if w not in STOPWORDS][-1:]
    after = span.after[:1] if span.after and span.after[0] not in STOPWORDS else ()
    near = set(stems(" ".join([*before, *after])))
    score += 1.5 * len(slot.words & near)
    cue = span.cue
    if cue in _CUES and any_of(slot.name_words, _CUES[cue]):
        score += 2.0
    elif cue in _CUES and any_of(
        slot.words - {"to", "from", "in", "at", "on", "for", "by", "of", "with", "into"}, _CUES[cue]
    ):
        score += 1.0
    if span.kind == "phrase" and _follows_number(span) and "unit" in slot.name_words:
        score += 1.5  # "10 miles": the word after a number is its unit
    return score


def _follows_number(span: Span) -> bool:
    return bool(span.before) and bool(re.fullmatch(r"\d[\d.,]*", span.before[-1]))


def _list(slot: Slot, found: list[Span], request: str) -> list[Choice]:
    """An array: the enum members the request names, or the items it lists."""
    item = slot.item_schema
    enum = item.get("enum")
    if isinstance(enum, list) and enum:
        named = [c for c in enum_members(slot, enum, request) if c.score >= 3.0]
        return [Choice([c.value for c in named], 3.0)] if named else []
    item_slot = Slot(
        slot.name,
        item | {"description": slot.schema.get("description", "")},
        slot.required,
        slot.words,
    )
    if item_slot.type in ("integer", "number"):
        numbers = [c for c in (_number(item_slot, s) for s in found) if c is not None]
        return [Choice([c.value for c in numbers], 1.5)] if numbers else []
    listed = listed_items(request)
    return [Choice(listed, 2.0)] if listed else []


def _names_an_id(slot: Slot) -> bool:
    return any_of(slot.words, ("id", "code", "number", "zip", "isbn", "phone", "year", "pin"))


def _joined(request: str, first: tuple[int, int] | None, other: tuple[int, int] | None) -> bool:
    """Whether a list joins two values ("Paris and in Rome", "Paris, Rome"): the words
    between them are only "and"/"or"/a comma, and a preposition."""
    if first is None or other is None:
        return False
    (a_start, a_end), (b_start, b_end) = sorted([first, other])
    gap = request[a_end:b_start]
    return bool(gap.strip()) and _LIST_GAP.fullmatch(gap) is not None


def _place(choice: Choice) -> tuple[bool, int, int] | None:
    """Where a choice stands in the request, and whether it is a code for what stands
    there; None for an enum member or a flag."""
    return None if choice.span is None else (choice.code, *choice.span)


def _clash(a: tuple[bool, int, int] | None, b: tuple[bool, int, int] | None) -> bool:
    """Two choices that would use one stretch of the request twice: both its text, or
    both a code for it."""
    return a is not None and b is not None and a[0] == b[0] and a[1] < b[2] and b[1] < a[2]
