"""The grammar an LLM arm fills a function's arguments under (llama.cpp GBNF).

Built from the function's JSON schema, and from what the request grounds:

- required arguments always, in schema order; optional ones only when the request offers a
  value for them (`fill.candidates`), each may still be left out;
- an argument the request offers values for may take only those values (the spans,
  numbers and enum members `fill.candidates` found, within `margin` of the best);
- otherwise its type's rule: enum members, integers, numbers, booleans, strings, arrays of
  the item type, objects with their own properties, nested as deep as the schema goes
  (to `MAX_DEPTH`).

A schema the grammar cannot express exactly (a `$ref`, `oneOf`/`anyOf` of objects, an enum
over `MAX_ENUM` values, nesting past `MAX_DEPTH`) falls back to a looser rule for that
argument (any literal), with the reason logged: never an error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from keyword import iskeyword
from typing import Any

from agent.calls.slots import Choice, slots
from agent.jsontypes import JSONObject
from agent.prompting import LITERAL_RULES

logger = logging.getLogger("toolroute.calls")
MAX_ENUM = 256
MAX_DEPTH = 6

_TYPES = {"string": "str", "integer": "int", "number": "num", "boolean": "bool"}


@dataclass
class _Rules:
    lines: list[str] = field(default_factory=list)
    loosened: list[str] = field(default_factory=list)

    def add(self, body: str) -> str:
        name = f"r{len(self.lines)}"
        self.lines.append(f"{name} ::= {body}")
        return name


def render(value: Any) -> str:
    """A value as the call writes it (a Python literal)."""
    return repr(value)


def keyword(name: str, rendered: str) -> str:
    """One keyword argument as the call writes it: `name=value`, or `**{'first-name':
    value}` for a name that is not a Python identifier."""
    if name.isidentifier() and not iskeyword(name):
        return f"{name}={rendered}"
    return f"**{{{name!r}: {rendered}}}"


def render_call(function: str, arguments: dict[str, Any]) -> str:
    return f"{function}({', '.join(keyword(k, render(v)) for k, v in arguments.items())})"


def fill_grammar(
    function: str,
    schema: JSONObject | None,
    options: dict[str, list[Choice]],
    *,
    margin: float = 1.0,
) -> tuple[str, list[str]]:
    """(GBNF for one call of `function`, the arguments loosened and why)."""
    rules = _Rules()
    required: list[str] = []
    optional: list[str] = []
    for slot in slots(schema):
        choices = _close(options.get(slot.name) or [], margin)
        if choices:
            body = " | ".join(_literal(render(c.value)) for c in choices)
        else:
            body = _type_rule(slot.schema, rules, slot.name, 0)
        head, tail = keyword(slot.name, "\0").split("\0")
        argument = rules.add(f"{_literal(head)} ({body}) {_literal(tail)}".replace(' ""', ""))
        if slot.required:
            required.append(argument)
        elif choices:
            optional.append(argument)
    head = _literal(f"{function}(")
    if required:
        body = ' ", " '.join(required) + "".join(f' (", " {a})?' for a in optional)
    elif optional:
        starts = [
            a + "".join(f' (", " {b})?' for b in optional[i + 1 :]) for i, a in enumerate(optional)
        ]
        body = "(" + " | ".join(starts) + ")?"
    else:
        body = ""
    root = f'root ::= {head} {body} ")"'
    for reason in rules.loosened:
        logger.info("grammar for %s: %s", function, reason)
    return "\n".join([root, *rules.lines]) + LITERAL_RULES, rules.loosened


def _close(choices: Sequence[Choice], margin: float) -> list[Choice]:
    """The choices within `margin` of the best: the ones worth the model's judgement."""
    if not choices:
        return []
    best = max(c.score for c in choices)
    unique: dict[str, Choice] = {}
    for choice in choices:
        if choice.score >= best - margin:
            unique.setdefault(render(choice.value), choice)
    return list(unique.values())


def _type_rule(schema: Any, rules: _Rules, where: str, depth: int) -> str:
    if not isinstance(schema, dict):
        return "value"
    if depth > MAX_DEPTH:
        rules.loosened.append(f"{where}: nested past {MAX_DEPTH} levels, any literal")
        return "value"
    if "$ref" in schema or any(key in schema for key in ("oneOf", "anyOf", "allOf")):
        rules.loosened.append(f"{where}: $ref/oneOf/anyOf/allOf, any literal")
        return "value"
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        if len(enum) > MAX_ENUM:
            rules.loosened.append(f"{where}: an enum of {len(enum)} values, any literal")
            return "value"
        return "(" + " | ".join(_literal(render(v)) for v in enum) + ")"
    kind = schema.get("type")
    if kind in _TYPES:
        return _TYPES[str(kind)]
    if kind == "array":
        item = _type_rule(schema.get("items"), rules, f"{where}[]", depth + 1)
        return rules.add(f'"[" ({item} (", " {item}){{0,15}})? "]"')
    if kind == "object":
        properties = schema.get("properties")
        if not isinstance(properties, dict) or not properties:
            return "dict"
        pairs = [
            _literal(repr(str(name)) + ": ")
            + " "
            + _type_rule(spec, rules, f"{where}.{name}", depth + 1)
            for name, spec in properties.items()
        ]
        body = ' ", " '.join(rules.add(pair) for pair in pairs)
        return f'"{{" {body} "}}"'
    return "value"


def _literal(text: str) -> str:
    return json.dumps(text)  # GBNF string literals use JSON's escapes
