"""`APICall`: generated text parsed into a structured call, with Python's `ast`.

Model output is never evaluated. `parse_calls` reads the text as Python source (or the
first code block in it), records every call with its function path as written and as
imported (`hub.load` after `import tensorflow_hub as hub` is `tensorflow_hub.load`), and
keeps each argument as a Python literal where it is one (`ast.literal_eval` only accepts
literals) or as its source text (an `Expression`) where it is not.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from agent.errors import CallParseError

# Longer text is not a call a model wrote for one request; refuse before parsing.
MAX_CALL_CHARS = 20_000
_CODE_BLOCK = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.DOTALL)
# The prompt numbers the APIs it lists; models (and the call grammar) lead with the number.
_DOC_LABEL = re.compile(r"^\s*\[\d{1,3}\]\s*")


@dataclass(frozen=True, slots=True)
class Expression:
    """An argument that is not a literal (a variable, a call, ...): kept as source text."""

    source: str

    def to_json(self) -> dict[str, str]:
        return {"expr": self.source}


@dataclass(frozen=True, slots=True)
class APICall:
    """One call found in generated code.

    `function` is the path as written (`hub.KerasLayer`); `qualified` expands import
    aliases (`tensorflow_hub.KerasLayer`). `api_id` is filled in by the resolver: None
    means the call matches nothing in the catalog (a hallucination).
    """

    function: str
    qualified: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    code: str = ""
    api_id: str | None = None
    problems: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The last component of the function path (`from_pretrained`, `load`, ...)."""
        return self.function.rsplit(".", 1)[-1]

    @property
    def owner(self) -> str:
        """The component before the name (`AutoModel` in `AutoModel.from_pretrained`)."""
        parts = self.qualified.split(".")
        return parts[-2] if len(parts) > 1 else ""

    @property
    def resolved(self) -> bool:
        return self.api_id is not None

    @property
    def valid(self) -> bool:
        return self.api_id is not None and not self.problems

    def with_resolution(self, api_id: str | None, problems: tuple[str, ...] = ()) -> APICall:
        return APICall(
            self.function, self.qualified, self.args, self.kwargs, self.code, api_id, problems
        )

    def literal_args(self) -> list[Any]:
        return [a for a in [*self.args, *self.kwargs.values()] if not isinstance(a, Expression)]

    def to_json(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "qualified": self.qualified,
            "args": [_jsonable(a) for a in self.args],
            "kwargs": {k: _jsonable(v) for k, v in self.kwargs.items()},
            "code": self.code,
            "api_id": self.api_id,
            "problems": list(self.problems),
        }


def extract_code(text: str) -> str:
    """The code in a model's answer: the first fenced block if any, else the text itself."""
    match = _CODE_BLOCK.search(text)
    code = match.group(1) if match else text
    return _DOC_LABEL.sub("", code.strip()).rstrip(".").strip()


def parse_calls(text: str) -> list[APICall]:
    """Every call in `text`, in source order. Raises `CallParseError` if it is not Python."""
    if len(text) > MAX_CALL_CHARS:
        raise CallParseError(f"generated text is {len(text)} characters; at most {MAX_CALL_CHARS}")
    code = extract_code(text)
    if not code:
        raise CallParseError("the model produced no code")
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise CallParseError(f"not a Python call: {exc.msg} (line {exc.lineno})") from exc
    except ValueError as exc:  # e.g. NUL bytes in the source
        raise CallParseError(f"not a Python call: {exc}") from exc
    aliases = _import_aliases(tree)
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    nodes.sort(key=lambda n: (n.lineno, n.col_offset))
    calls = [c for c in (_to_call(node, code, aliases) for node in nodes) if c is not None]
    if not calls:
        raise CallParseError("no function call in the generated code")
    return calls


def _to_call(node: ast.Call, code: str, aliases: dict[str, str]) -> APICall | None:
    function = _dotted(node.func)
    if function is None:  # e.g. `f()()` or `x[0]()`: nothing a catalog API looks like
        return None
    head, _, rest = function.partition(".")
    qualified = aliases.get(head, head) + (f".{rest}" if rest else "")
    args = tuple(_value(a) for a in node.args if not isinstance(a, ast.Starred))
    kwargs = {kw.arg: _value(kw.value) for kw in node.keywords if kw.arg is not None}
    for kw in node.keywords:
        # `f(**{'first-name': 'Ana'})`: how a call spells an argument whose name is not a
        # Python identifier (JSON schemas allow any property name).
        if kw.arg is None and isinstance(kw.value, ast.Dict):
            for key, value in zip(kw.value.keys, kw.value.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    kwargs.setdefault(key.value, _value(value))
    text = ast.get_source_segment(code, node) or ast.unparse(node)
    return APICall(function, qualified, args, kwargs, text)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, ast.Call):  # `Model.from_pretrained(x).to(device)`: the chain's tail
        inner = _dotted(node.func)
        return f"{inner}()" if inner else None
    return None


def _value(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return Expression(ast.unparse(node))


def _import_aliases(tree: ast.Module) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _jsonable(value: Any) -> Any:
    if isinstance(value, Expression):
        return value.to_json()
    if isinstance(value, tuple | list | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, complex):
        return str(value)
    return value
