"""Running a generated call: the interface, and a check-only executor.

`Executor` is the interface the pipeline calls. `agent.sandbox.SandboxExecutor` (the
default) runs the call in the sandbox. `ValidationExecutor` runs nothing: a call succeeds
when it resolves to a catalog API and its arguments fit the API's schema; it serves tests
and `ask --no-sandbox`-style uses where running code is not wanted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, get_args

from agent.apicall import APICall
from agent.jsontypes import JSONObject

if TYPE_CHECKING:
    from agent.resolve import CallResolver

# `no_match`: nothing was called, because no offered API fits the request (the selection
# declined); it never ran and never trains the router.
ExecutionStatus = Literal[
    "ok", "api_error", "invalid_call", "blocked", "timeout", "oom", "infra_error", "no_match"
]
EXECUTION_STATUSES: tuple[ExecutionStatus, ...] = get_args(ExecutionStatus)
# Output kept with a task; longer output is cut.
MAX_OUTPUT_CHARS = 4_000


@dataclass(frozen=True, slots=True)
class Execution:
    """What happened when the call ran. `infra_error` never trains the router."""

    status: ExecutionStatus
    output: str = ""
    trace: list[JSONObject] = field(default_factory=list)
    executor: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status == "ok"

    @property
    def trains_router(self) -> bool:
        return self.status not in ("infra_error", "no_match")

    def to_json(self) -> JSONObject:
        return {
            "status": self.status,
            "output": self.output[:MAX_OUTPUT_CHARS],
            "trace": self.trace,
            "executor": self.executor,
        }


class Executor(Protocol):
    name: str

    def execute(
        self,
        call: APICall | None,
        error: str | None = None,
        *,
        code: str | None = None,
        resolver: CallResolver | None = None,
        preferred: Sequence[str] = (),
    ) -> Execution:
        """Run `call` (from `code`, the whole generated code, if given); `call` is None when
        generation produced no parsable call (`error`). `resolver` is the catalog snapshot
        the call was resolved against; `preferred` the retrieved doc ids."""
        ...

    # What a service needs to report readiness and load, and to shut down.
    def check(self) -> None:
        """Raise `SandboxUnavailableError` (naming the fix) if runs cannot happen."""
        ...

    @property
    def running(self) -> int: ...

    @property
    def queue_depth(self) -> int: ...

    def shutdown(self) -> int:
        """Kill runs in progress, refuse new ones; returns how many were killed."""
        ...


class ValidationExecutor:
    """Success = the call resolves to a catalog API with valid arguments. Runs nothing."""

    name = "validation"
    running = 0
    queue_depth = 0

    def check(self) -> None:
        """Validation needs nothing but the catalog."""

    def shutdown(self) -> int:
        return 0

    def execute(
        self,
        call: APICall | None,
        error: str | None = None,
        *,
        code: str | None = None,
        resolver: CallResolver | None = None,
        preferred: Sequence[str] = (),
    ) -> Execution:
        if call is None:
            return Execution("invalid_call", error or "no call was generated", [], self.name)
        trace = [call.to_json()]
        if not call.resolved:
            return Execution("invalid_call", "; ".join(call.problems), trace, self.name)
        if call.problems:
            problems = "; ".join(call.problems)
            return Execution("invalid_call", f"{call.api_id}: {problems}", trace, self.name)
        return Execution("ok", f"{call.api_id}: arguments valid", trace, self.name)
