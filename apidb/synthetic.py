"""A synthetic catalog of any size, for measuring search at scale.

APIBench has 1,726 APIs; catalogs such as ToolBench's (16,000) or a company's OpenAPI
estate are one or two orders of magnitude larger. `synthetic_docs(n)` makes `n` APIs that
look like such an estate: about 70% HTTP operations from OpenAPI 3 specs (one spec per
vendor service, read by the real `load_openapi`), the rest Python SDK functions with
signatures and docstring-like descriptions. Services in one business area share resources
and verbs, the way real estates repeat themselves (many vendors list invoices), so the
lexical and semantic neighbourhoods are crowded rather than trivially separable.

Deterministic: the same `n` and `seed` give the same docs, in the same order, on every
machine (only `random.Random(seed)` decides).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from apidb.loaders import load_openapi
from apidb.schema import APIDoc

DEFAULT_SEED = 20261202
# Every doc's timestamp, so that two runs give equal docs field for field.
_CREATED = datetime(2026, 1, 1, tzinfo=UTC)
# Share of HTTP operations; the rest are Python functions.
HTTP_SHARE = 0.7


@dataclass(frozen=True, slots=True)
class Resource:
    singular: str
    plural: str
    fields: tuple[tuple[str, str, str], ...]  # (name, JSON type, description)
    parent: str | None = None  # the resource it belongs to, for nested paths


@dataclass(frozen=True, slots=True)
class Area:
    name: str  # the catalog hub and the doc's domain
    topic: str  # in words, for descriptions
    resources: tuple[Resource, ...]


_VOCABULARY = Path(__file__).parent / "data" / "synthetic_vocabulary.json"


@lru_cache(maxsize=1)
def vocabulary() -> tuple[tuple[Area, ...], tuple[str, ...], tuple[str, ...]]:
    """The areas, vendors and regions of `data/synthetic_vocabulary.json`."""
    data = json.loads(_VOCABULARY.read_text(encoding="utf-8"))
    areas = tuple(
        Area(
            area["name"],
            area["topic"],
            tuple(
                Resource(
                    r["singular"],
                    r["plural"],
                    tuple((str(n), str(t), str(d)) for n, t, d in r["fields"]),
                    r["parent"],
                )
                for r in area["resources"]
            ),
        )
        for area in data["areas"]
    )
    return areas, tuple(data["vendors"]), tuple(data["regions"])


@dataclass(frozen=True, slots=True)
class _Action:
    verb: str  # for operation ids and function names
    method: str
    item: bool  # acts on one resource (its id in the path)
    summary: str  # {one} singular, {many} plural, {parent}
    detail: str


_ACTIONS: tuple[_Action, ...] = (
    _Action(
        "list",
        "get",
        False,
        "List {many}",
        "Returns a paginated list of {many} for a {parent}, newest first, "
        "optionally filtered by {field}.",
    ),
    _Action(
        "get",
        "get",
        True,
        "Retrieve a {one}",
        "Fetches one {one} by its identifier, including its {field}.",
    ),
    _Action(
        "create",
        "post",
        False,
        "Create a {one}",
        "Creates a new {one} under a {parent} and returns it with its assigned id.",
    ),
    _Action(
        "update",
        "patch",
        True,
        "Update a {one}",
        "Changes the {field} and other fields of an existing {one}.",
    ),
    _Action(
        "delete",
        "delete",
        True,
        "Delete a {one}",
        "Permanently removes a {one}; this cannot be undone.",
    ),
    _Action(
        "search",
        "get",
        False,
        "Search {many}",
        "Full-text search over {many} by {field}, with relevance ranking.",
    ),
    _Action(
        "export",
        "post",
        False,
        "Export {many}",
        "Starts an asynchronous export of all {many} of a {parent} as CSV.",
    ),
    _Action(
        "archive",
        "post",
        True,
        "Archive a {one}",
        "Moves a {one} to the archive; archived {many} are hidden from lists.",
    ),
    _Action(
        "count",
        "get",
        False,
        "Count {many}",
        "Returns how many {many} a {parent} has, grouped by {field}.",
    ),
    _Action(
        "restore",
        "post",
        True,
        "Restore a {one}",
        "Brings back an archived {one} with its previous {field}.",
    ),
)


def synthetic_docs(n: int, seed: int = DEFAULT_SEED) -> Iterator[APIDoc]:
    """`n` synthetic APIs, deterministic in `n` and `seed` (see the module docstring).

    Docs come one service at a time: each service is one vendor's API for one resource in
    one area (and region), with every action on it; a Python SDK wraps some of them."""
    if n < 0:
        raise ValueError(f"n must be at least 0, got {n}")
    rng = random.Random(seed)
    made = 0
    # Each (area, resource, vendor, region) is one service; walk them in a shuffled but
    # fixed order so any prefix of the catalog covers every area.
    areas, vendors, regions = vocabulary()
    services = [
        (area, resource, vendor, region)
        for region in regions
        for vendor in vendors
        for area in areas
        for resource in area.resources
    ]
    rng.shuffle(services)
    generation = 0
    while made < n:
        for area, resource, vendor, region in services:
            if made >= n:
                break
            python = rng.random() >= HTTP_SHARE
            version = generation + 1
            make = _python_service if python else _http_service
            for doc in make(rng, area, resource, vendor, region, version):
                if made >= n:
                    break
                made += 1
                yield doc.model_copy(update={"updated_at": _CREATED})
        generation += 1  # every combination used: the next round is "v2", "v3" ...


def _service_label(vendor: str, region: str, version: int) -> str:
    parts = [vendor, region, f"v{version}" if version > 1 else ""]
    return "_".join(p for p in parts if p)


def _texts(
    rng: random.Random, action: _Action, area: Area, resource: Resource, vendor: str
) -> tuple[str, str]:
    field = rng.choice(resource.fields)[0].replace("_", " ")
    words = {
        "one": resource.singular,
        "many": resource.plural,
        "parent": resource.parent or "workspace",
        "field": field,
    }
    summary = _articles(action.summary.format(**words))
    detail = _articles(action.detail.format(**words))
    brand = vendor.capitalize()
    context = rng.choice(
        (
            f"Part of the {brand} {area.topic} API.",
            f"{brand}'s {area.topic} platform.",
            f"Used by {area.topic} teams on {brand}.",
            f"Requires the {area.name}:{action.verb} scope.",
            "",
        )
    )
    return summary, f"{detail} {context}".strip()


_A_BEFORE_VOWEL = re.compile(r"\b([Aa]) (?=[aeiou])")


def _articles(text: str) -> str:
    """ "a invoice" -> "an invoice"."""
    return _A_BEFORE_VOWEL.sub(r"\1n ", text)


def _identifier(text: str) -> str:
    return text.replace(" ", "_")


def _http_service(
    rng: random.Random, area: Area, resource: Resource, vendor: str, region: str, version: int
) -> list[APIDoc]:
    label = _service_label(vendor, region, version)
    collection = "/" + resource.plural.replace(" ", "-").lower()
    if resource.parent:
        parent = resource.parent.replace(" ", "_")
        collection = f"/{resource.parent.replace(' ', '-')}s/{{{parent}_id}}{collection}"
    item_param = f"{_identifier(resource.singular)}_id"
    paths: dict[str, dict[str, Any]] = {}
    for action in _ACTIONS:
        summary, description = _texts(rng, action, area, resource, vendor)
        path = f"{collection}/{{{item_param}}}" if action.item else collection
        if action.verb in {"search", "export", "archive", "count", "restore"}:
            path = f"{path}:{action.verb}"  # custom methods, Google API style
        parameters = [
            {"name": name, "in": "query", "schema": {"type": kind}, "description": text}
            for name, kind, text in resource.fields
            if action.method in {"get", "delete"}
        ][:2]
        operation: dict[str, Any] = {
            "operationId": f"{label}_{action.verb}_{_identifier(resource.plural)}",
            "summary": f"{summary}.",
            "description": description,
            "tags": [area.name],
            "parameters": parameters,
        }
        if action.method in {"post", "patch"}:
            operation["requestBody"] = {
                "required": action.method == "post",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                name: {"type": kind, "description": text}
                                for name, kind, text in resource.fields
                            },
                        }
                    }
                },
            }
        paths.setdefault(path, {})[action.method] = operation
    spec = {
        "openapi": "3.0.3",
        "info": {"title": f"{vendor} {area.name}", "version": f"{version}.0"},
        "servers": [{"url": f"https://{region + '.' if region else ''}api.{vendor}.example"}],
        "paths": paths,
    }
    return load_openapi(spec, hub=area.name, source=f"synthetic:{label}")


def _python_service(
    rng: random.Random, area: Area, resource: Resource, vendor: str, region: str, version: int
) -> list[APIDoc]:
    label = _service_label(vendor, region, version)
    module = f"{vendor}_sdk.{area.name}.{_identifier(resource.plural)}"
    if region or version > 1:
        module = f"{vendor}_sdk.{'_'.join(p for p in (region, f'v{version}') if p != 'v1')}"
        module += f".{area.name}.{_identifier(resource.plural)}"
    hub = f"{area.name}-python"
    docs = []
    for action in _ACTIONS:
        summary, description = _texts(rng, action, area, resource, vendor)
        noun = resource.singular if action.item else resource.plural
        function = f"{action.verb}_{_identifier(noun)}"
        fields = list(resource.fields)
        if action.item:
            fields.insert(0, (f"{_identifier(resource.singular)}_id", "string", "the id"))
        arguments = ", ".join(f"{name}=..." for name, _, _ in fields[:3])
        docs.append(
            APIDoc(
                id=f"{hub}/{label}.{area.name}.{function}",
                hub=hub,
                kind="python",
                domain=area.name,
                name=f"{module}.{function}",
                call=f"{module}.{function}({arguments})",
                parameters={
                    "type": "object",
                    "properties": {
                        name: {"type": kind, "description": text} for name, kind, text in fields
                    },
                    "required": [fields[0][0]],
                },
                description=f"{summary}. {description}",
                examples=[f"from {module} import {function}\n{function}({arguments})"],
                source=f"synthetic:{label}",
            )
        )
    return docs
