"""Prompts and grammars built from the retrieved docs (Gorilla's retriever-aware prompting).

The default model is a small *base* model, so the prompt is a few-shot completion: two
worked examples (fixed, so llama.cpp reuses their cached prefix across requests), then the
retrieved APIs and the request, ending in `Call:`.

`call_grammar` writes a llama.cpp GBNF grammar whose sentences are exactly the calls to the
retrieved APIs: a Python API's canonical call, or a function/HTTP operation called by name
with keyword arguments typed by its JSON schema (required ones first, in schema order, then
optional ones). A model decoding under it cannot name an API outside the retrieved set.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agent.errors import CallParseError
from agent.jsontypes import JSONObject
from agent.resolve import callable_name

if TYPE_CHECKING:
    from apidb import APIDoc
    from retriever import Hit

# How many retrieved docs the prompt shows; more costs prompt time for little gain.
PROMPT_DOCS = 4
_DESCRIPTION_CHARS = 100

FEW_SHOT = """\
Write the one API call that does what the request asks, using one of the APIs listed.

APIs:
[1] get_current_weather(city=<string>, unit=<string>) - Get the current weather for a city.
[2] torch.hub.load(repo_or_dir='pytorch/vision', model='resnet50', pretrained=True) - ResNet-50 image classifier trained on ImageNet.
Request: How warm is it in Lyon right now, in celsius?
Call: [1] get_current_weather(city='Lyon', unit='celsius')

APIs:
[1] hub.KerasLayer('https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/4') - Image feature vectors from MobileNet V2.
[2] pipeline('translation_en_to_de', model='t5-base') - Translate English text to German.
Request: I need to translate my product descriptions into German.
Call: [2] pipeline('translation_en_to_de', model='t5-base')
"""


def doc_line(index: int, doc: APIDoc) -> str:
    description = " ".join(doc.description.split())[:_DESCRIPTION_CHARS]
    return f"[{index}] {call_template(doc)} - {description or doc.name}"


def call_template(doc: APIDoc) -> str:
    """How the prompt shows a doc's call: the canonical call, or name(arg=<type>, ...)."""
    if doc.kind == "python":
        return " ".join(doc.call.split())
    props: JSONObject = (doc.parameters or {}).get("properties") or {}
    args = ", ".join(
        f"{name}=<{(spec or {}).get('type', 'value')}>" for name, spec in props.items()
    )
    return f"{callable_name(doc)}({args})"


def build_prompt(query: str, hits: Sequence[Hit], proposals: Sequence[str] = ()) -> str:
    lines = [FEW_SHOT, "APIs:"]
    numbered = list(enumerate(hits[:PROMPT_DOCS], start=1))
    # Best hit last, next to the request: small models lean toward what they read last.
    lines += [doc_line(i, hit.doc) for i, hit in reversed(numbered)]
    if proposals:
        lines.append("Candidate calls from other models:")
        lines += [f"- {p}" for p in proposals]
    lines.append(f"Request: {' '.join(query.split())}")
    return "\n".join(lines) + "\nCall:"


FILL_FEW_SHOT = """\
Write the call that does what the request asks, with the values the request gives.

Function: get_current_weather(city: string, unit: 'celsius' | 'fahrenheit') - Get the current weather for a city.
Request: How warm is it in Lyon right now, in celsius?
Call: get_current_weather(city='Lyon', unit='celsius')

Function: book_hotel(city: string, nights: integer, guests: integer, breakfast: boolean) - Book a hotel room.
Request: Find me a room in Porto for 3 nights for two people.
Call: book_hotel(city='Porto', nights=3, guests=2)
"""


def fill_signature(doc: APIDoc) -> str:
    """A function as the fill prompt shows it: its arguments with their types or values."""
    props: JSONObject = (doc.parameters or {}).get("properties") or {}
    args = []
    for name, spec in props.items():
        spec = spec if isinstance(spec, dict) else {}
        enum = spec.get("enum")
        if isinstance(enum, list) and enum:
            kind = " | ".join(repr(v) for v in enum[:8])
        else:
            kind = str(spec.get("type", "value"))
        args.append(f"{name}: {kind}")
    description = " ".join(doc.description.split())[: _DESCRIPTION_CHARS * 2]
    return f"{callable_name(doc)}({', '.join(args)}) - {description or doc.name}"


def build_fill_prompt(query: str, doc: APIDoc) -> str:
    """The prompt for filling one chosen function's arguments (few-shot, base models)."""
    return (
        f"{FILL_FEW_SHOT}\nFunction: {fill_signature(doc)}\n"
        f"Request: {' '.join(query.split())}\nCall:"
    )


def build_messages(
    query: str, hits: Sequence[Hit], proposals: Sequence[str] = ()
) -> list[dict[str, str]]:
    """The same content as a chat, for instruction-tuned models behind chat endpoints."""
    docs = "\n".join(doc_line(i, h.doc) for i, h in enumerate(hits[:PROMPT_DOCS], start=1))
    system = (
        "You write exactly one Python call to one of the APIs listed, with literal arguments. "
        "Answer with the call only: no explanation, no code fence."
    )
    user = f"APIs:\n{docs}\n"
    if proposals:
        user += "Candidate calls from other models:\n" + "\n".join(f"- {p}" for p in proposals)
        user += "\n"
    user += f"Request: {' '.join(query.split())}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


# --------------------------------------------------------------------------- grammar

# The literal rules every call grammar ends with (also `agent.calls.grammar`'s).
LITERAL_RULES = r"""
value ::= str | num | bool | "None" | list | dict
str ::= "'" [^'\\\n]{0,120} "'"
int ::= "-"? [0-9]{1,15}
num ::= "-"? [0-9]{1,15} ("." [0-9]{1,10})?
bool ::= "True" | "False"
list ::= "[" (value (", " value){0,15})? "]"
dict ::= "{" (str ": " value (", " str ": " value){0,15})? "}"
"""
_TYPE_RULES = {
    "string": "str",
    "integer": "int",
    "number": "num",
    "boolean": "bool",
    "array": "list",
    "object": "dict",
}


def call_grammar(docs: Sequence[APIDoc]) -> str:
    """A GBNF grammar for one call to one of `docs`. Raises if none of them is callable."""
    alternatives: list[str] = []
    rules: list[str] = []
    seen: set[str] = set()
    for number, doc in enumerate(docs, start=1):
        rule = _doc_rule(doc, len(rules), rules)
        if rule is not None and rule not in seen:
            seen.add(rule)
            alternatives.append(f'"[{number}] " {rule}')
    if not alternatives:
        raise CallParseError("none of the retrieved APIs has a call a grammar can express")
    root = "root ::= " + " | ".join(alternatives)
    return "\n".join([root, *rules]) + LITERAL_RULES


def grammar_alternatives(docs: Sequence[APIDoc]) -> tuple[list[str], list[str]]:
    """What `call_grammar(docs)` allows: the fixed call strings, and the `name(` prefixes
    of calls whose arguments are free."""
    fixed: list[str] = []
    open_names: list[str] = []
    for number, doc in enumerate(docs, start=1):
        if doc.kind == "python":
            call = " ".join(doc.call.split())
            if call and _parses(call):
                fixed.append(f"[{number}] {call}")
        else:
            open_names.append(f"[{number}] {callable_name(doc)}(")
    return fixed, open_names


def _doc_rule(doc: APIDoc, index: int, rules: list[str]) -> str | None:
    if doc.kind == "python":
        call = " ".join(doc.call.split())
        if not call or not _parses(call):
            return None  # APIBench has a few shell commands; they are not Python calls
        return _gbnf_string(call)
    props: JSONObject = (doc.parameters or {}).get("properties") or {}
    required = [n for n in (doc.parameters or {}).get("required") or [] if n in props]
    optional = [n for n in props if n not in required]
    name = f"call{index}"

    def arg(a: str) -> str:
        return f'"{a}=" {_value_rule(props[a] or {})}'

    def rest(names: list[str]) -> str:
        return " ".join(f'(", " {arg(a)})?' for a in names)

    if required:
        body = ' ", " '.join(arg(a) for a in required) + " " + rest(optional)
    elif optional:
        # Any in-order subset of the optional arguments, with no leading comma.
        starts = [f"{arg(a)} {rest(optional[i + 1 :])}" for i, a in enumerate(optional)]
        body = "(" + " | ".join(starts) + ")?"
    else:
        body = ""
    rules.append(f'{name} ::= {_gbnf_string(callable_name(doc) + "(")} {body} ")"')
    return name


def _value_rule(schema: JSONObject) -> str:
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return "(" + " | ".join(_gbnf_string(repr(v)) for v in enum) + ")"
    kind = schema.get("type")
    return _TYPE_RULES.get(kind, "value") if isinstance(kind, str) else "value"


def _gbnf_string(text: str) -> str:
    return json.dumps(text)  # GBNF string literals use JSON's escapes


def _parses(code: str) -> bool:
    import ast

    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True
