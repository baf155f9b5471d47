"""Where a request states values: `spans(request)` finds quoted text, numbers (digits,
number words, percentages, money, negatives, "a=2"), dates and times, proper names ("San
Diego, California", "Ed Sheeran"), the phrases after cue words ("for science fiction",
"related to technology"), and what the request dictates ("saying I'll be late"). Each
span keeps the words around it (`before`, `after`), which the filler uses to tell
`origin` ("from Los Angeles") from `destination` ("to New York"), or `days` ("5 days")
from `passengers` ("two people"). `agent.calls.grounding` judges values against them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from agent.calls.clauses import dictated

SpanKind = Literal["quoted", "number", "time", "proper", "phrase", "clause"]

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000, "dozen": 12, "couple": 2,
    "single": 1, "double": 2, "triple": 3, "half": 0.5,
}  # fmt: skip
MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
).split()
DAYS = "monday tuesday wednesday thursday friday saturday sunday weekend weekday".split()
RELATIVE_TIMES = (
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
# Verbs that open a command: never a name when capitalised at a sentence's start, and
# the start of a request of its own after "and"/"then" (`agent.calls.plan`).
COMMAND_VERBS = frozenset(
    """find get book search show tell give list calculate compute convert translate order
    set schedule reschedule check look make create send email mail message text call play
    recommend determine identify retrieve fetch invite simulate generate estimate predict
    add remove delete cancel update buy sell reserve post share notify remind ping open
    close start stop turn lookup""".split()
)
# Opening words of requests that are no names either: commands and question words.
_IMPERATIVES = COMMAND_VERBS | frozenset(
    "what how which who where when is are can could would please i we let".split()
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
    named: str = ""  # the name written right before it with "=" or ":" ("b" of "b=-5")

    @property
    def cue(self) -> str:
        return self.before[-1] if self.before else ""


def spans(request: str) -> list[Span]:
    """Every candidate value in `request`, de-duplicated by text and kind."""
    found: list[Span] = []
    found += _quoted(request)
    found += number_spans(request)
    found += time_spans(request)
    found += _proper_names(request)
    found += _phrases(request)
    found += _clauses(request, [(s.start, s.end) for s in found if s.kind == "time"])
    unique: dict[tuple[str, str], Span] = {}
    for span in found:
        unique.setdefault((span.kind, normalise(span.text)), span)
    return list(unique.values())


def normalise(value: str) -> str:
    """Case, punctuation and spacing folded: how strings are compared."""
    return " ".join(re.findall(r"[a-z0-9]+", value.lower()))


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


def number_spans(request: str) -> list[Span]:
    found = []
    for match in _NUMBER.finditer(request):
        if _CLOCK.match(request, match.start("num")):
            continue  # "7 PM" is a time, not a count
        number = float(match.group("num").replace(",", ""))
        scale = (match.group("scale") or "").lower()
        if scale in ("k", "m") and not match.group("money"):
            scale = ""  # "$5m" is five million; "9.8 m/s" and "10 k" are units
        number *= {
            "k": 1e3,
            "thousand": 1e3,
            "m": 1e6,
            "million": 1e6,
            "bn": 1e9,
            "billion": 1e9,
        }.get(scale, 1)
        start = match.start("money") if match.group("money") else match.start("num")
        end = match.end()
        if request[max(0, start - 2) : start].endswith(("^", "**")):
            continue  # "m/s^2", "x**3": an exponent, not a value
        if re.search(r"[A-Za-z]-$", request[max(0, start - 2) : start]):
            continue  # "COVID-19", "GPT-4": part of a name
        if _minus_before(request, start):
            number, start = -number, start - 1  # "b=-5", "-40 degrees", not "2019-2020"
        value: int | float = int(number) if number.is_integer() else number
        before, after = _context(request, start, end)
        found.append(
            Span("number", request[start:end].strip(), value, start, end, before, after,
                 percent=bool(match.group("pct")), money=bool(match.group("money")),
                 named=_named_before(request, start))
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


def _minus_before(request: str, start: int) -> bool:
    """A minus sign, not a hyphen: "-" right before the digits, with no word or digit
    before it ("a=-5", "(-3", "-40"; not "2019-2020" or "COVID-19")."""
    return (
        start > 0
        and request[start - 1] == "-"
        and (start == 1 or not (request[start - 2].isalnum() or request[start - 2] in "_-"))
    )


_NAMED = re.compile(r"(?:^|[\s(,;])([A-Za-z_][\w]*)\s*[=:]\s*$")


def _named_before(request: str, start: int) -> str:
    """The identifier written right before a value with "=" or ":" ("a=2", "n: 10")."""
    match = _NAMED.search(request[max(0, start - 40) : start])
    return match.group(1) if match else ""


def _counts(request: str, end: int) -> bool:
    """Whether a word like "single" counts something here ("a single room")."""
    return bool(re.match(r"\s+[a-z]", request[end:]))


def time_spans(request: str) -> list[Span]:
    found = []
    for match in _CLOCK.finditer(request):
        before, after = _context(request, match.start(), match.end())
        text = match.group(0)
        found.append(Span("time", text, text, match.start(), match.end(), before, after))
    dates = re.compile(
        r"\b(?:(?:" + "|".join(MONTHS) + r")\.?\s+\d{1,2}(?:st|nd|rd|th)?(?:,?\s*\d{4})?"
        r"|\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:" + "|".join(MONTHS) + r")(?:\s+\d{4})?"
        r"|\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}(?:/\d{2,4})?"
        r"|(?:next|this|last)\s+(?:week|month|year|" + "|".join(DAYS) + r")"
        r"|(?:" + "|".join(DAYS + RELATIVE_TIMES) + r"))\b",
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
        if text.lower() in _IMPERATIVES or text.lower() in [*MONTHS, *DAYS, "am", "pm"]:
            continue
        possessive = re.search(r"['’]s$", text)
        if possessive and re.match(r"\s+[a-z]", request[end:]):
            # "Tesla's revenue": the name is Tesla; what follows is what it has
            text, end = text[: possessive.start()], start + possessive.start()
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
