"""What a request states, as candidate argument values.

`spans(request)` finds every value a request gives, with where it stands: quoted text,
numbers (digits, number words, percentages, money), dates and times, proper names
("San Diego, California", "Ed Sheeran"), the phrases after cue words ("for science
fiction", "related to technology"), and what the request dictates ("saying I'll be
late"). Each span keeps the words around it (`before`, `after`), which the filler uses to
tell `origin` ("from Los Angeles") from `destination` ("to New York"), or `days` ("5
days") from `passengers` ("two people").

`grounding(value, request, schema)` says where an argument's value came from: the request,
an enum member, the schema's default, the standard code of something the request names
(`America/New_York` for "New York"; `agent.calls.codes`), or nowhere (ungrounded). The
verifier records it for every argument, and the reward counts the share grounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from agent.calls.clauses import dictated
from agent.calls.codes import named_codes
from agent.calls.dates import renderings, wanted_form
from agent.jsontypes import JSONObject

SpanKind = Literal["quoted", "number", "time", "proper", "phrase", "clause"]
Source = Literal["request", "enum", "default", "code", "ungrounded"]

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000, "dozen": 12, "couple": 2,
    "single": 1, "double": 2, "triple": 3, "half": 0.5,
}  # fmt: skip
_MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
).split()
_DAYS = "monday tuesday wednesday thursday friday saturday sunday weekend weekday".split()
_RELATIVE_TIMES = (
    "today tonight tomorrow yesterday now morning afternoon evening noon midnight".split()
)
# Words that end a phrase after a cue ("for science fiction with ...").
_BREAKS = frozenset(
    """a an the and or but with without for from to in on at by of near about into over
    under between that which who whose where when while than then so as is are be been
    was were it its this these those me my i you your our their please can could would
    should will shall do does did not""".split()
)
# Words a command's object starts with: the word before them opens a command.
_COMMAND_OBJECTS = frozenset("a an the my me our us your this these those all some".split())
# Opening words of requests: imperatives, not names, when capitalised at the start.
_IMPERATIVES = frozenset(
    """find get book search show tell give list calculate compute convert translate order
    set schedule reschedule check look make create send play recommend determine identify
    retrieve fetch invite simulate generate estimate predict what how which who where when
    is are can could would please i we let text message email remind notify ping call
    post share add remove delete cancel update buy sell reserve open close start stop""".split()
)
# Words a sentence starts with that are capitalised only for that reason ("A forecast for
# Oslo"): never a name on their own ("The Hague" still is one).
_OPENING_WORDS = frozenset(
    """a an the this that these those my our your his her their its there here some any
    every each all no one my me you he she they it if for in on at to from with""".split()
)
_QUOTED = re.compile(r"""(?:(?<=^)|(?<=[\s(\[:,]))(['"“‘])(.+?)(['"”’])(?=$|[\s.,;:!?)\]])""")
_NUMBER = re.compile(
    r"(?P<money>[$€£])?\s?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"\s?(?P<scale>k|m|bn|million|billion|thousand)?\b\s?(?P<pct>%|percent)?",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s?(am|pm|a\.m\.|p\.m\.)", re.IGNORECASE)
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'&.-]*[A-Za-z0-9]|[A-Za-z0-9]")


@dataclass(frozen=True, slots=True)
class Span:
    """One value the request states."""

    kind: SpanKind
    text: str  # as written
    value: Any  # the text, or the number it means
    start: int
    end: int
    before: tuple[str, ...]  # up to two words just before, lower-cased
    after: tuple[str, ...]  # up to two words just after, lower-cased
    percent: bool = False
    money: bool = False
    whole: bool = True  # a phrase that runs on to a break ("science fiction", not "science")

    @property
    def cue(self) -> str:
        return self.before[-1] if self.before else ""


def spans(request: str) -> list[Span]:
    """Every candidate value in `request`, de-duplicated by text and kind."""
    found: list[Span] = []
    found += _quoted(request)
    found += _numbers(request)
    found += _times(request)
    found += _proper_names(request)
    found += _phrases(request)
    found += _clauses(request, [(s.start, s.end) for s in found if s.kind == "time"])
    unique: dict[tuple[str, str], Span] = {}
    for span in found:
        unique.setdefault((span.kind, normalise(span.text)), span)
    return list(unique.values())


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
        words & {*_MONTHS, *_DAYS, *_RELATIVE_TIMES, "week", "month", "year", "weekend"}
    )


def _flatten(values: Any) -> list[Any]:
    if isinstance(values, list | tuple):
        return [item for value in values for item in _flatten(value)]
    if isinstance(values, dict):
        return [item for value in values.values() for item in _flatten(value)]
    return [values]


def normalise(value: str) -> str:
    """Case, punctuation and spacing folded: how strings are compared."""
    return " ".join(re.findall(r"[a-z0-9]+", value.lower()))


def numbers_in(request: str) -> list[float]:
    """Every number the request states, percentages also as fractions."""
    values: list[float] = []
    for span in _numbers(request):
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
    stretches = [(span.start, span.end) for span in _times(request)]
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
    """Whether the request names an enum member (all its words, any order)."""
    words = normalise(str(member)).split()
    asked = set(normalise(request).split())
    return bool(words) and all(w in asked or w.rstrip("s") in asked for w in words)


# --------------------------------------------------------------------------- finders


def _context(request: str, start: int, end: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    before = [w.lower() for w in _TOKEN.findall(request[:start])][-2:]
    after = [w.lower() for w in _TOKEN.findall(request[end:])][:2]
    return tuple(before), tuple(after)


def _clauses(request: str, times: list[tuple[int, int]]) -> list[Span]:
    """What the request dictates ("saying I'll be late", "remind me to call mom"):
    `agent.calls.clauses`."""
    found = []
    for start, end in dictated(request, times):
        before, after = _context(request, start, end)
        text = request[start:end]
        found.append(Span("clause", text, text, start, end, before, after))
    return found


def _quoted(request: str) -> list[Span]:
    found = []
    for match in _QUOTED.finditer(request):
        text = match.group(2).strip()
        if text:
            before, after = _context(request, match.start(), match.end())
            found.append(Span("quoted", text, text, match.start(2), match.end(2), before, after))
    return found


def _numbers(request: str) -> list[Span]:
    found = []
    for match in _NUMBER.finditer(request):
        if _CLOCK.match(request, match.start("num")):
            continue  # "7 PM" is a time, not a count
        number = float(match.group("num").replace(",", ""))
        scale = (match.group("scale") or "").lower()
        number *= {
            "k": 1e3,
            "thousand": 1e3,
            "m": 1e6,
            "million": 1e6,
            "bn": 1e9,
            "billion": 1e9,
        }.get(scale, 1)
        value: int | float = int(number) if number.is_integer() else number
        start, end = match.start(), match.end()
        before, after = _context(request, start, end)
        found.append(
            Span("number", match.group(0).strip(), value, start, end, before, after,
                 percent=bool(match.group("pct")), money=bool(match.group("money")))
        )  # fmt: skip
    for match in re.finditer(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", request, re.IGNORECASE):
        word = match.group(1).lower()
        if word in ("single", "double", "half") and not _counts(request, match.end()):
            continue
        before, after = _context(request, match.start(), match.end())
        found.append(
            Span(
                "number",
                match.group(1),
                _NUMBER_WORDS[word],
                match.start(),
                match.end(),
                before,
                after,
            )
        )
    return found


def _counts(request: str, end: int) -> bool:
    """Whether a word like "single" counts something here ("a single room")."""
    return bool(re.match(r"\s+[a-z]", request[end:]))


def _times(request: str) -> list[Span]:
    found = []
    for match in _CLOCK.finditer(request):
        before, after = _context(request, match.start(), match.end())
        text = match.group(0)
        found.append(Span("time", text, text, match.start(), match.end(), before, after))
    dates = re.compile(
        r"\b(?:(?:" + "|".join(_MONTHS) + r")\.?\s+\d{1,2}(?:st|nd|rd|th)?(?:,?\s*\d{4})?"
        r"|\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:" + "|".join(_MONTHS) + r")(?:\s+\d{4})?"
        r"|\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}(?:/\d{2,4})?"
        r"|(?:next|this|last)\s+(?:week|month|year|" + "|".join(_DAYS) + r")"
        r"|(?:" + "|".join(_DAYS + _RELATIVE_TIMES) + r"))\b",
        re.IGNORECASE,
    )
    for match in dates.finditer(request):
        before, after = _context(request, match.start(), match.end())
        text = match.group(0)
        found.append(Span("time", text, text, match.start(), match.end(), before, after))
    return found


def _proper_names(request: str) -> list[Span]:
    """Runs of capitalised words ("Los Angeles", "Ed Sheeran"), joined across ", " when
    both sides are capitalised ("San Diego, California")."""
    tokens = list(_TOKEN.finditer(request))
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        opens_sentence = _opens_sentence(request, tokens, i)
        word = tokens[i].group(0).lower()
        if _capitalised(tokens[i].group(0)) and not (
            opens_sentence and _stem_of_contraction(word) in _IMPERATIVES
        ):
            j = i
            while (
                j + 1 < len(tokens)
                and (
                    _capitalised(tokens[j + 1].group(0))
                    or tokens[j + 1].group(0).lower()
                    in ("of", "de", "del", "la", "von", "van", "&")
                    and j + 2 < len(tokens)
                    and _capitalised(tokens[j + 2].group(0))
                )
                and request[tokens[j].end() : tokens[j + 1].start()] in (" ", "")
            ):
                j += 1
            alone_at_start = j == i and opens_sentence
            if not (alone_at_start and (word in _OPENING_WORDS or _opens_a_command(tokens, i))):
                runs.append((tokens[i].start(), tokens[j].end()))
            i = j + 1
        else:
            i += 1
    joined: list[tuple[int, int]] = []
    for start, end in runs:
        if joined and request[joined[-1][1] : start] == ", ":
            joined.append((joined[-1][0], end))  # "Paris, France" besides "Paris"
        joined.append((start, end))
    found = []
    for start, end in joined:
        text = request[start:end].rstrip(".")
        if text.lower() in _IMPERATIVES or text.lower() in [*_MONTHS, *_DAYS, "am", "pm"]:
            continue
        before, after = _context(request, start, end)
        found.append(Span("proper", text, text, start, end, before, after))
    return found


def _opens_sentence(request: str, tokens: list[re.Match[str]], index: int) -> bool:
    return index == 0 or bool(
        re.search(r"[.?!]", request[tokens[index - 1].end() : tokens[index].start()])
    )


def _opens_a_command(tokens: list[re.Match[str]], index: int) -> bool:
    """A sentence's first word followed by an article or a pronoun ("Classify a given
    organism", "Move the meeting", "Remind me"): a verb, whether or not it is one of
    `_IMPERATIVES`; a name goes on differently ("Paris is", "Oslo weather")."""
    following = tokens[index + 1].group(0).lower() if index + 1 < len(tokens) else ""
    return following in _COMMAND_OBJECTS


def _stem_of_contraction(word: str) -> str:
    """ "what's" -> "what", "i'm" -> "i": the word a contraction starts with."""
    return re.split(r"['’]", word)[0]


def _capitalised(word: str) -> bool:
    return word[:1].isupper() or (len(word) > 1 and word.isupper())


def _phrases(request: str) -> list[Span]:
    """Lower-case phrases after a cue word: "for science fiction", "related to technology",
    "of the word 'serendipity'" (1-4 content words), and every content word alone."""
    found = []
    tokens = list(_TOKEN.finditer(request))
    for index, token in enumerate(tokens):
        word = _stem_of_contraction(token.group(0).lower())
        if word in _BREAKS or word in _IMPERATIVES or re.fullmatch(r"[\d.,/]+", word):
            continue  # numbers are `number` spans
        if _opens_sentence(request, tokens, index) and _opens_a_command(tokens, index):
            continue  # "Classify a given organism": the command, not a value
        end_index = index
        while (
            end_index + 1 < len(tokens)
            and end_index - index < 3
            and tokens[end_index + 1].group(0).lower() not in _BREAKS
            and request[tokens[end_index].end() : tokens[end_index + 1].start()] == " "
        ):
            end_index += 1
        # Cut at four words, a phrase does not run on to a break ("York Times best-selling
        # non-fiction" of "New York Times best-selling non-fiction books").
        capped = (
            end_index + 1 < len(tokens)
            and tokens[end_index + 1].group(0).lower() not in _BREAKS
            and request[tokens[end_index].end() : tokens[end_index + 1].start()] == " "
        )
        if index > 0 and _same_name(request, tokens[index - 1], token):
            continue  # "York Times ..." starts inside "New York Times"
        for last in range(index, end_index + 1):
            if last + 1 < len(tokens) and _same_name(request, tokens[last], tokens[last + 1]):
                continue  # "... New York" ends inside it
            start, end = token.start(), tokens[last].end()
            before, after = _context(request, start, end)
            text = request[start:end]
            whole = last == end_index and not capped  # runs on to a break, or the end
            found.append(Span("phrase", text, text, start, end, before, after, whole=whole))
    return found


def _same_name(request: str, left: re.Match[str], right: re.Match[str]) -> bool:
    """Two adjacent capitalised words, one name ("New York"): a phrase starts or ends at
    its edges, not inside it."""
    return (
        _capitalised(left.group(0))
        and _capitalised(right.group(0))
        and request[left.end() : right.start()] == " "
    )
