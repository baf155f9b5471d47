"""Which catalog API a parsed call invokes, and whether its arguments fit.

A call is identified the way Gorilla's AST check identifies APIBench calls:

- `torch.hub.load(repo_or_dir, model, ...)`: by `repo_or_dir` and `model`;
- other Python APIs: by the model the call loads, which is the `model=` argument of
  `pipeline(task, model=...)`, the first argument of `X.from_pretrained(...)`, the handle
  URL of `hub.KerasLayer(...)`/`hub.load(...)`, and generally the first identifying keyword
  (`pretrained_model_name_or_path`, `repo_id`, `handle`, ...) or the first string argument;
- `function` and `http` docs: by name (the function name or the OpenAPI operation id).

Where several docs share an identity (APIBench lists some models twice, and
`joblib.load('model.joblib')` stands for many), the doc whose canonical call matches the
call exactly wins, then one with the same function name, then the first of the caller's
preferred docs (the retrieved hits), then catalog order.

Arguments are validated where the catalog knows a signature: the JSON schema of `function`
and `http` docs (required, unknown, type and enum). APIBench's `parameters` describe
inputs informally and are not the call's arguments, so Python docs are checked by identity only.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from agent.apicall import APICall, Expression, parse_calls
from agent.errors import CallParseError
from agent.jsontypes import JSONObject
from apidb import APIDoc, CatalogStore

UNRESOLVED = "matches no API in the catalog"

_IDENTIFYING_KEYWORDS = (
    "model",
    "pretrained_model_name_or_path",
    "repo_id",
    "model_id",
    "model_name",
    "handle",
    "model_name_or_path",
    "repo_or_dir",
    "source",
    "model_tag",
)
# APIBench writes some model ids unquoted (`from_pretrained(runwayml/stable-diffusion-v1-5)`),
# which parses as arithmetic; the text still names the model, as Gorilla's matcher reads it.
_BARE_MODEL_ID = re.compile(r"^[\w.\-]+(?:\s*/\s*[\w.\-]+)+$")
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}


def callable_name(doc: APIDoc) -> str:
    """The name a model calls a function or HTTP doc by: the function name, the OpenAPI
    operation id, or for an operation without one its method and path as an identifier
    (`DELETE /todos/{todo_id}` -> `delete_todos_todo_id`)."""
    if doc.kind == "http" and doc.http is not None and doc.http.operation_id:
        return doc.http.operation_id
    if doc.name.isidentifier():
        return doc.name
    return re.sub(r"\W+", "_", doc.name).strip("_").lower() or "call"


def identity(call: APICall) -> str | None:
    """The value that says which API a Python call loads, normalised; None if unknown."""
    if call.qualified.endswith("hub.load") and (
        "repo_or_dir" in call.kwargs or call.qualified.startswith("torch.")
    ):
        repo = _arg(call, 0, "repo_or_dir")
        model = _arg(call, 1, "model")
        if isinstance(repo, str) and isinstance(model, str):
            return f"torchhub:{_norm(repo)}|{_norm(model)}"
        return None
    for keyword in _IDENTIFYING_KEYWORDS:
        value = _model_id(call.kwargs.get(keyword))
        if value:
            return value
    # pipeline(task, model): the task alone does not identify a model.
    positional = call.args[1:2] if call.name == "pipeline" else call.args
    for value in positional:
        model_id = _model_id(value)
        if model_id:
            return model_id
    return None


def _model_id(value: Any) -> str | None:
    if isinstance(value, Expression) and _BARE_MODEL_ID.match(value.source):
        return _norm("".join(value.source.split()))
    if isinstance(value, str) and value.strip():
        return _norm(value)
    return None


class CallResolver:
    """Resolves calls against a fixed set of docs (a catalog snapshot or a request's tools)."""

    def __init__(self, docs: Iterable[APIDoc]) -> None:
        self._order: dict[str, int] = {}
        self._by_identity: dict[str, list[APIDoc]] = {}
        self._by_name: dict[str, list[APIDoc]] = {}
        self._by_text: dict[str, list[APIDoc]] = {}
        self._canonical: dict[str, APICall | None] = {}
        self._docs: dict[str, APIDoc] = {}
        # What the sandbox needs to simulate these docs: the function names their canonical
        # calls use (`pipeline`, `from_pretrained`, `load`, ...), the bare names they start
        # from (`AutoModel`, `hub`, ...) and the callable names of function docs.
        self.entry_names: set[str] = set()
        self.free_names: set[str] = set()
        self.function_names: set[str] = set()
        for doc in docs:
            self._add(doc)

    def _add(self, doc: APIDoc) -> None:
        self._order[doc.id] = len(self._order)
        self._docs[doc.id] = doc
        if doc.kind in ("function", "http"):
            name = callable_name(doc)
            self._by_name.setdefault(name, []).append(doc)
            if doc.kind == "function":
                self.function_names.add(name)
            return
        canonical = canonical_call(doc)
        self._canonical[doc.id] = canonical
        if canonical is not None:
            self.entry_names.add(canonical.name)
            head = canonical.function.partition(".")[0]
            if head.isidentifier():
                self.free_names.add(head)
        key = identity(canonical) if canonical else None
        if key is not None:
            self._by_identity.setdefault(key, []).append(doc)
        elif canonical is not None:  # `SentimentModel()`: only the exact call identifies it
            self._by_text.setdefault(_norm_code(canonical.code), []).append(doc)

    def __len__(self) -> int:
        return len(self._order)

    def doc(self, api_id: str) -> APIDoc | None:
        return self._docs.get(api_id)

    def docs(self) -> Iterable[APIDoc]:
        return self._docs.values()

    def resolve(self, call: APICall, preferred: Sequence[str] = ()) -> APICall:
        """`call` with `api_id` and `problems` filled in."""
        doc = self.match(call, preferred)
        if doc is None:
            return call.with_resolution(None, (UNRESOLVED,))
        return call.with_resolution(doc.id, tuple(validate_arguments(call, doc)))

    def match(self, call: APICall, preferred: Sequence[str] = ()) -> APIDoc | None:
        candidates = self._by_name.get(call.name, [])
        if not candidates:
            key = identity(call)
            candidates = self._by_identity.get(key, []) if key else []
        if not candidates:
            candidates = self._by_text.get(_norm_code(call.code), [])
        if not candidates:
            return None
        rank = {doc_id: i for i, doc_id in enumerate(preferred)}
        text = _norm_code(call.code)

        def preference(doc: APIDoc) -> tuple[int, int, int, int]:
            canonical = self._canonical.get(doc.id)
            same_text = canonical is not None and _norm_code(canonical.code) == text
            same_name = canonical is not None and canonical.name == call.name
            return (
                0 if same_text else 1,
                0 if same_name else 1,
                rank.get(doc.id, len(rank)),
                self._order[doc.id],
            )

        return min(candidates, key=preference)

    def resolve_text(self, text: str, preferred: Sequence[str] = ()) -> APICall:
        """Parse generated text and return its API call: the first call that resolves,
        else the first call (unresolved). Raises `CallParseError` if there is no call."""
        calls = parse_calls(text)
        first_unresolved: APICall | None = None
        for call in calls:
            resolved = self.resolve(call, preferred)
            if resolved.resolved:
                return resolved
            first_unresolved = first_unresolved or resolved
        assert first_unresolved is not None  # parse_calls never returns an empty list
        return first_unresolved


class CatalogResolver:
    """A `CallResolver` over the live catalog, rebuilt when the catalog's change log moves."""

    def __init__(self, store: CatalogStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._seq = -1
        self._resolver = CallResolver(())

    def current(self) -> CallResolver:
        seq = self.store.last_seq()
        with self._lock:
            if seq != self._seq:
                # Rebuilding parses every canonical call (~0.1 s for APIBench's 1,726);
                # catalog changes are rare next to requests.
                self._resolver = CallResolver(self.store.iter_docs())
                self._seq = seq
            return self._resolver

    def resolve_text(self, text: str, preferred: Sequence[str] = ()) -> APICall:
        return self.current().resolve_text(text, preferred)


def canonical_call(doc: APIDoc) -> APICall | None:
    """The doc's own call text, parsed (None for the few APIBench entries that are shell)."""
    if not doc.call:
        return None
    try:
        calls = parse_calls(doc.call)
    except CallParseError:
        return None
    for call in calls:
        if identity(call) is not None:
            return call
    return calls[0]


def validate_arguments(call: APICall, doc: APIDoc) -> list[str]:
    """Problems with the call's arguments against the doc's JSON schema (empty = valid)."""
    if doc.kind not in ("function", "http"):
        return []
    schema = doc.parameters or {}
    properties: JSONObject = schema.get("properties") or {}
    required: list[str] = list(schema.get("required") or [])
    names = list(properties)
    problems: list[str] = []
    given: JSONObject = {}
    if len(call.args) > len(names):
        problems.append(
            f"{callable_name(doc)} takes {len(names)} arguments, {len(call.args)} given"
        )
    for name, value in zip(names, call.args, strict=False):
        given[name] = value
    for name, value in call.kwargs.items():
        if name in given:
            problems.append(f"argument {name!r} given twice")
        given[name] = value
    for name in required:
        if name not in given:
            problems.append(f"missing required argument {name!r}")
    for name, value in given.items():
        if name not in properties:
            if properties:
                takes = ", ".join(names)
                problems.append(f"unknown argument {name!r}; {callable_name(doc)} takes {takes}")
            continue
        problems.extend(_check_value(name, value, properties[name] or {}))
    return problems


def _check_value(name: str, value: Any, schema: JSONObject) -> list[str]:
    if isinstance(value, Expression):
        return [f"argument {name!r} is not a literal: {value.source}"]
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        return [f"argument {name!r} must be one of {enum}, not {value!r}"]
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    if kinds and not any(_is_type(value, k) for k in kinds):
        return [f"argument {name!r} must be {' or '.join(kinds)}, not {type(value).__name__}"]
    return []


def _is_type(value: Any, kind: str) -> bool:
    types = _JSON_TYPES.get(kind)
    if types is None:
        return True  # a type this check does not know: do not reject
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False  # True is an int in Python, not a number in JSON
    return isinstance(value, types)


def _arg(call: APICall, position: int, keyword: str) -> Any:
    if keyword in call.kwargs:
        return call.kwargs[keyword]
    return call.args[position] if len(call.args) > position else None


def _norm(value: str) -> str:
    value = value.strip().split("?", 1)[0].rstrip("/")
    return value.lower()


def _norm_code(code: str) -> str:
    return "".join(code.split()).replace('"', "'").rstrip(".")
