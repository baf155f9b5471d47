"""Gorilla's AST accuracy, re-implemented with Python's `ast` (no code copied).

A generated call is matched against a hub's API database in catalog order; the first API
whose canonical call it matches decides:

- **correct**: that API's `domain` equals the question's gold domain;
- **hallucination**: no API matches (an invented model, a malformed call, no call at all);
- **error**: an API matches, but from another domain.

What "matches" means per hub, as in the paper's evaluation:

- huggingface: the same function name, and every argument of the canonical call present
  with the same value (positional by position, keyword by name); extra arguments are fine;
- torchhub: `repo_or_dir` and `model` equal, positionally or by keyword;
- tensorflowhub: the same function name and model handle, and the canonical call's other
  arguments present with the same value.

Known looseness (why `strict` accuracy exists beside it): correctness is judged by domain
only, so any API of the right domain counts, even the wrong model; functions are compared
by their last name, so `AutoTokenizer.from_pretrained('m')` matches the catalog's
`AutoModel.from_pretrained('m')`; the first match in catalog order wins, so a call
matching two APIs is judged by the earlier one; and only the call is judged, not the code
around it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from apidb import APIDoc

Verdict = Literal["correct", "hallucination", "error"]
_MISSING = object()

_API_CALL_FIELD = re.compile(
    r"""api_call(?:>>>)?['"]?\s*:\s*(.*?)(?:,?\s*(?:<<<|['"])api_provider|\Z)""", re.S
)
_CODE_FIELD = re.compile(r"<<<code>>>\s*:\s*(.*)", re.S)


@dataclass(frozen=True, slots=True)
class CallShape:
    """One call as the matcher sees it: its function name and literal-ish arguments."""

    function: str  # the last name of the callee (`from_pretrained`, `load`, `KerasLayer`)
    args: tuple[object, ...]
    kwargs: dict[str, object]

    def positional_or(self, index: int, name: str) -> object:
        if name in self.kwargs:
            return self.kwargs[name]
        return self.args[index] if index < len(self.args) else _MISSING


@dataclass(frozen=True, slots=True)
class Match:
    api_id: str | None
    domain: str | None

    def verdict(self, gold_domain: str) -> Verdict:
        if self.api_id is None:
            return "hallucination"
        return "correct" if self.domain == gold_domain else "error"


def extract_call_text(text: str) -> str:
    """The call in a model's answer: the `api_call` field of Gorilla-style output (HF/TF
    `<<<api_call>>>: ...`, TorchHub's dict), else the `<<<code>>>` part, else all of it."""
    field = _API_CALL_FIELD.search(text)
    if field:
        value = _unescape(field.group(1)).strip().strip(",").strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]  # TorchHub's dict quotes the call: "model = torch.hub.load(...)"
        return value
    code = _CODE_FIELD.search(text)
    return _unescape(code.group(1) if code else text)


def _unescape(text: str) -> str:
    # The released responses escape newlines and quotes once more than JSON does.
    return text.replace("\\n", "\n").replace('\\"', '"').replace("\\'", "'")


def call_shapes(text: str) -> list[CallShape]:
    """Every call in `text`, outermost first: `tf.keras.Sequential([hub.KerasLayer(...)])`
    gives Sequential, then KerasLayer. Lines that do not parse on their own are skipped,
    so prose around a call does not hide it."""
    tree = _parse(text)
    if tree is None:
        return []
    return [_shape(node) for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _parse(text: str) -> ast.AST | None:
    for candidate in (text.strip(), _keywords_last(text.strip())):
        try:
            return ast.parse(candidate)
        except (SyntaxError, ValueError):
            continue
    parsed = []
    for line in text.splitlines():
        try:
            parsed.append(ast.parse(line.strip()))
        except (SyntaxError, ValueError):
            continue
    return ast.Module(body=[s for m in parsed for s in m.body], type_ignores=[]) if parsed else None


def _keywords_last(text: str) -> str:
    """`f(a=1, 'x', b=2)` as `f('x', a=1, b=2)`: seven TorchHub catalog calls put a
    positional argument after a keyword one, which Python refuses but Gorilla's parser took."""
    opening = text.find("(")
    if opening < 0 or not text.endswith(")"):
        return text
    parts, depth, quote, start = [], 0, "", opening + 1
    for i, char in enumerate(text[opening + 1 : -1], start=opening + 1):
        if quote:
            quote = "" if char == quote and text[i - 1] != "\\" else quote
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:-1].strip())
    keyword = re.compile(r"^[A-Za-z_]\w*\s*=(?!=)")
    ordered = [p for p in parts if p and not keyword.match(p)] + [
        p for p in parts if p and keyword.match(p)
    ]
    return f"{text[: opening + 1]}{', '.join(ordered)})"


def _shape(node: ast.Call) -> CallShape:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    args = tuple(_value(a) for a in node.args if not isinstance(a, ast.Starred))
    kwargs = {k.arg: _value(k.value) for k in node.keywords if k.arg is not None}
    return CallShape(name, args, kwargs)


def _value(node: ast.expr) -> object:
    """A literal's value; for anything else its normalised source (so `x` matches `x`)."""
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return ("<expr>", ast.dump(node, annotate_fields=False))


class HubMatcher:
    """One hub's API database, parsed once, in catalog order."""

    def __init__(self, hub: str, docs: Iterable[APIDoc]) -> None:
        self.hub = hub
        self._apis: list[tuple[APIDoc, CallShape]] = []
        for doc in docs:
            shapes = call_shapes(doc.call)
            if shapes:  # a handful of catalog "calls" are shell commands: never matched
                self._apis.append((doc, shapes[0]))

    def __len__(self) -> int:
        return len(self._apis)

    def match(self, generated: str) -> Match:
        """The first catalog API (in catalog order) that any call in `generated` matches."""
        shapes = call_shapes(extract_call_text(generated))
        if not shapes:
            return Match(None, None)
        for doc, reference in self._apis:
            if any(self._matches(shape, reference) for shape in shapes):
                return Match(doc.id, doc.domain)
        return Match(None, None)

    def _matches(self, shape: CallShape, reference: CallShape) -> bool:
        if self.hub == "torchhub":
            return all(
                shape.positional_or(i, name) == reference.positional_or(i, name)
                and reference.positional_or(i, name) is not _MISSING
                for i, name in enumerate(("repo_or_dir", "model"))
            )
        if shape.function != reference.function:
            return False
        if self.hub == "tensorflowhub":
            handle = reference.positional_or(0, "handle")
            if handle is _MISSING or shape.positional_or(0, "handle") != handle:
                return False
            return _contains(shape, reference, skip_first=True)
        return _contains(shape, reference, skip_first=False)


def _contains(shape: CallShape, reference: CallShape, *, skip_first: bool) -> bool:
    """Every argument of `reference` is in `shape` with the same value."""
    start = 1 if skip_first else 0
    for index in range(start, len(reference.args)):
        if index >= len(shape.args) or shape.args[index] != reference.args[index]:
            return False
    return all(shape.kwargs.get(k, _MISSING) == v for k, v in reference.kwargs.items())


def ast_verdicts(
    matcher: HubMatcher, generated: Sequence[str], gold_domains: Sequence[str]
) -> list[Verdict]:
    return [matcher.match(g).verdict(d) for g, d in zip(generated, gold_domains, strict=True)]
