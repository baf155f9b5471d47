"""Verify: whether a call is the answer, and what it earns the arm that wrote it.

Three checks, all recorded on the task:
- the schema: the call resolved to the candidate API, with arguments that fit its schema
  (required present, types, enums; `agent.resolve`);
- grounding: for every argument, where its value came from (`grounding.grounding`): the
  request, an enum member it names, the schema's default, the standard code of something
  it names (a time zone, a currency), the catalog's own canonical call (a Python API's
  model id), or nowhere;
- the execution: the sandboxed run (or, for a client's own tools, validation only).

A call passes when it ran (`ok`) and no required argument is ungrounded. The router's
accuracy term is 0 for a call that did not run; otherwise 0.5, plus up to 0.5 for how well
the request backs it, half for each of:
- grounding: each argument scores 1 for a value the request names (quoted, a number, a
  date or time, a proper name), an enum member it names or the schema's default, 0.5 for a
  value that is only a phrase of the request, 0 for an invented one;
- coverage: the share of the values the request names that the call uses (when it names
  none, grounding alone counts).
So an arm that invents values earns less than one that copies them, and a call that copies
a stray phrase or leaves out what the request states earns less than the right one. On the
development cases this separates right calls from wrong ones far better than "it ran"
(ROC AUC in BENCHMARKS.md). Model APIs (whose arguments come from the catalog) score
0.5 + 0.5 × the share of arguments grounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from agent.apicall import APICall, Expression
from agent.calls.grounding import (
    Source,
    coverage,
    grounding,
    is_named,
    looks_temporal,
    named_spans,
)
from agent.calls.spans import normalise
from agent.executor import Execution
from agent.jsontypes import JSONObject
from apidb import APIDoc


@dataclass(frozen=True, slots=True)
class Verification:
    passed: bool
    status: str  # the execution's status
    grounding: dict[str, str] = field(default_factory=dict)  # argument -> source
    ungrounded_required: list[str] = field(default_factory=list)
    accuracy: float = 0.0
    reason: str = ""

    def to_json(self) -> JSONObject:
        return {
            "passed": self.passed,
            "status": self.status,
            "grounding": self.grounding,
            "ungrounded_required": self.ungrounded_required,
            "accuracy": round(self.accuracy, 4),
            "reason": self.reason,
        }


def verify(
    call: APICall | None,
    doc: APIDoc,
    request: str,
    execution: Execution | None,
    today: date | None = None,
) -> Verification:
    status = execution.status if execution is not None else "not_run"
    if call is None:
        return Verification(False, status, reason="no call was written")
    arguments = _named_arguments(call, doc)
    sources = {n: _source(value, request, doc, n, today) for n, value in arguments.items()}
    required = (
        set(((doc.parameters or {}).get("required")) or []) if doc.kind != "python" else set()
    )
    ungrounded = sorted(
        name for name in required if sources.get(name, "ungrounded") == "ungrounded"
    )
    ran = status == "ok"
    accuracy = 0.5 + 0.5 * _backing(arguments, sources, request, doc) if ran else 0.0
    if not ran:
        reason = f"the call did not run ({status})"
    elif ungrounded:
        reason = f"required arguments the request does not give: {', '.join(ungrounded)}"
    else:
        reason = ""
    return Verification(ran and not ungrounded, status, sources, ungrounded, accuracy, reason)


def _backing(
    arguments: Mapping[str, Any], sources: Mapping[str, str], request: str, doc: APIDoc
) -> float:
    """How well the request backs the call, from 0 to 1 (see the module's docstring)."""
    if doc.kind == "python":
        grounded = [s for s in sources.values() if s != "ungrounded"]
        return len(grounded) / len(sources) if sources else 1.0
    named = named_spans(request)
    scores = []
    for name, value in arguments.items():
        source = sources[name]
        if source == "ungrounded":
            scores.append(0.0)
        elif source == "request" and not is_named(value, named):
            scores.append(0.5)  # a phrase of the request, not a value it names
        else:
            scores.append(1.0)
    grounding_score = sum(scores) / len(scores) if scores else 1.0
    used = coverage(list(arguments.values()), named)
    return grounding_score if used is None else 0.5 * grounding_score + 0.5 * used


def _named_arguments(call: APICall, doc: APIDoc) -> dict[str, Any]:
    """The call's arguments by name (positional ones named in the schema's order)."""
    arguments = dict(call.kwargs)
    order = (
        list(((doc.parameters or {}).get("properties") or {}).keys())
        if doc.kind != "python"
        else []
    )
    for index, value in enumerate(call.args):
        arguments.setdefault(order[index] if index < len(order) else f"arg{index}", value)
    return arguments


def _source(value: Any, request: str, doc: APIDoc, name: str, today: date | None) -> Source | str:
    if isinstance(value, Expression):
        return "ungrounded"
    if doc.kind == "python":
        # A model API's arguments come from its catalog entry (the model id, the task).
        return "catalog" if _in_canonical(value, doc.call) else grounding(value, request, {})
    properties: Mapping[str, Any] = (doc.parameters or {}).get("properties") or {}
    spec = properties.get(name)
    schema = spec if isinstance(spec, dict) else {}
    if _temporal(name, schema) and not looks_temporal(value):
        return "ungrounded"  # "Rome, Italy" is in the request, but it is not a date
    return grounding(value, request, schema, name, today)


def _temporal(name: str, schema: Mapping[str, Any]) -> bool:
    """An argument that holds a date or a time, by its format or its name."""
    if schema.get("format") in ("date", "date-time", "time"):
        return True
    words = set(normalise(name.replace("_", " ")).split())
    return bool(words & {"date", "time", "datetime", "day", "when"}) and "zone" not in name


def _in_canonical(value: Any, canonical: str) -> bool:
    if isinstance(value, str):
        return value in canonical
    if isinstance(value, bool | int | float):
        return repr(value) in canonical or str(value) in canonical
    return False
