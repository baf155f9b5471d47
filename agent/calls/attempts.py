"""Fill and verify, candidate by candidate: how one part of a request becomes its calls.

For each candidate the selection offers (at most `MAX_ATTEMPTS`), the first arm in the
router's ranking that can answer writes the call for that API alone (its arguments filled
from the request, `agent.calls.fill`), the executor runs it, and the verifier judges it. The
first call that passes is the answer; a call that fails (it did not run, or a required
argument is not in the request) sends the loop to the next candidate. Every attempt is
kept, with its cost and time, on the task.

When the passing call took one of several values the request joins ("the weather in Paris
and in Rome"), the same call is made again for each other value (`plan.more_values`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from agent.apicall import APICall, Expression, extract_code
from agent.arms.base import FillRequest, Generation, GenerationRequest
from agent.calls.fill import exclusive_options
from agent.calls.grammar import render, render_call
from agent.calls.plan import more_values
from agent.calls.select import CallSelection, Candidate
from agent.calls.verify import Verification, verify
from agent.errors import CallParseError
from agent.executor import Execution, Executor
from agent.jsontypes import JSONObject
from agent.resolve import CallResolver, callable_name
from agent.routing import ArmCosts, Failure, first_available

if TYPE_CHECKING:
    from agent.arms.base import Arm
    from apidb import APIDoc

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Attempt:
    """One candidate tried: who wrote what, how it ran, and what the verifier said."""

    candidate: Candidate
    doc: APIDoc  # the API the call resolved to (the candidate's, unless the arm wrote another)
    generation: Generation | None
    failures: list[Failure]
    call: APICall | None
    parse_error: str | None
    execution: Execution | None
    verification: Verification | None
    derived_from: str | None = None  # another value of a passing call ("and in Rome")
    # The arguments the request offers any value for (`FillRequest.options`): one it
    # offers none for can only be invented, by any arm. None: not known (every argument
    # counts as offered).
    offered: frozenset[str] | None = None

    @property
    def passed(self) -> bool:
        return self.verification is not None and self.verification.passed

    @property
    def arms_fault(self) -> bool:
        """The call failed in a way another arm could get right: a function's call that
        is not valid, or that leaves ungrounded a required argument the request offers a
        value for. (A required value the request never states, any arm can only invent:
        a dearer arm would write another guess, at its price. A model API's call is its
        catalog entry's: another arm would write the same.)"""
        if self.passed or self.doc.kind == "python" or self.verification is None:
            return False
        if self.verification.status == "invalid_call":
            return True
        ungrounded = self.verification.ungrounded_required
        return any(self.offered is None or name in self.offered for name in ungrounded)

    @property
    def text(self) -> str | None:
        """What the arm wrote."""
        return self.generation.text if self.generation is not None else None

    @property
    def function_name(self) -> str:
        """The name a client knows the function by (an OpenAI tool name for a function;
        the called name, made safe, for a model API)."""
        doc = self.doc
        if doc.kind != "python":
            return callable_name(doc)
        called = self.call.function if self.call is not None else doc.name
        return re.sub(r"[^A-Za-z0-9_-]", "_", called)[:64] or "call"

    @property
    def arguments(self) -> JSONObject:
        """The call's arguments as JSON: by name (positional ones named in the schema's
        order where there is one; the rest under `args`), non-literals as their code."""
        if self.call is None:
            return {}
        arguments: JSONObject = {k: _json_value(v) for k, v in self.call.kwargs.items()}
        positional = [_json_value(v) for v in self.call.args]
        doc = self.doc
        if doc.kind != "python":
            order = list(((doc.parameters or {}).get("properties") or {}).keys())
            for key, value in zip(order, positional, strict=False):
                arguments.setdefault(key, value)
            positional = positional[len(order) :]
        if positional:
            arguments["args"] = positional
        return arguments

    def to_json(self) -> JSONObject:
        return {
            "api_id": self.doc.id,
            "arm": self.generation.arm if self.generation else None,
            "call": self.call.code if self.call else self.text,
            "parse_error": self.parse_error,
            "status": self.execution.status if self.execution else None,
            "verification": self.verification.to_json() if self.verification else None,
            "latency_ms": round(self.generation.latency_s * 1000, 2) if self.generation else 0.0,
            "cost": self.generation.cost if self.generation else 0.0,
            "derived_from": self.derived_from,
        }


@dataclass(frozen=True)
class PartAnswer:
    """One part of a request: its selection, every attempt, and the calls that passed."""

    query: str
    selection: CallSelection
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def passed(self) -> list[Attempt]:
        return [a for a in self.attempts if a.passed]

    @property
    def final(self) -> Attempt | None:
        """The attempt that answers: the first that passed; else the first whose call ran
        (its arguments are not all in the request, but it is the best call there is);
        else the first tried (the top candidate's failure is the most telling)."""
        if self.passed:
            return self.passed[0]
        ran = [a for a in self.attempts if a.execution is not None and a.execution.status == "ok"]
        if ran:
            return ran[0]
        return self.attempts[0] if self.attempts else None

    @property
    def answering(self) -> list[Attempt]:
        """The calls this part answers with: every call that passed (one, or one per
        value the request lists), else the final attempt."""
        if self.passed:
            return self.passed
        return [self.final] if self.final is not None else []


class CallMaker:
    """Writes, runs and verifies the calls for one part of a request."""

    def __init__(
        self,
        arm: Callable[[str], Arm],
        executor: Executor,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        costs: ArmCosts | None = None,
    ) -> None:
        self.arm = arm
        self.executor = executor
        self.max_attempts = max_attempts
        self.costs = costs  # told what each generation cost (the escalation order)

    def make(
        self,
        query: str,
        selection: CallSelection,
        ranking: Sequence[str],
        resolver: CallResolver,
        *,
        execute: bool = True,
        escalate: bool = False,
        today: date | None = None,
    ) -> PartAnswer:
        """The part's attempts, at most `max_attempts`. With `escalate` (a routed
        request), a function call that the arm got wrong (not a valid call, or a required
        argument the request does not give) is written again by the next arm in the
        ranking before the next candidate is tried: a cheap arm first, a stronger one when
        the cheap one's call does not verify. `today` is the day relative dates count
        from (None: the machine's date)."""
        part = PartAnswer(query, selection)
        queue = [(c, list(ranking)) for c in selection.to_try(self.max_attempts)]
        while queue and len(part.attempts) < self.max_attempts:
            candidate, arms = queue.pop(0)
            attempt = self._attempt(query, candidate, arms, resolver, execute, today)
            part.attempts.append(attempt)
            if attempt.generation is None or not execute or attempt.passed:
                break  # no arm could answer, or nothing can verify, or this is the answer
            if attempt.execution is not None and not attempt.execution.trains_router:
                break  # the executor itself failed: the next call would fail the same way
            if escalate and attempt.arms_fault:
                stronger = arms[arms.index(attempt.generation.arm) + 1 :]
                if stronger:
                    queue.insert(0, (candidate, stronger))
        final = part.final
        if final is not None and final.passed:
            part.attempts.extend(self._more(query, final, resolver, today))
        return part

    def _attempt(
        self,
        query: str,
        candidate: Candidate,
        ranking: Sequence[str],
        resolver: CallResolver,
        execute: bool,
        today: date | None,
    ) -> Attempt:
        doc = candidate.doc
        fill = None
        offered: frozenset[str] | None = None
        if doc.kind != "python":
            about = f"{doc.name} {doc.description}"
            options = exclusive_options(doc.parameters, query, about, today=today)
            fill = FillRequest(doc, options, today)
            offered = frozenset(name for name, choices in options.items() if choices)
        request = GenerationRequest(query, [candidate.hit], resolver=resolver, fill=fill)
        served = first_available(ranking, lambda name: self.arm(name).generate(request))
        generation = served.value
        if generation is not None and self.costs is not None:
            self.costs.record(generation.arm, generation.cost)
        if generation is None:
            errors = "; ".join(f"{f.arm}: {f.error}" for f in served.failures)
            failed = Execution("infra_error", errors)
            return Attempt(candidate, doc, None, served.failures, None, None, failed, None)
        call, parse_error = _resolve(resolver, generation.text, doc.id)
        if call is None and generation.meta.get("truncated"):
            parse_error = f"the model ran out of tokens mid-call: {parse_error}"
        # The call is judged against the API it names (an arm may write another's call).
        called = (resolver.doc(call.api_id) if call and call.api_id else None) or doc
        execution = verification = None
        if execute:
            execution = self.executor.execute(
                call,
                parse_error,
                code=extract_code(generation.text),
                resolver=resolver,
                preferred=[doc.id],
            )
            verification = verify(call, called, query, execution, today)
        return Attempt(
            candidate, called, generation, served.failures, call, parse_error, execution,
            verification, offered=offered if called.id == doc.id else None,
        )  # fmt: skip

    def _more(
        self, query: str, passed: Attempt, resolver: CallResolver, today: date | None
    ) -> list[Attempt]:
        """The same call for each other value the request joins to one it took."""
        call, doc = passed.call, passed.doc
        if call is None or doc.kind == "python":
            return []
        extra: list[Attempt] = []
        for name, taken, other in more_values(query, call.kwargs):
            arguments = {**call.kwargs, name: other}
            code = render_call(callable_name(doc), arguments)
            again, parse_error = _resolve(resolver, code, doc.id)
            execution = self.executor.execute(
                again, parse_error, code=code, resolver=resolver, preferred=[doc.id]
            )
            verification = verify(again, doc, query, execution, today)
            extra.append(
                Attempt(passed.candidate, doc, None, [], again, parse_error, execution,
                        verification, derived_from=f"{name}={render(taken)}")
            )  # fmt: skip
        return extra


def _resolve(resolver: CallResolver, text: str, api_id: str) -> tuple[APICall | None, str | None]:
    try:
        return resolver.resolve_text(text, [api_id]), None
    except CallParseError as exc:
        return None, str(exc)


def _json_value(value: object) -> object:
    """A literal as itself (tuples as lists); anything else (an expression the model wrote)
    as its code, so a client sees what was written rather than nothing."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, Expression):
        return value.source
    return str(value)
