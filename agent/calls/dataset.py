"""Function-calling development cases, built reproducibly from Gorilla OpenFunctions v1.

The source (`apidb/data/openfunctions/`, 112 requests) has one function per request and a
reference call written by a model. From it:

- `single`: each request with its own function alone;
- `choose`: each request with its own function among 1-3 other requests' functions (2-4
  candidates, shuffled), half of the others picked for sharing a name prefix or the most
  words with the right one (`stock.moving_average` beside `stock.standard_deviation`), the
  rest at random;
- `decline`: each request with 2-4 other requests' functions and not its own. A function
  that could serve the request anyway is never offered: not one with the same callable,
  not one from the same family (first name segment), and not one whose own request reads
  too much like this one (word overlap, a shared family of words such as "exchange rate").

Seeded (`seed=0`): the same cases on every machine. Each reference value is marked
*grounded* when the request states it (a span, a number, a number word, a percentage, an
enum member it names); the figures count exactness only over the arguments a request
grounds, and report the references that invent values apart (SOURCE.md's advice).

The references count relative dates from Monday 23 October 2023 ("tomorrow" is
2023-10-24, "on Thursday" 2023-10-26); `TODAY_SAID` says so the way an agent's system
prompt does, and the benchmark sends it with every case.
"""

from __future__ import annotations

import ast
import json
import random
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from agent.jsontypes import JSONObject

SOURCE = Path(__file__).resolve().parents[2] / "apidb" / "data" / "openfunctions"
SOURCE_FILE = SOURCE / "gorilla_openfunctions_v1_test.json"
CaseKind = Literal["single", "choose", "decline"]
REFERENCE_DATE = date(2023, 10, 23)
TODAY_SAID = f"Today is {REFERENCE_DATE:%A}, {REFERENCE_DATE.isoformat()}."
CASE_KINDS: tuple[CaseKind, ...] = ("single", "choose", "decline")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("a an the of for to in on at by with and or from my me i is it get find".split())


@dataclass(frozen=True)
class Reference:
    """A reference call: the function's OpenAI name and its keyword arguments."""

    name: str
    arguments: dict[str, Any]
    grounded: dict[str, bool]

    @property
    def all_grounded(self) -> bool:
        return all(self.grounded.values())


@dataclass(frozen=True)
class Case:
    kind: CaseKind
    source: int  # index into the source file
    question: str
    tools: list[JSONObject]  # OpenAI tool definitions, as a client sends them
    expected: Reference | None  # None: no offered function fits (decline)
    tags: list[str] = field(default_factory=list)

    def schema(self, name: str) -> JSONObject | None:
        """The parameters schema of the offered function called `name`."""
        for tool in self.tools:
            if tool["function"]["name"] == name:
                parameters: JSONObject | None = tool["function"].get("parameters")
                return parameters
        return None


def tool_name(api_call: str) -> str:
    """The OpenAI function name a client would send for a dotted callable."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", api_call)[:64]


def load_source(path: Path = SOURCE_FILE) -> list[JSONObject]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


def build_cases(seed: int = 0, path: Path = SOURCE_FILE) -> list[Case]:
    """Every case of every kind, in source order within each kind."""
    records = load_source(path)
    tools = [_tool(record) for record in records]
    rng = random.Random(seed)
    cases: list[Case] = []
    for index, record in enumerate(records):
        reference = _reference(record)
        question = str(record["question"])
        cases.append(Case("single", index, question, [tools[index]], reference))
    for index, record in enumerate(records):
        others = _distractors(records, index, rng.randint(1, 3), rng, related=True)
        offered = [tools[index], *(tools[i] for i in others)]
        rng.shuffle(offered)
        cases.append(Case("choose", index, str(record["question"]), offered, _reference(record)))
    for index, record in enumerate(records):
        unrelated = _distractors(records, index, rng.randint(2, 4), rng, related=False)
        offered = [tools[i] for i in unrelated]
        cases.append(Case("decline", index, str(record["question"]), offered, None))
    return cases


# --------------------------------------------------------------------------- pieces


def _tool(record: JSONObject) -> JSONObject:
    function = record["function"]
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    return {
        "type": "function",
        "function": {
            "name": tool_name(str(function["api_call"])),
            "description": str(function.get("description") or function.get("name") or ""),
            "parameters": parameters,
        },
    }


def _reference(record: JSONObject) -> Reference:
    call = ast.parse(str(record["model_answer"]).strip(), mode="eval").body
    assert isinstance(call, ast.Call)
    arguments = {k.arg: _value(k.value) for k in call.keywords if k.arg is not None}
    question = str(record["question"])
    properties = ((record["function"].get("parameters") or {}).get("properties")) or {}
    grounded = {
        name: is_grounded(value, question, properties.get(name) or {})
        for name, value in arguments.items()
    }
    return Reference(tool_name(str(record["function"]["api_call"])), arguments, grounded)


def _value(node: ast.expr) -> Any:
    """A reference argument's value; a bare name (`loc=Berkeley`) is the string it spells,
    and JSON's `true`/`false` (which some references use) are booleans."""
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        text = ast.unparse(node)
        return {"true": True, "false": False}.get(text, text)


def _family(record: JSONObject) -> str:
    return str(record["function"]["api_call"]).split(".")[0].lower()


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def _similarity(a: JSONObject, b: JSONObject) -> float:
    """Word overlap (Jaccard) of two records' requests and function names."""
    left = _words(a["question"]) | _words(str(a["function"]["api_call"]).replace("_", " "))
    right = _words(b["question"]) | _words(str(b["function"]["api_call"]).replace("_", " "))
    return len(left & right) / max(1, len(left | right))


def _distractors(
    records: list[JSONObject], index: int, count: int, rng: random.Random, *, related: bool
) -> list[int]:
    own = records[index]
    own_call = str(own["function"]["api_call"])
    first_of: dict[str, int] = {}  # one record per callable: a client's tools have unique names
    for i, record in enumerate(records):
        first_of.setdefault(str(record["function"]["api_call"]), i)
    pool = [i for call, i in first_of.items() if i != index and call != own_call]
    if not related:
        # Nothing that could serve this request: another family, and a request unlike it.
        pool = [
            i
            for i in pool
            if _family(records[i]) != _family(own) and _similarity(records[i], own) < 0.2
        ]
        return rng.sample(pool, min(count, len(pool)))
    ranked = sorted(pool, key=lambda i: (-_name_overlap(records[i], own), i))
    hard = [i for i in ranked[: max(1, count)] if _name_overlap(records[i], own) > 0]
    picked = hard[: (count + 1) // 2]
    rest = [i for i in pool if i not in picked]
    picked += rng.sample(rest, count - len(picked))
    return picked


def _name_overlap(a: JSONObject, b: JSONObject) -> int:
    """How alike two callables are: a shared family counts double, then shared words."""
    family = 2 if _family(a) == _family(b) else 0
    words_a = _words(str(a["function"]["api_call"]).replace("_", " ").replace(".", " "))
    words_b = _words(str(b["function"]["api_call"]).replace("_", " ").replace(".", " "))
    return family + len(words_a & words_b)


# --------------------------------------------------------------------------- grounding


_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "hundred": 100, "a couple": 2,
    "a dozen": 12, "dozen": 12, "single": 1, "double": 2, "half": 0.5,
}  # fmt: skip


def normalise_text(value: str) -> str:
    """Case, punctuation and spacing folded: how strings are compared."""
    return " ".join(re.findall(r"[a-z0-9]+", value.lower()))


def request_numbers(question: str) -> list[float]:
    """Every number the request states: digits (with thousands separators), number words,
    and percentages both as written and as a fraction (`5%` is 5 and 0.05)."""
    numbers: list[float] = []
    for match in re.finditer(r"(\d[\d,]*(?:\.\d+)?)\s*(%|percent)?", question.lower()):
        value = float(match.group(1).replace(",", ""))
        numbers.append(value)
        if match.group(2):
            numbers.append(round(value / 100, 10))
    lowered = f" {question.lower()} "
    for word, value in _NUMBER_WORDS.items():
        if re.search(rf"\b{re.escape(word)}\b", lowered):
            numbers.append(float(value))
    return numbers


def is_grounded(value: Any, question: str, schema: JSONObject) -> bool:
    """Whether the request states `value` (every item, for a list)."""
    if isinstance(value, list):
        return bool(value) and all(is_grounded(item, question, schema) for item in value)
    if isinstance(value, bool):
        return True  # a yes/no the request implies by asking for the feature
    if isinstance(value, int | float):
        return any(abs(float(value) - n) < 1e-9 for n in request_numbers(question))
    if isinstance(value, str):
        # Every word of the value is in the request: "Golden Gate Bridge, San Francisco"
        # from "near the Golden Gate Bridge in San Francisco".
        words, asked = normalise_text(value).split(), set(normalise_text(question).split())
        return bool(words) and all(word in asked for word in words)
    return False
