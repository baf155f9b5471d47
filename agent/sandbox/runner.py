"""The program that runs inside the sandbox. Standard library only; never imported by the host.

The host compiles it once with the sandbox's interpreter, then starts each run as
`python -I -S -B -c <bootstrap> <result-fd> <code size>` inside bubblewrap and writes this
program's marshalled code object followed by the marshalled job on stdin (see
`agent.sandbox.isolation`). Both come from the host, never from the generated code. The
runner then:

1. reads the job and closes stdin, writes `{"event": "started"}` on the result fd (so the
   host can tell "the sandbox never started" from "the code died");
2. lowers its resource limits (they cannot be raised again: the process has no capabilities);
3. arms an audit hook (PEP 578) that refuses process creation, sockets, ctypes, signals,
   frame and `gc` introspection, and opening file descriptors or system paths. Every refusal is
   recorded before the exception is raised, so code that catches the exception is still
   reported as `blocked`. An audit hook cannot be removed once added;
4. runs the code with its own builtins (no `eval`/`exec`/`compile`/`open`/`getattr`, an
   `__import__` that admits only allow-listed modules) and, in simulated mode, recording
   stand-ins for the catalog's libraries that check each entry-point call's signature;
5. writes `{"event": "result", ...}` with the recorded calls and how the code ended.

Printed text goes to stdout/stderr, which the host only keeps as output: only the result
fd carries the outcome, and the code has no way to reach that fd (no `os`, no fd `open`).
"""

import builtins
import importlib.machinery  # before the audit hook: it refuses loading modules later
import marshal
import os
import resource
import sys
from _json import encode_basestring_ascii as _quote

_RESULT_FD = int(sys.argv[1])
_write = os.write
_MAX_RECORDS = 200
_MAX_VALUE_CHARS = 300

_violations = []
_records = []
_armed = False


# The result is JSON, which the host parses without trusting it. The `json` package is not
# imported because it pulls in `re` and `enum`, half of a run's start-up; its C string
# escaper (`_quote`) is enough for the few types a message holds.
_FLOAT_WORDS = {float("inf"): "Infinity", float("-inf"): "-Infinity"}


def _to_json(value, out):
    """Append `value` as JSON text to `out`, as `json.dumps(value, default=repr)` would."""
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
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(", ")
            _to_json(item, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(", ")
            out.append(_quote(key if isinstance(key, str) else str(key)))
            out.append(": ")
            _to_json(item, out)
        out.append("}")
    else:
        out.append(_quote(repr(value)))


def _emit(message):
    out = []
    _to_json(message, out)
    data = ("".join(out) + "\n").encode()
    while data:
        written = _write(_RESULT_FD, data)
        data = data[written:]


class SandboxViolation(Exception):
    """Raised (after recording) when the code tries something the sandbox forbids."""


class SignatureMismatch(TypeError):
    """An entry-point call does not fit the library's signature."""


def _violation(what):
    if len(_violations) < 20:
        _violations.append(what)
    raise SandboxViolation(what)


# --- the audit hook -------------------------------------------------------------------

_BLOCKED_EVENTS = frozenset(
    {
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "os.kill",
        "os.killpg",
        "os.startfile",
        "subprocess.Popen",
        "pty.spawn",
        "socket.__new__",
        "socket.bind",
        "socket.connect",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.sethostname",
        "ctypes.dlopen",
        "ctypes.dlsym",
        "ctypes.addressof",
        "ctypes.call_function",
        "ctypes.cdata",
        "ctypes.string_at",
        "ctypes.wstring_at",
        "ctypes.get_errno",
        "sys._getframe",
        "sys._current_frames",
        "sys.settrace",
        "sys.setprofile",
        "sys.addaudithook",
        "sys._current_exceptions",
        "object.__getattr__",
        "object.__setattr__",
        "object.__delattr__",
        "function.__new__",
        "code.__new__",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        "marshal.loads",
        "marshal.load",
        "pickle.find_class",
        "os.chmod",
        "os.chown",
        "os.link",
        "os.symlink",
        "os.setxattr",
        "os.truncate",
        "resource.setrlimit",
        "resource.prlimit",
        "signal.pthread_kill",
        "mmap.__new__",
        "fcntl.ioctl",
        "os.putenv",
        "os.unsetenv",
        "os.chdir",
        "os.chroot",
    }
)
# Refused even when a standard-library module imports them on the code's behalf.
_NEVER_IMPORTED = frozenset(
    {
        "ctypes",
        "_ctypes",
        "subprocess",
        "_posixsubprocess",
        "pty",
        "socket",
        "_socket",
        "multiprocessing",
        "_multiprocessing",
        "ssl",
        "_ssl",
        "mmap",
        "fcntl",
    }
)
_READABLE_DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
_FORBIDDEN_PREFIXES = ("/proc", "/sys", "/dev", "/etc", "/root", "/home", "/run", "/var")


def _audit(event, args):
    if not _armed:
        return
    if event in _BLOCKED_EVENTS:
        _violation(f"{event} is not allowed")
    if event == "open":
        _check_open(args[0], args[1])
    elif event == "import" and str(args[0]).partition(".")[0] in _NEVER_IMPORTED:
        _violation(f"import of {args[0]!r} is not allowed")
    elif event in ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "shutil.rmtree"):
        path = os.path.abspath(os.fsdecode(args[0])) if isinstance(args[0], (str, bytes)) else ""
        if not path.startswith("/tmp/"):
            _violation(f"{event} outside /tmp is not allowed")


def _check_open(path, mode):
    if isinstance(path, int):
        _violation("opening a file descriptor is not allowed")
    if path is None:
        return
    text = os.path.abspath(os.fsdecode(path))
    writing = isinstance(mode, str) and any(flag in mode for flag in "wax+")
    if writing and not (text == "/tmp" or text.startswith("/tmp/")):
        _violation(f"writing {text} is not allowed")
    if text in _READABLE_DEVICES:
        return
    if any(text == p or text.startswith(p + "/") for p in _FORBIDDEN_PREFIXES):
        _violation(f"reading {text} is not allowed")


# --- recording stand-ins --------------------------------------------------------------


def _jsonable(value, depth=0):
    if isinstance(value, Recorder):
        return {"$ref": object.__getattribute__(value, "_path")}
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value[:2000]
    if depth < 4 and isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in list(value)[:50]]
    if depth < 4 and isinstance(value, dict):
        return {str(k)[:100]: _jsonable(v, depth + 1) for k, v in list(value.items())[:50]}
    return {"$repr": repr(value)[:_MAX_VALUE_CHARS]}


def _looks_like_path(value):
    # Mirrors agent.sandbox.policy.looks_like_path (this script imports nothing of ours).
    if not isinstance(value, str):
        return False
    return (
        value.startswith(("/", "~", "./", "../", "file:"))
        or "\\" in value
        or "/../" in value
        or value.endswith("/..")
    )


class Recorder:
    """A stand-in for any object of a simulated library: attributes are stand-ins too, and
    calls are recorded. `entry` marks module-level paths (`transformers.pipeline`), the
    calls the host resolves against the catalog; calls on results (`model(x)`) are not."""

    __slots__ = ("_path", "_entry")

    def __init__(self, path, entry):
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_entry", entry)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        path = object.__getattribute__(self, "_path")
        return Recorder(f"{path}.{name}", object.__getattribute__(self, "_entry"))

    def __setattr__(self, name, value):
        pass  # `model.eval = ...`, `layer.trainable = False`: accepted, nothing to keep

    def __call__(self, *args, **kwargs):
        path = object.__getattribute__(self, "_path")
        entry = object.__getattribute__(self, "_entry")
        if entry:
            _check_entry_call(path, args, kwargs)
        if len(_records) < _MAX_RECORDS:
            _records.append(
                {
                    "path": path,
                    "entry": entry,
                    "args": [_jsonable(a) for a in args],
                    "kwargs": {k: _jsonable(v) for k, v in kwargs.items()},
                }
            )
        return Recorder(f"{path}()", False)

    def __getitem__(self, key):
        return Recorder(f"{object.__getattribute__(self, '_path')}[]", False)

    def __setitem__(self, key, value):
        pass

    def __iter__(self):
        return iter(())

    def __len__(self):
        return 0

    def __bool__(self):
        return True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __repr__(self):
        return f"<{object.__getattribute__(self, '_path')}>"

    __str__ = __repr__

    def __format__(self, spec):
        return repr(self)

    def _operator(self, *other):
        return Recorder(f"{object.__getattribute__(self, '_path')}(op)", False)

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _operator
    __truediv__ = __rtruediv__ = __floordiv__ = __matmul__ = __neg__ = _operator


class RecordingModule(type(sys)):
    """A simulated library module: every attribute is an entry-point stand-in."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Recorder(f"{self.__name__}.{name}", True)


class SimulatedFinder:
    """Meta-path finder that answers imports of the simulated libraries with stand-ins."""

    def __init__(self, roots):
        self.roots = frozenset(roots)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] not in self.roots:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        module = RecordingModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


_signatures = {}
_model_arguments = ()  # from the job: policy.IDENTIFYING_KEYWORDS


def _signature_for(path):
    parts = path.split(".")
    for start in range(len(parts)):
        key = ".".join(parts[start:])
        if key in _signatures:
            found = _signatures[key]
            if not isinstance(found, _Signature):  # built on first use: most runs need one
                found = _signatures[key] = _Signature(found)
            return key, found
    return None, None


def _check_entry_call(path, args, kwargs):
    if kwargs.get("trust_remote_code"):
        _violation(f"{path}: trust_remote_code=True would run code from the model repo")
    for value in (*args[:2], *(kwargs.get(k) for k in _model_arguments)):
        if _looks_like_path(value):
            _violation(f"{path}: {value!r} is a filesystem path, not a model id")
    key, signature = _signature_for(path)
    if signature is None:
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise SignatureMismatch(f"{key}{signature}: {exc}") from None


class _Signature:
    """A library function's parameters and Python's binding rules for them. Hand-written
    rather than `inspect.Signature`: importing `inspect` costs ~20 ms, a third of a run."""

    def __init__(self, spec):
        self.params = [
            (str(name), str(kind), bool(has_default)) for name, kind, has_default in spec
        ]
        self.positional = [p for p in self.params if p[1] == "positional"]
        self.by_name = {p[0]: p for p in self.params if p[1] in ("positional", "keyword")}
        self.varargs = any(p[1] == "varargs" for p in self.params)
        self.varkw = any(p[1] == "varkw" for p in self.params)

    def bind(self, *args, **kwargs):
        if len(args) > len(self.positional) and not self.varargs:
            raise TypeError("too many positional arguments")
        bound = {p[0] for p in self.positional[: len(args)]}
        for name in kwargs:
            if name not in self.by_name:
                if not self.varkw:
                    raise TypeError(f"got an unexpected keyword argument {name!r}")
                continue
            if name in bound:
                raise TypeError(f"multiple values for argument {name!r}")
            bound.add(name)
        for name, kind, has_default in self.params:
            if kind in ("positional", "keyword") and not has_default and name not in bound:
                raise TypeError(f"missing a required argument: {name!r}")

    def __str__(self):
        parts, starred = [], False
        for name, kind, has_default in self.params:
            if kind == "keyword" and not starred:
                parts.append("*")
                starred = True
            if kind == "varargs":
                parts.append(f"*{name}")
                starred = True
            elif kind == "varkw":
                parts.append(f"**{name}")
            else:
                parts.append(f"{name}=None" if has_default else name)
        return "(" + ", ".join(parts) + ")"


# --- live callables ---------------------------------------------------------------------


class LiveCall:
    """An allow-listed real callable: the call is recorded, then really made. Keyword
    arguments named in `order` are passed by position, as builtins like `math.gcd` need."""

    def __init__(self, name, function, order):
        self.name = name
        self.function = function
        self.order = order

    def __call__(self, *args, **kwargs):
        record = {
            "path": self.name,
            "entry": True,
            "args": [_jsonable(a) for a in args],
            "kwargs": {k: _jsonable(v) for k, v in kwargs.items()},
        }
        _records.append(record)
        if self.order and set(kwargs) <= set(self.order):
            positional = [kwargs.pop(n) for n in self.order if n in kwargs]
            args = (*args, *positional)
        result = self.function(*args, **kwargs)
        record["result"] = _jsonable(result)
        return result


def _resolve_callable(target):
    module_name, _, attribute = target.partition(":")
    value = __import__(module_name, fromlist=["_"])
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


# --- running the code ------------------------------------------------------------------

_SAFE_BUILTINS = (
    "abs all any ascii bin bool bytearray bytes callable chr complex dict divmod enumerate "
    "filter float format frozenset hash hex id int isinstance issubclass iter len list map "
    "max min next object oct ord pow print range repr reversed round set slice sorted str "
    "sum tuple zip True False None Ellipsis NotImplemented ArithmeticError AssertionError "
    "AttributeError Exception IndexError KeyError LookupError NameError RuntimeError "
    "StopIteration TypeError ValueError ZeroDivisionError ImportError ModuleNotFoundError "
    "OSError FileNotFoundError PermissionError NotImplementedError property staticmethod "
    "classmethod super"
).split()
_importable = frozenset()


_dangerous = frozenset()


def _guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    top = name.partition(".")[0]
    if level != 0 or top in _dangerous or top.startswith("_"):
        _violation(f"import of {name!r} is not allowed")
    if top not in _importable:
        raise ModuleNotFoundError(f"No module named {name!r} in the sandbox")
    return builtins.__import__(name, globals, locals, fromlist, level)


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
    global _importable, _dangerous, _model_arguments
    _model_arguments = tuple(job.get("model_arguments", ()))
    namespace_builtins = {name: getattr(builtins, name) for name in _SAFE_BUILTINS}
    namespace_builtins["__import__"] = _guarded_import
    namespace = {"__name__": "__generated__", "__builtins__": namespace_builtins}
    roots = job.get("simulated_roots", [])
    live = {}
    for name, spec in job.get("live_callables", {}).items():
        live[name] = LiveCall(name, _resolve_callable(spec["target"]), spec.get("order", []))
    if job.get("mode", "simulated") == "simulated":
        sys.meta_path.insert(0, SimulatedFinder(roots))
        for name, path in job.get("free_names", {}).items():
            namespace[name] = Recorder(path, True)
        _signatures.update(job.get("signatures", {}))
    namespace.update(live)
    _importable = frozenset([*job.get("allowed_imports", []), *roots])
    _dangerous = frozenset(job.get("dangerous_modules", []))
    return namespace


def main():
    global _armed
    job = marshal.loads(sys.stdin.buffer.read())  # from the host: plain data
    sys.stdin.close()
    _emit({"event": "started"})
    _apply_limits(job.get("limits", {}))
    for extra in job.get("sys_path", []):
        sys.path.append(extra)
    namespace = _namespace(job)
    try:
        code = compile(job["code"], "<generated>", "exec")
    except (SyntaxError, ValueError) as exc:
        _emit({"event": "result", "outcome": "syntax", "error": str(exc), "records": []})
        os._exit(0)
    # `python_guards: false` exists only so that tests can show the OS-level layers hold on
    # their own; the executor never sets it.
    if job.get("python_guards", True):
        sys.addaudithook(_audit)
        _armed = True
    else:
        namespace["__builtins__"] = builtins
    outcome, error = "completed", None
    try:
        exec(code, namespace)  # noqa: S102 - this *is* the sandbox: the host never execs
    except SandboxViolation as exc:
        outcome, error = "violation", str(exc)
    except SignatureMismatch as exc:
        outcome, error = "signature", str(exc)
    except MemoryError:
        outcome, error = "memory", "MemoryError"
    except RecursionError as exc:
        outcome, error = "error", f"RecursionError: {exc}"
    except BaseException as exc:  # noqa: BLE001 - whatever the code raised is its outcome
        outcome, error = "error", f"{type(exc).__name__}: {str(exc)[:_MAX_VALUE_CHARS]}"
    _armed = False
    if _violations:  # caught inside the code: still a violation
        outcome, error = "violation", _violations[0]
    _emit(
        {
            "event": "result",
            "outcome": outcome,
            "error": error,
            "records": _records,
            "violations": _violations,
        }
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown: atexit handlers and __del__ belong to the code


main()
