"""The host↔runner protocol: what each side writes and reads, in one place both import.

Standard library only, and cheap to load: the host compiles this module's source together
with the runner's parts (`agent.sandbox.inside`) into the one code object each sandboxed
run executes, so the runner "imports" it by inclusion (it may not import our packages), and
the host imports it as a normal module. Nothing here runs at import beyond constant definitions.

Three parties take part in a run (see `agent.sandbox.isolation` for the process layout):

    host ──stdin──▶ judge ──fork──▶ code process
      ▲                │  ◀─events pipe─┘
      └──result pipe───┘

- The **host** writes the runner's code object, the job (`make_job`, marshalled) and then
  a per-run secret on the judge's stdin.
- The **judge** (the runner's parent half) reads the job, forks the **code process**, and
  only then reads the secret: the code process never had it in memory. The judge alone
  holds the result pipe; every line it writes there starts with the secret.
- The **code process** runs the generated code under the Python guards and sends one
  line per event on the events pipe: `R` a recorded call, `V` a refused action, `S` a call
  that does not fit its signature, `E` how the code ended. `V` and `S` lines are sent
  before the exception is raised, so code that catches the exception cannot take them back.
- The judge relays those lines, unread, inside its own authenticated `result` line, with
  how the code process ended (exit status) and whether it sent too much. The host parses
  everything defensively (`parse_report`): a forged, oversized or malformed report is a
  `malformed` outcome, never an exception and never `completed`.
"""

from __future__ import annotations

from _json import encode_basestring_ascii as _quote

# --- the job (host → judge) ------------------------------------------------------------

# Keys of the job dict; `make_job` is the typed way to build one.
JOB_CODE = "code"
JOB_MODE = "mode"  # "simulated" | "live"
JOB_SIMULATED_ROOTS = "simulated_roots"
JOB_ALLOWED_IMPORTS = "allowed_imports"
JOB_DANGEROUS_MODULES = "dangerous_modules"
JOB_FREE_NAMES = "free_names"
JOB_SIGNATURES = "signatures"
JOB_MODEL_ARGUMENTS = "model_arguments"
JOB_LIVE_CALLABLES = "live_callables"
JOB_SYS_PATH = "sys_path"
JOB_LIMITS = "limits"
# Tests only: run the code with real builtins and no audit hook, to show that the
# operating-system layers hold on their own. Set by the host; the code cannot reach it.
JOB_PYTHON_GUARDS = "python_guards"

SECRET_BYTES = 32  # hex characters of the per-run secret that follows the job on stdin


def make_job(
    code: str,
    *,
    mode: str = "simulated",
    simulated_roots: list[str] | tuple[str, ...] = (),
    allowed_imports: list[str] | tuple[str, ...] = (),
    dangerous_modules: list[str] | tuple[str, ...] = (),
    free_names: dict[str, str] | None = None,
    signatures: dict[str, list[tuple[str, str, bool]]] | None = None,
    model_arguments: list[str] | tuple[str, ...] = (),
    live_callables: dict[str, dict[str, object]] | None = None,
    sys_path: list[str] | tuple[str, ...] = (),
) -> dict[str, object]:
    """A job as the runner reads it: plain data only (it crosses as `marshal`)."""
    return {
        JOB_CODE: code,
        JOB_MODE: mode,
        JOB_SIMULATED_ROOTS: list(simulated_roots),
        JOB_ALLOWED_IMPORTS: list(allowed_imports),
        JOB_DANGEROUS_MODULES: list(dangerous_modules),
        JOB_FREE_NAMES: dict(free_names or {}),
        JOB_SIGNATURES: dict(signatures or {}),
        JOB_MODEL_ARGUMENTS: list(model_arguments),
        JOB_LIVE_CALLABLES: dict(live_callables or {}),
        JOB_SYS_PATH: list(sys_path),
    }


# --- the events (code process → judge) ---------------------------------------------------

TAG_RECORD = "R"
TAG_VIOLATION = "V"
TAG_MISMATCH = "S"
TAG_END = "E"
TAGS = (TAG_RECORD, TAG_VIOLATION, TAG_MISMATCH, TAG_END)

# How the code ended, as the code process says in its `E` line.
END_COMPLETED = "completed"
END_ERROR = "error"
END_SYNTAX = "syntax"
END_MEMORY = "memory"
END_OUTCOMES = (END_COMPLETED, END_ERROR, END_SYNTAX, END_MEMORY)

MAX_RECORDS = 200
MAX_VIOLATIONS = 20
MAX_VALUE_CHARS = 300
MAX_EVENT_CHARS = 16 * 1024  # one line; a bigger record is sent as a placeholder
MAX_EVENTS_BYTES = 2 * 1024 * 1024  # all of a run's lines; more is `oversized`
MAX_NESTING = 12  # containers within a record (the runner writes at most 4 + 8)

# --- the report (judge → host) -----------------------------------------------------------

EVENT_STARTED = "started"
EVENT_RESULT = "result"

# The outcome the host derives from a report (`Report.outcome`).
OUTCOME_COMPLETED = "completed"
OUTCOME_VIOLATION = "violation"  # something was refused: `blocked`
OUTCOME_SIGNATURE = "signature"  # an entry-point call did not fit: `invalid_call`
OUTCOME_SYNTAX = "syntax"
OUTCOME_ERROR = "error"  # the code raised: `api_error`
OUTCOME_MEMORY = "memory"
OUTCOME_EXITED = "exited"  # the code process ended without saying how: `blocked`
OUTCOME_KILLED = "killed"  # ended by a signal (CPU limit, OOM killer, ...)
OUTCOME_MALFORMED = "malformed"  # the events were not what an honest run sends: `blocked`


def looks_like_path(value: object) -> bool:
    """Whether a model id is really a filesystem path or file URL (a call must load a
    model by its id, never a local file). The static check and the runner share it."""
    if not isinstance(value, str):
        return False
    return (
        value.startswith(("/", "~", "./", "../", "file:"))
        or "\\" in value
        or "/../" in value
        or value.endswith("/..")
    )


# --- JSON without the json package ---------------------------------------------------------
# The runner writes JSON, which the host parses without trusting it. It does not import
# `json`, which pulls in `re` and `enum` (half of a run's start-up); the C string escaper is
# enough for the few types a message holds.

_FLOAT_WORDS = {float("inf"): "Infinity", float("-inf"): "-Infinity"}


def to_json(value: object, out: list[str], depth: int = 0) -> None:
    """Append `value` as JSON text to `out`, as `json.dumps(value, default=repr)` would
    (containers nested deeper than 8 levels are written as their repr)."""
    if value is None or value is True or value is False:
        out.append("null" if value is None else "true" if value else "false")
    elif isinstance(value, str):
        out.append(_quote(value))
    elif isinstance(value, int):
        try:
            out.append(int.__repr__(value))
        except ValueError:  # more digits than int-to-str conversion allows
            out.append(_quote(f"<int of {value.bit_length()} bits>"))
    elif isinstance(value, float):
        text = "NaN" if value != value else _FLOAT_WORDS.get(value)
        out.append(text or float.__repr__(value))
    elif isinstance(value, (list, tuple)) and depth < 8:
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(", ")
            to_json(item, out, depth + 1)
        out.append("]")
    elif isinstance(value, dict) and depth < 8:
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(", ")
            out.append(_quote(key if isinstance(key, str) else str(key)))
            out.append(": ")
            to_json(item, out, depth + 1)
        out.append("}")
    else:
        out.append(_quote(repr(value)[:MAX_VALUE_CHARS]))


def dumps(value: object) -> str:
    out: list[str] = []
    to_json(value, out)
    return "".join(out)


# --- reading a report (host side) -----------------------------------------------------------


class Record:
    """One recorded call: `path` called with `args`/`kwargs` (JSON values, stand-ins as
    `{"$ref": path}`, other objects as `{"$repr": text}`); `entry` marks module-level
    entry points; `result` is a live call's return value when it returned."""

    __slots__ = ("path", "entry", "args", "kwargs", "result", "has_result")

    def __init__(
        self,
        path: str,
        entry: bool,
        args: list[object],
        kwargs: dict[str, object],
        result: object = None,
        has_result: bool = False,
    ) -> None:
        self.path = path
        self.entry = entry
        self.args = args
        self.kwargs = kwargs
        self.result = result
        self.has_result = has_result

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "path": self.path,
            "entry": self.entry,
            "args": self.args,
            "kwargs": self.kwargs,
        }
        if self.has_result:
            data["result"] = self.result
        return data


class Report:
    """What the host learned from a run's authenticated result line."""

    __slots__ = ("outcome", "error", "records", "violations", "exit_status")

    def __init__(
        self,
        outcome: str,
        error: str = "",
        records: list[Record] | None = None,
        violations: list[str] | None = None,
        exit_status: int | None = None,
    ) -> None:
        self.outcome = outcome
        self.error = error
        self.records = records or []
        self.violations = violations or []
        self.exit_status = exit_status


def authenticated(line: bytes, secret: bytes) -> bytes | None:
    """The message of a result-pipe line if it carries the run's secret, else None."""
    prefix = secret + b" "
    if len(secret) != SECRET_BYTES or not line.startswith(prefix):
        return None
    return line[len(prefix) :]


def parse_report(message: bytes) -> Report:
    """The host's reading of the judge's `result` message. Never raises: whatever is not
    what an honest run sends becomes `OUTCOME_MALFORMED` with the reason."""
    import json

    try:
        data = json.loads(message)
    except (ValueError, RecursionError) as exc:
        return Report(OUTCOME_MALFORMED, f"the runner's report is not JSON: {exc}")
    if not isinstance(data, dict) or data.get("event") != EVENT_RESULT:
        return Report(OUTCOME_MALFORMED, "the runner's report has no result")
    exit_status = data.get("exit")
    events = data.get("events")
    if not isinstance(exit_status, int) or isinstance(exit_status, bool):
        return Report(OUTCOME_MALFORMED, "the runner's report has no exit status")
    if not isinstance(events, str):
        return Report(
            OUTCOME_MALFORMED, "the runner's report has no events", exit_status=exit_status
        )
    if data.get("oversized") is not False:
        return Report(
            OUTCOME_MALFORMED,
            f"the code's process sent more than {MAX_EVENTS_BYTES:,} bytes of events",
            exit_status=exit_status,
        )
    return _read_events(events, exit_status)


def _read_events(text: str, exit_status: int) -> Report:
    import json

    records: list[Record] = []
    violations: list[str] = []
    mismatch: str | None = None
    end: tuple[str, str] | None = None
    for number, line in enumerate(text.split("\n")[:-1], start=1):
        tag, _, payload = line.partition(" ")
        problem = None
        try:
            value = json.loads(payload)
        except (ValueError, RecursionError):
            problem = "is not JSON"
        else:
            if end is not None:
                problem = "follows the end"
            elif tag == TAG_RECORD:
                record = _record(value)
                if record is None or len(records) >= MAX_RECORDS:
                    problem = "is not a record"
                else:
                    records.append(record)
            elif tag in (TAG_VIOLATION, TAG_MISMATCH) and isinstance(value, str):
                if tag == TAG_VIOLATION:
                    violations.append(value[:1000])
                elif mismatch is None:
                    mismatch = value[:1000]
            elif tag == TAG_END and _is_end(value):
                end = (value["outcome"], value.get("error") or "")
            else:
                problem = "is not an event"
        if problem is not None:
            return Report(
                OUTCOME_MALFORMED,
                f"event line {number} from the code's process {problem}",
                records,
                violations,
                exit_status,
            )
    return _outcome(records, violations, mismatch, end, exit_status)


def _outcome(
    records: list[Record],
    violations: list[str],
    mismatch: str | None,
    end: tuple[str, str] | None,
    exit_status: int,
) -> Report:
    # Refusals first: whatever the code did afterwards (caught the exception, claimed to
    # have completed), it tried something it may not do.
    if violations:
        return Report(OUTCOME_VIOLATION, violations[0], records, violations, exit_status)
    if mismatch is not None:
        return Report(OUTCOME_SIGNATURE, mismatch, records, violations, exit_status)
    if end is not None and exit_status == 0:
        return Report(end[0], end[1], records, violations, exit_status)
    if exit_status < 0:
        return Report(OUTCOME_KILLED, f"signal {-exit_status}", records, violations, exit_status)
    if end is None:
        return Report(
            OUTCOME_EXITED,
            f"the code ended its process (exit status {exit_status}) before it could report",
            records,
            violations,
            exit_status,
        )
    return Report(
        OUTCOME_MALFORMED,
        f"the code's process reported an end but exited with status {exit_status}",
        records,
        violations,
        exit_status,
    )


def _record(value: object) -> Record | None:
    if not isinstance(value, dict):
        return None
    path, entry = value.get("path"), value.get("entry")
    args, kwargs = value.get("args"), value.get("kwargs")
    if not (
        isinstance(path, str)
        and isinstance(entry, bool)
        and isinstance(args, list)
        and isinstance(kwargs, dict)
        and len(path) <= 1000
        and _shallow(value, MAX_NESTING)
    ):
        return None
    return Record(path, entry, args, kwargs, value.get("result"), "result" in value)


def _shallow(value: object, limit: int) -> bool:
    """Whether `value` nests containers at most `limit` deep (an honest record nests a few
    levels; the host's recursive code must not meet a thousand)."""
    level: list[object] = [value]
    for _ in range(limit + 1):
        inner: list[object] = []
        for item in level:
            if isinstance(item, dict):
                inner.extend(item.values())
            elif isinstance(item, list):
                inner.extend(item)
        if not inner:
            return True
        level = inner
    return False


def _is_end(value: object) -> bool:
    return (
        isinstance(value, dict)
        and value.get("outcome") in END_OUTCOMES
        and isinstance(value.get("error"), (str, type(None)))
    )
