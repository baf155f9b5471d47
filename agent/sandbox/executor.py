"""`SandboxExecutor`: run a generated call for real and say how it went.

    python docs    -> simulated run in the sandbox: recording stand-ins for the libraries,
                      the recorded entry-point calls resolved against the catalog here
    function docs  -> simulated like python docs, or live (the real callable, in the
                      sandbox) when the doc names an allow-listed `python_callable`
    http docs      -> a real HTTP request behind the SSRF guard (no code runs)

Outcomes (`Execution.status`):

    ok            the code ran to the end and every catalog call resolved, with valid arguments
    invalid_call  no catalog call, an unknown API, arguments that do not fit its signature
    api_error     the code or the API failed at run time (an exception, an HTTP 4xx/5xx)
    blocked       the code tried something unsafe (static check, audit hook, SSRF guard)
    timeout       the wall-clock deadline or the CPU limit
    oom           the memory limit
    infra_error   the sandbox could not run, or is busy: never trains the router
"""

from __future__ import annotations

import ast
import logging
import os
import signal
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from agent.apicall import APICall, Expression
from agent.errors import (
    GuardRefusal,
    HttpFailure,
    HttpTimeout,
    InvalidCallError,
    SandboxBusyError,
    SandboxUnavailableError,
)
from agent.executor import Execution, ExecutionStatus
from agent.jsontypes import JSONObject
from agent.resolve import CallResolver, callable_name
from agent.sandbox import policy, protocol
from agent.sandbox.http import HttpCaller, SSRFGuard
from agent.sandbox.isolation import Sandbox, SandboxMode, site_packages
from agent.sandbox.modes import RunMode
from agent.sandbox.process import RawRun, SandboxLimits
from agent.sandbox.provenance import CodeOrigins
from agent.sandbox.signatures import FREE_NAME_PATHS, SIGNATURES, SIMULATED_LIBRARIES
from apidb import APIDoc

log = logging.getLogger(__name__)


class SandboxExecutor:
    name = "sandbox"

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        http: HttpCaller | None = None,
        live_allowlist: Sequence[str] = (),
        max_concurrent: int | None = None,
        max_queue: int | None = None,
        queue_timeout_s: float = 30.0,
        origins: CodeOrigins | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.http = http or HttpCaller(SSRFGuard())
        self.live_allowlist = tuple(live_allowlist)
        self.origins = origins or CodeOrigins()
        cores = os.cpu_count() or 1
        self.max_concurrent = max_concurrent or 2 * cores
        self.max_queue = self.max_concurrent * 4 if max_queue is None else max_queue
        self.queue_timeout_s = queue_timeout_s
        self._slots = threading.BoundedSemaphore(self.max_concurrent)
        self._waiting = 0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any) -> SandboxExecutor:
        mode: SandboxMode = settings.sandbox
        limits = SandboxLimits(timeout_s=settings.sandbox_timeout_s)
        return cls(
            Sandbox(mode, limits),
            http=HttpCaller(SSRFGuard(settings.sandbox_local_service_list)),
            live_allowlist=settings.sandbox_live_callable_list,
            max_concurrent=settings.sandbox_max_concurrent,
            origins=settings.code_origins(),
        )

    @property
    def running(self) -> int:
        return self.sandbox.running

    def check(self) -> None:
        self.sandbox.check()

    @property
    def queue_depth(self) -> int:
        """Runs waiting for a slot (not counting the ones running)."""
        with self._lock:
            return max(0, self._waiting - self.sandbox.running)

    def shutdown(self) -> int:
        """Kill runs in progress and refuse new ones; returns how many were killed."""
        return self.sandbox.kill_all()

    # -- the Executor interface --------------------------------------------------------

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
            return self._result("invalid_call", error or "no call was generated")
        resolver = resolver or CallResolver(())
        doc = resolver.doc(call.api_id) if call.api_id else None
        if doc is not None and doc.kind == "http":
            return self.call_http(call, doc)
        mode: RunMode = "live" if doc is not None and self._live_target(doc) else "simulated"
        return self.run_code(code or call.code, resolver, mode=mode, preferred=preferred)

    # -- code ------------------------------------------------------------------------

    def run_code(
        self,
        code: str,
        resolver: CallResolver,
        *,
        mode: RunMode = "simulated",
        timeout_s: float | None = None,
        preferred: Sequence[str] = (),
    ) -> Execution:
        try:
            ast.parse(code)
        except (SyntaxError, ValueError) as exc:
            return self._result("invalid_call", f"not Python: {exc}")
        problems = policy.check_code(code)
        if problems:
            return self._result("blocked", "; ".join(problems))
        job = self._job(code, resolver, mode)
        limits = self.sandbox.limits
        if timeout_s is not None:
            limits = replace(limits, timeout_s=timeout_s, cpu_seconds=max(1, int(timeout_s + 1)))
        try:
            with self._slot():
                self.sandbox.check()
                raw = self.sandbox.run(job, limits)
        except SandboxBusyError as exc:
            return self._result("infra_error", f"busy: {exc}")
        except SandboxUnavailableError as exc:
            return self._result("infra_error", f"sandbox unavailable: {exc}")
        return self._classify(raw, resolver, preferred, limits)

    def _job(self, code: str, resolver: CallResolver, mode: RunMode) -> dict[str, object]:
        live = self._live_callables(resolver) if mode == "live" else {}
        free = {name: name for name in resolver.free_names | resolver.function_names}
        free.update(FREE_NAME_PATHS)
        simulated = mode == "simulated"
        return protocol.make_job(
            code,
            mode=mode,
            simulated_roots=SIMULATED_LIBRARIES if simulated else (),
            allowed_imports=sorted(policy.SAFE_STDLIB),
            dangerous_modules=sorted(policy.DANGEROUS_MODULES),
            free_names=free if simulated else {},
            signatures=SIGNATURES,
            model_arguments=policy.IDENTIFYING_KEYWORDS,
            live_callables=live,
            sys_path=site_packages() if mode == "live" else (),
        )

    def _live_target(self, doc: APIDoc) -> str | None:
        target = doc.extra.get("python_callable")
        if doc.kind != "function" or not isinstance(target, str):
            return None
        return target if live_callable_allowed(target, self.live_allowlist) else None

    def _live_callables(self, resolver: CallResolver) -> dict[str, JSONObject]:
        callables: dict[str, JSONObject] = {}
        for doc in resolver.docs():
            target = self._live_target(doc)
            if target is not None:
                order = list(((doc.parameters or {}).get("properties") or {}).keys())
                callables[callable_name(doc)] = {"target": target, "order": order}
        return callables

    def _slot(self) -> _Slot:
        return _Slot(self)

    # -- outcomes ----------------------------------------------------------------------

    def _classify(
        self, raw: RawRun, resolver: CallResolver, preferred: Sequence[str], limits: SandboxLimits
    ) -> Execution:
        output = _output(raw)
        if not raw.started:
            return self._result(
                "infra_error", f"the sandbox did not start: {raw.stderr.strip()[-500:]}"
            )
        if raw.timed_out:
            return self._result("timeout", f"no result within {limits.timeout_s:g} s\n{output}")
        report = raw.report
        if raw.oom_killed or (report is not None and report.outcome == protocol.OUTCOME_MEMORY):
            return self._result("oom", f"memory limit exceeded\n{output}")
        if report is None:
            # The judge never reported: only the code's process (same uid) could have
            # stopped it. Whatever happened, the code did not show that it ran correctly.
            return self._result(
                "blocked", f"the sandbox's judge did not report (exit status {raw.returncode})"
            )
        trace = [record.to_json() for record in report.records]
        error = report.error
        match report.outcome:
            case protocol.OUTCOME_COMPLETED:
                return self._judge(report.records, resolver, preferred, output)
            case protocol.OUTCOME_VIOLATION | protocol.OUTCOME_EXITED | protocol.OUTCOME_MALFORMED:
                return self._result("blocked", f"{error}\n{output}", trace)
            case protocol.OUTCOME_SIGNATURE | protocol.OUTCOME_SYNTAX:
                return self._result("invalid_call", f"{error}\n{output}", trace)
            case protocol.OUTCOME_KILLED if report.exit_status == -signal.SIGXCPU:
                return self._result("timeout", f"CPU time limit exceeded\n{output}", trace)
            case protocol.OUTCOME_KILLED:
                return self._result(
                    "api_error", f"the code's process was killed ({error})\n{output}", trace
                )
            case _:  # OUTCOME_ERROR
                return self._result("api_error", f"{error}\n{output}", trace)

    def _judge(
        self,
        records: list[protocol.Record],
        resolver: CallResolver,
        preferred: Sequence[str],
        output: str,
    ) -> Execution:
        """Resolve the recorded entry-point calls against the catalog."""
        trace: list[JSONObject] = []
        judged: list[APICall] = []
        refused: list[str] = []
        for record in records:
            if not record.entry:
                trace.append(record.to_json())
                continue
            call = _recorded_call(record)
            resolved = resolver.resolve(call, preferred)
            doc = resolver.doc(resolved.api_id) if resolved.api_id else None
            refused += self.origins.call_problems(call, loads_model=resolved.resolved)
            refused += self.origins.doc_problems(doc) if doc is not None else ()
            # `pipeline(task, model=AutoModel.from_pretrained(...))` is judged by the inner
            # call, which was recorded (and is judged) on its own.
            if resolved.resolved or (call.name in resolver.entry_names and not _wraps_result(call)):
                judged.append(resolved)
            trace.append(
                {**record.to_json(), "api_id": resolved.api_id, "problems": list(resolved.problems)}
            )
        if refused:
            problems = "; ".join(dict.fromkeys(refused))
            return self._result("blocked", f"{problems}\n{output}", trace)
        if not judged:
            return self._result("invalid_call", f"no catalog API was called\n{output}", trace)
        for call in judged:
            if not call.valid:
                return self._result(
                    "invalid_call", f"{call.code}: {'; '.join(call.problems)}\n{output}", trace
                )
        summary = ", ".join(dict.fromkeys(c.api_id or "" for c in judged))
        return self._result("ok", f"ran to the end; called {summary}\n{output}", trace)

    # -- http ----------------------------------------------------------------------------

    def call_http(self, call: APICall, doc: APIDoc) -> Execution:
        trace = [call.to_json()]
        if call.problems:
            return self._result("invalid_call", f"{doc.id}: {'; '.join(call.problems)}", trace)
        try:
            response = self.http.call(call, doc)
        except GuardRefusal as exc:
            return self._result("blocked", str(exc), trace)
        except HttpTimeout as exc:
            return self._result("timeout", str(exc), trace)
        except HttpFailure as exc:
            return self._result("infra_error", str(exc), trace)
        except InvalidCallError as exc:
            return self._result("invalid_call", str(exc), trace)
        trace.append({"http_status": response.status_code, "url": response.url})
        status: ExecutionStatus = "ok" if 200 <= response.status_code < 300 else "api_error"
        body = response.body + ("\n[response cut at the size cap]" if response.truncated else "")
        return self._result(status, f"HTTP {response.status_code}\n{body}", trace)

    def _result(
        self, status: ExecutionStatus, output: str, trace: list[JSONObject] | None = None
    ) -> Execution:
        return Execution(status, output.strip(), trace or [], self.name)


class _Slot:
    """A place among the concurrent runs, waiting in a bounded queue for one if needed."""

    def __init__(self, executor: SandboxExecutor) -> None:
        self.executor = executor

    def __enter__(self) -> None:
        ex = self.executor
        with ex._lock:
            if ex._waiting >= ex.max_queue + ex.max_concurrent:
                raise SandboxBusyError(
                    f"{ex.max_concurrent} runs in progress and {ex.max_queue} waiting"
                )
            ex._waiting += 1
        acquired = ex._slots.acquire(timeout=ex.queue_timeout_s)
        if not acquired:
            with ex._lock:
                ex._waiting -= 1
            raise SandboxBusyError(f"no sandbox slot free within {ex.queue_timeout_s:g} s")

    def __exit__(self, *exc: object) -> None:
        ex = self.executor
        ex._slots.release()
        with ex._lock:
            ex._waiting -= 1


def live_callable_allowed(target: str, allowlist: Sequence[str]) -> bool:
    """Whether `module:name` may run for real. Names are exact: `math:*` admits every
    public name of `math` itself, never a path through it (`statistics:random._os.write`
    walks into another module's private attribute)."""
    module, _, name = target.partition(":")
    if not name.isidentifier() or name.startswith("_"):
        return False
    for pattern in allowlist:
        allowed_module, _, allowed_name = pattern.partition(":")
        if allowed_module == module and allowed_name in ("*", name):
            return True
    return False


def _recorded_call(record: protocol.Record) -> APICall:
    path = record.path
    args = tuple(_decode(a) for a in record.args)
    kwargs = {str(k): _decode(v) for k, v in record.kwargs.items()}
    rendered = ", ".join(
        [_render(a) for a in args] + [f"{k}={_render(v)}" for k, v in kwargs.items()]
    )
    return APICall(path, path, args, kwargs, f"{path}({rendered})")


def _wraps_result(call: APICall) -> bool:
    return any(
        isinstance(v, Expression) and v.source.endswith(")")
        for v in (*call.args, *call.kwargs.values())
    )


def _decode(value: Any) -> Any:
    """Recorded values back to Python: stand-ins and unprintable objects become expressions."""
    if isinstance(value, dict):
        if set(value) == {"$ref"}:
            return Expression(str(value["$ref"]))
        if set(value) == {"$repr"}:
            return Expression(str(value["$repr"]))
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _render(value: Any) -> str:
    return value.source if isinstance(value, Expression) else repr(value)


def _output(raw: RawRun) -> str:
    parts = []
    if raw.stdout.strip():
        parts.append(f"stdout:\n{raw.stdout.strip()}")
    if raw.stderr.strip():
        parts.append(f"stderr:\n{raw.stderr.strip()}")
    if raw.output_truncated:
        parts.append("[output cut at the size cap]")
    return "\n".join(parts)


__all__ = ["RunMode", "SandboxExecutor"]
