"""Normalise API documentation from the formats people have into `APIDoc`s.

Three formats are understood:

- ``apibench``: Gorilla's APIBench API databases (``*_api.jsonl``), one record a line. Their
  free-form fields change type from record to record (string, list, dict, null, "N/A"); every
  shape is folded into text here so nothing downstream has to care.
- ``openai-tools``: OpenAI tool / JSON-schema function definitions, either
  ``{"type": "function", "function": {...}}`` or bare ``{name, description, parameters}``, as a
  list, a ``{"tools": [...]}`` object or a single definition.
- ``openapi``: an OpenAPI 3 spec (JSON or YAML); each operation becomes an ``http`` doc.

Loaders validate the whole input and raise `LoaderError` before returning anything, so an
import is all-or-nothing.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from apidb.errors import LoaderError
from apidb.json_schema import check_json_schema
from apidb.names import IMPORT_FORMATS, hub_key
from apidb.schema import APIDoc, HttpOperation

_PYTHON_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

# APIBench's `framework` field names the hub; the file name is the fallback.
_FRAMEWORK_TO_HUB = {
    "hugging face transformers": "huggingface",
    "pytorch": "torchhub",
    "tensorflow hub": "tensorflowhub",
}
_FILE_PREFIX_TO_HUB = {
    "huggingface": "huggingface",
    "torchhub": "torchhub",
    "tensorflowhub": "tensorflowhub",
    "tensorflow": "tensorflowhub",
}
_EMPTY_MARKERS = {"", "n/a", "na", "none", "null", "[]", "{}"}
_QUOTED = re.compile(r"""(?:(\w+)\s*=\s*)?['"]([^'"]+)['"]""")
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")
_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def load_file(path: str | Path, fmt: str, *, hub: str | None = None) -> list[APIDoc]:
    """Read and normalise one import file. Raises `LoaderError` naming the problem."""
    file_path = Path(path)
    try:
        text = file_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LoaderError(f"{file_path}: cannot read: {exc}") from exc
    return load_text(text, fmt, hub=hub, source=file_path.name)


def load_text(text: str, fmt: str, *, hub: str | None = None, source: str = "") -> list[APIDoc]:
    if fmt == "apibench":
        docs = load_apibench(text.splitlines(), hub=hub, source=source)
    elif fmt == "openai-tools":
        docs = load_openai_tools(_parse_json(text, source), hub=hub or "functions", source=source)
    elif fmt == "openapi":
        docs = load_openapi(_parse_json_or_yaml(text, source), hub=hub, source=source)
    else:
        raise LoaderError(f"unknown format {fmt!r}; choose one of {', '.join(IMPORT_FORMATS)}")
    if not docs:
        raise LoaderError(f"{source or 'input'}: no APIs found")
    return docs


# --------------------------------------------------------------------------- APIBench


def load_apibench(
    lines: Iterable[str], *, hub: str | None = None, source: str = ""
) -> list[APIDoc]:
    """Normalise APIBench records. Duplicate identities get a ``~2``, ``~3`` suffix.

    APIBench itself repeats some APIs (14 repeated calls in huggingface, 41 in
    tensorflowhub) with different domains or descriptions; all of them are kept, because the
    benchmark's 1,726 APIs include them.
    """
    file_hub = _hub_named(hub, source or "input") if hub else _hub_from_filename(source)
    records: list[tuple[int, dict[str, Any]]] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LoaderError(
                f"{source or 'input'} line {lineno}: invalid JSON: {exc.msg}"
            ) from exc
        if not isinstance(record, dict):
            raise LoaderError(f"{source or 'input'} line {lineno}: expected a JSON object")
        for key in ("api_name", "api_call"):
            if not _text(record.get(key)):
                raise LoaderError(f"{source or 'input'} line {lineno}: missing {key!r}")
        records.append((lineno, record))

    seen: Counter[str] = Counter()
    docs = []
    for lineno, record in records:
        doc_hub = file_hub or _hub_from_framework(record.get("framework"))
        if doc_hub is None:
            raise LoaderError(
                f"{source or 'input'} line {lineno}: cannot tell the hub from framework "
                f"{record.get('framework')!r}; pass hub explicitly"
            )
        base_id = apibench_identity(doc_hub, _text(record["api_name"]), _text(record["api_call"]))
        seen[base_id] += 1
        doc_id = base_id if seen[base_id] == 1 else f"{base_id}~{seen[base_id]}"
        docs.append(_apibench_doc(record, doc_id, doc_hub, source, lineno))
    return docs


def apibench_identity(hub: str, api_name: str, api_call: str) -> str:
    """A stable, readable id: the model id, the torch hub repo/model, or the TF Hub handle."""
    args = {}
    positional = []
    for keyword, value in _QUOTED.findall(api_call):
        if keyword:
            args[keyword] = value
        else:
            positional.append(value)
    key = api_name
    if hub == "torchhub":
        repo = args.get("repo_or_dir") or (positional[0] if positional else "")
        model = args.get("model") or (positional[1] if len(positional) > 1 else "")
        key = f"{repo}/{model}" if repo and model else api_name
    elif hub == "tensorflowhub":
        handle = next((v for v in [*positional, *args.values()] if v.startswith("http")), "")
        key = re.sub(r"^https?://(www\.)?tfhub\.dev/", "", handle).strip("/") or api_name
    return f"{hub}/" + re.sub(r"\s+", "-", key.strip())


def _apibench_doc(
    record: dict[str, Any], doc_id: str, hub: str, source: str, lineno: int
) -> APIDoc:
    examples = [e for e in (_text(record.get("example_code")),) if e]
    extra = {
        "framework": _text(record.get("framework")),
        "functionality": _text(record.get("functionality")),
        "api_arguments": _text(record.get("api_arguments")),
        "requirements": _text(record.get("python_environment_requirements")),
        "performance": _text(record.get("performance")),
    }
    try:
        return APIDoc(
            id=doc_id,
            hub=hub,
            kind="python",
            domain=_text(record.get("domain")),
            name=_text(record["api_name"]),
            call=_text(record["api_call"]).rstrip("."),
            parameters=_apibench_parameters(record.get("api_arguments")),
            description=_text(record.get("description")),
            examples=examples,
            source=f"{source}:{lineno}" if source else f"line {lineno}",
            extra={k: v for k, v in extra.items() if v},
        )
    except ValidationError as exc:
        raise LoaderError(f"{source or 'input'} line {lineno}: {_first_error(exc)}") from exc


def _apibench_parameters(arguments: Any) -> dict[str, Any] | None:
    """APIBench's `api_arguments` as a loose JSON schema, when it names the arguments."""
    names: list[str] = []
    if isinstance(arguments, dict):
        names = [str(k) for k in arguments]
    elif isinstance(arguments, list) and all(isinstance(a, str) for a in arguments):
        names = [a for a in arguments if re.fullmatch(r"[A-Za-z_]\w*", a)]
    if not names:
        return None
    return {"type": "object", "properties": {n: {} for n in names}}


def _hub_from_filename(source: str) -> str | None:
    stem = Path(source).name.lower()
    for prefix, hub in _FILE_PREFIX_TO_HUB.items():
        if stem.startswith(prefix):
            return hub
    return None


def _hub_from_framework(framework: Any) -> str | None:
    return _FRAMEWORK_TO_HUB.get(_text(framework).lower())


def _text(value: Any) -> str:
    """Fold APIBench's free-form values (str, list, dict, null, "N/A") into plain text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "" if value.strip().lower() in _EMPTY_MARKERS else value.strip()
    if isinstance(value, list):
        return "\n".join(t for t in (_text(v) for v in value) if t)
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            text = _text(item)
            if text:
                parts.append(f"{key}: {text}")
        return "\n".join(parts)
    return str(value)


# --------------------------------------------------------------------------- OpenAI tools


def load_openai_tools(data: Any, *, hub: str = "functions", source: str = "") -> list[APIDoc]:
    where = source or "input"
    hub = _hub_named(hub, where)
    items = data.get("tools") if isinstance(data, dict) and "tools" in data else data
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise LoaderError(f"{where}: expected a list of tool definitions")
    docs = []
    for index, item in enumerate(items):
        spec = item.get("function") if isinstance(item, dict) and "function" in item else item
        if not isinstance(spec, dict):
            raise LoaderError(f"{where} tool #{index}: expected an object")
        name = spec.get("name")
        if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
            raise LoaderError(f"{where} tool #{index}: missing or invalid function name {name!r}")
        parameters = spec.get("parameters")
        if parameters is None:
            parameters = {"type": "object", "properties": {}}
        if not isinstance(parameters, dict):
            raise LoaderError(f"{where} tool {name!r}: parameters must be a JSON schema object")
        try:
            check_json_schema(parameters)
        except ValueError as exc:
            raise LoaderError(f"{where} tool {name!r}: parameters: {exc}") from None
        description = spec.get("description") or ""
        if not isinstance(description, str):
            raise LoaderError(f"{where} tool {name!r}: description must be a string")
        # `x-python-callable: "module:function"` backs the tool with real code that the
        # sandbox's live mode may call (if the operator allow-lists it).
        extra: dict[str, Any] = {}
        target = spec.get("x-python-callable")
        if target is not None:
            if not isinstance(target, str) or not _PYTHON_CALLABLE.match(target):
                raise LoaderError(
                    f"{where} tool {name!r}: x-python-callable must look like 'module:function'"
                )
            extra["python_callable"] = target
        docs.append(
            _build(
                where,
                id=f"{hub}/{name}",
                hub=hub,
                kind="function",
                name=name,
                call=_function_call_text(name, parameters),
                parameters=parameters,
                description=description,
                source=source,
                extra=extra,
            )
        )
    _reject_duplicate_ids(docs, where)
    return docs


def _function_call_text(name: str, parameters: dict[str, Any]) -> str:
    properties = parameters.get("properties") or {}
    required = parameters.get("required") or list(properties)
    args = []
    for arg in required:
        schema = properties.get(arg) if isinstance(properties, dict) else None
        kind = schema.get("type", "any") if isinstance(schema, dict) else "any"
        args.append(f"{arg}=<{kind}>")
    return f"{name}({', '.join(args)})"


# --------------------------------------------------------------------------- OpenAPI 3


def load_openapi(spec: Any, *, hub: str | None = None, source: str = "") -> list[APIDoc]:
    where = source or "input"
    if not isinstance(spec, dict) or not str(spec.get("openapi", "")).startswith("3"):
        raise LoaderError(f"{where}: not an OpenAPI 3 document (no 'openapi: 3.x' field)")
    paths = spec.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise LoaderError(f"{where}: the spec has no paths")
    info: dict[str, Any] = spec["info"] if isinstance(spec.get("info"), dict) else {}
    spec_hub = _hub_named(hub, where) if hub else _slug(str(info.get("title") or "openapi"))
    servers = [s["url"] for s in spec.get("servers") or [] if isinstance(s, dict) and s.get("url")]
    docs = []
    for path, path_item in paths.items():
        if not isinstance(path_item, dict):
            raise LoaderError(f"{where}: path {path!r} must be an object")
        shared_params = path_item.get("parameters") or []
        for method, operation in _operations(path_item):
            docs.append(
                _openapi_doc(spec, spec_hub, servers, path, method, operation, shared_params, where)
            )
    _reject_duplicate_ids(docs, where)
    return docs


def _operations(path_item: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for method in _HTTP_METHODS:
        operation = path_item.get(method)
        if isinstance(operation, dict):
            yield method, operation


def _openapi_doc(
    spec: dict[str, Any],
    hub: str,
    servers: list[str],
    path: str,
    method: str,
    operation: dict[str, Any],
    shared_params: list[Any],
    where: str,
) -> APIDoc:
    operation_id = operation.get("operationId")
    name = operation_id or f"{method.upper()} {path}"
    properties: dict[str, Any] = {}
    required: list[str] = []
    for raw in [*shared_params, *(operation.get("parameters") or [])]:
        param = _resolve_ref(spec, raw, where)
        if not isinstance(param, dict) or not param.get("name"):
            raise LoaderError(f"{where}: {method.upper()} {path}: a parameter has no name")
        schema = dict(_resolve_ref(spec, param.get("schema") or {}, where))
        schema["in"] = param.get("in", "query")
        if param.get("description"):
            schema.setdefault("description", param["description"])
        properties[param["name"]] = schema
        if param.get("required") or param.get("in") == "path":
            required.append(param["name"])
    body = operation.get("requestBody")
    if isinstance(body, dict):
        body = _resolve_ref(spec, body, where)
        content: dict[str, Any] = body.get("content") or {}
        media: Any = content.get("application/json") or next(iter(content.values()), {})
        if isinstance(media, dict) and media.get("schema"):
            properties["body"] = {**_resolve_ref(spec, media["schema"], where), "in": "body"}
            if body.get("required"):
                required.append("body")
    parameters = {"type": "object", "properties": properties, "required": required}
    tags = operation.get("tags") or []
    description = " ".join(
        str(t) for t in (operation.get("summary"), operation.get("description")) if t
    )
    doc_name = operation_id or _slug(f"{method}-{path}")
    return _build(
        where,
        id=f"{hub}/{doc_name}",
        hub=hub,
        kind="http",
        domain=str(tags[0]) if tags else "",
        name=name,
        call=f"{method.upper()} {path}",
        parameters=parameters,
        description=description,
        source=where,
        http=HttpOperation(
            method=method.upper(), path=path, servers=servers, operation_id=operation_id
        ),
    )


def _resolve_ref(spec: dict[str, Any], node: Any, where: str, depth: int = 0) -> Any:
    """Follow local ``$ref``s (``#/components/...``); remote refs are not fetched."""
    if not isinstance(node, dict) or "$ref" not in node:
        return node
    if depth > 20:
        raise LoaderError(f"{where}: $ref chain too deep (cycle?) at {node['$ref']!r}")
    ref = str(node["$ref"])
    if not ref.startswith("#/"):
        raise LoaderError(f"{where}: only local $refs are supported, got {ref!r}")
    target: Any = spec
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, dict) or part not in target:
            raise LoaderError(f"{where}: unresolvable $ref {ref!r}")
        target = target[part]
    return _resolve_ref(spec, target, where, depth + 1)


# --------------------------------------------------------------------------- helpers


def _parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoaderError(
            f"{source or 'input'}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    except RecursionError as exc:
        raise LoaderError(f"{source or 'input'}: the JSON is nested too deeply") from exc


def _parse_json_or_yaml(text: str, source: str) -> Any:
    if text.lstrip().startswith("{"):
        return _parse_json(text, source)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LoaderError(f"{source or 'input'}: invalid YAML: {exc}") from exc
    except RecursionError as exc:
        raise LoaderError(f"{source or 'input'}: the YAML is nested too deeply") from exc


def _build(where: str, **fields: Any) -> APIDoc:
    try:
        return APIDoc(**fields)
    except ValidationError as exc:
        raise LoaderError(f"{where}: {fields.get('name')!r}: {_first_error(exc)}") from exc


def _reject_duplicate_ids(docs: list[APIDoc], where: str) -> None:
    counts = Counter(doc.id for doc in docs)
    duplicates = sorted(doc_id for doc_id, n in counts.items() if n > 1)
    if duplicates:
        raise LoaderError(f"{where}: duplicate ids: {', '.join(duplicates[:5])}")


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(p) for p in error["loc"])
    return f"{location}: {error['msg']}" if location else str(error["msg"])


def _hub_named(hub: str, where: str) -> str:
    key = hub_key(hub)
    if not key:
        raise LoaderError(f"{where}: hub {hub!r} has no letter or digit")
    return key


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "api"
