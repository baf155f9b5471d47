"""Part 4 of the runner, its entry point: the judge and the code process.

The host compiles the runner's parts (`RUNNER_PARTS`) with the sandbox's interpreter into
one code object, and starts each run as `python -I -S -B -c <bootstrap> <result-fd> <code
size> <job size>` inside bubblewrap, with the code object, the marshalled job and a per-run
secret on stdin (see `agent.sandbox.isolation` and `agent.sandbox.protocol`).

The process splits in two so that the code being judged never shares an interpreter with
the code that judges it:

- the **judge** (this process) reads the job, makes itself non-dumpable (so a process of the
  same uid cannot open its descriptors or memory through /proc), forks the code process,
  and only then reads the secret. It relays the code process's event lines, unread, in one
  result line that starts with the secret, with how that process ended;
- the **code process** closes stdin and the result pipe, lowers its resource limits, arms an
  audit hook (PEP 578) that has no off switch, and runs the code with its own builtins (no
  `eval`/`exec`/`compile`/`open`/`getattr`), an `__import__` that admits only allow-listed
  modules and hands out views of them without their private names or foreign submodules,
  and, in simulated mode, recording stand-ins for the catalog's libraries. Every refusal is
  sent to the judge before the exception is raised, so catching it takes nothing back.

Printed text goes to stdout/stderr, which the host keeps only as output.
"""

import builtins
import marshal
import os
import resource
import sys


def _apply_limits(limits):
    pairs = {
        "cpu_seconds": resource.RLIMIT_CPU,
        "address_space_bytes": resource.RLIMIT_AS,
        "file_size_bytes": resource.RLIMIT_FSIZE,
        "open_files": resource.RLIMIT_NOFILE,
        "processes": resource.RLIMIT_NPROC,
    }
    for key, which in pairs.items():
        value = limits.get(key)
        if value:
            resource.setrlimit(which, (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _namespace(job):
    """The code's globals: restricted builtins, stand-ins or live callables."""
    global _importable, _simulated, _dangerous, _model_arguments
    _model_arguments = tuple(job.get(JOB_MODEL_ARGUMENTS, ()))
    namespace_builtins = {name: getattr(builtins, name) for name in _SAFE_BUILTINS}
    namespace_builtins["__import__"] = _guarded_import
    namespace_builtins["__build_class__"] = builtins.__build_class__  # `class` statements
    # A real module (in sys.modules, as `dataclasses` expects of a class's module) whose
    # dict is the code's globals.
    module = type(sys)("__generated__")
    sys.modules["__generated__"] = module
    namespace = module.__dict__
    namespace["__builtins__"] = namespace_builtins
    roots = job.get(JOB_SIMULATED_ROOTS, [])
    live = {}
    for name, spec in job.get(JOB_LIVE_CALLABLES, {}).items():
        live[name] = LiveCall(name, _resolve_callable(spec["target"]), spec.get("order", []))
    if job.get(JOB_MODE, "simulated") == "simulated":
        sys.meta_path.insert(0, SimulatedFinder(roots))
        for name, path in job.get(JOB_FREE_NAMES, {}).items():
            namespace[name] = Recorder(path, True)
        _signatures.update(job.get(JOB_SIGNATURES, {}))
    namespace.update(live)
    _simulated = frozenset(roots)
    _importable = frozenset([*job.get(JOB_ALLOWED_IMPORTS, []), *roots])
    _dangerous = frozenset(job.get(JOB_DANGEROUS_MODULES, []))
    return namespace


def _run_code(job, events_w):
    """The code process, from the fork to its exit. Never returns."""
    global _events_fd
    _events_fd = events_w
    # Nothing of the judge's: stdin (the secret is still unread there), the result pipe,
    # and any other descriptor; and no ctypes, which the judge loaded for itself.
    os.close(0)
    os.closerange(3, events_w)
    os.closerange(events_w + 1, 1 << 16)
    for name in [m for m in sys.modules if m.partition(".")[0] in ("ctypes", "_ctypes")]:
        del sys.modules[name]
    try:
        _apply_limits(job.get(JOB_LIMITS, {}))
        for extra in job.get(JOB_SYS_PATH, []):
            sys.path.append(extra)
        namespace = _namespace(job)
        try:
            code = compile(job[JOB_CODE], "<generated>", "exec")
        except (SyntaxError, ValueError) as exc:
            _event(TAG_END, {"outcome": END_SYNTAX, "error": str(exc)})
            os._exit(0)
        # `python_guards: false` exists only so that tests can show the OS-level layers
        # hold on their own; the executor never sets it, and the code cannot reach it.
        if job.get(JOB_PYTHON_GUARDS, True):
            sys.addaudithook(_make_audit(code))
        else:
            namespace["__builtins__"] = builtins
        outcome, error = END_COMPLETED, None
        try:
            exec(code, namespace)  # noqa: S102 - this *is* the sandbox: the host never execs
        except SandboxViolation as exc:
            outcome, error = END_ERROR, str(exc)
        except SignatureMismatch as exc:
            outcome, error = END_ERROR, str(exc)
        except MemoryError:
            outcome, error = END_MEMORY, "MemoryError"
        except RecursionError as exc:
            outcome, error = END_ERROR, f"RecursionError: {exc}"
        except BaseException as exc:  # noqa: BLE001 - whatever the code raised is its outcome
            outcome, error = END_ERROR, f"{type(exc).__name__}: {str(exc)[:MAX_VALUE_CHARS]}"
        _event(TAG_END, {"outcome": outcome, "error": error})
        sys.stdout.flush()
        sys.stderr.flush()
    except MemoryError:
        _write_all(events_w, b'E {"outcome": "memory", "error": "MemoryError"}\n')
    finally:
        os._exit(0)  # skip interpreter teardown: atexit handlers and __del__ are the code's


# --- the judge --------------------------------------------------------------------------------


def _not_dumpable():
    """PR_SET_DUMPABLE 0: /proc/<judge>/fd and /proc/<judge>/mem stay closed to the code
    process, which runs as the same uid (seccomp already refuses ptrace)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)
    except (ImportError, OSError, AttributeError) as exc:
        os.write(2, f"toolroute runner: cannot make the judge non-dumpable: {exc}\n".encode())


def _collect(events_r, pid):
    """Every event line the code process sends (up to the cap), then how it ended."""
    received = bytearray()
    oversized = False
    while True:
        chunk = os.read(events_r, 65536)
        if not chunk:
            break
        if len(received) + len(chunk) > MAX_EVENTS_BYTES:
            oversized = True  # keep draining, so the code never blocks on a full pipe
            continue
        received += chunk
    _, status = os.waitpid(pid, 0)
    exit_status = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return received.decode("utf-8", "replace"), exit_status, oversized


def main():
    job = marshal.loads(_read_exactly(0, int(sys.argv[3])))  # from the host: plain data
    _not_dumpable()
    events_r, events_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(events_r)
        _run_code(job, events_w)
    os.close(events_w)
    secret = _read_exactly(0, _SECRET_SIZE)
    os.close(0)

    def report(message):
        _write_all(_RESULT_FD, secret + b" " + dumps(message).encode() + b"\n")

    report({"event": EVENT_STARTED})
    events, exit_status, oversized = _collect(events_r, pid)
    report({"event": EVENT_RESULT, "exit": exit_status, "oversized": oversized, "events": events})
    os._exit(0)


main()
