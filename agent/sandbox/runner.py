"""The program that runs inside the sandbox. Standard library only; never imported by the host.

The host compiles `protocol.py` and this file together, with the sandbox's interpreter, into
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
import importlib.machinery  # before the audit hook: loading it later would be refused
import marshal
import os
import resource
import sys

_RESULT_FD = int(sys.argv[1])
_SECRET_SIZE = SECRET_BYTES  # noqa: F821 - from protocol.py, compiled into the same module
_STDLIB = os.path.dirname(os.__file__)
_events_fd = -1
_violation_count = 0
_record_count = 0


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data) :]


def _read_exactly(fd, size):
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            break
        data += chunk
    return data


# --- the code process: events ----------------------------------------------------------


def _event(tag, value):
    """One event line to the judge. Sent at once: the code cannot take it back."""
    if isinstance(value, str):
        value = value[:1000]
    text = dumps(value)  # noqa: F821 - protocol.py
    if len(text) > MAX_EVENT_CHARS:  # noqa: F821 - only a record can be this long
        text = dumps({"path": "<record too large>", "entry": False, "args": [], "kwargs": {}})  # noqa: F821
    _write_all(_events_fd, (tag + " " + text + "\n").encode())


class SandboxViolation(Exception):
    """Raised (after reporting) when the code tries something the sandbox forbids."""


class SignatureMismatch(TypeError):
    """An entry-point call does not fit the library's signature."""


def _violation(what):
    global _violation_count
    if _violation_count < MAX_VIOLATIONS:  # noqa: F821
        _violation_count += 1
        _event(TAG_VIOLATION, what)  # noqa: F821
    raise SandboxViolation(what)


# --- the code process: the audit hook --------------------------------------------------

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
        "sys._current_frames",
        "sys.settrace",
        "sys.setprofile",
        "sys.addaudithook",
        "sys._current_exceptions",
        "function.__new__",
        "code.__new__",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
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
_CODE_ATTRIBUTES = frozenset({"__code__", "__globals__", "__builtins__"})
# The standard library reads functions' `__code__` and defaults (dataclasses does), which
# the code itself cannot (the static check); no honest call needs a frame.
_FRAME_ATTRIBUTES = frozenset({"gi_frame", "cr_frame", "ag_frame", "tb_frame", "f_back"})
_READABLE_DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
_FORBIDDEN_PREFIXES = ("/proc", "/sys", "/dev", "/etc", "/root", "/home", "/run", "/var")


def _make_audit(generated):
    """The audit hook for the code process. It has no off switch, and keeps its one piece
    of state (code that library templates compiled, not yet run) in a closure the code
    cannot name."""
    templates_allowed = [0]

    def audit(event, args):
        if event in _BLOCKED_EVENTS:
            _violation(f"{event} is not allowed")
        check = _EVENT_CHECKS.get(event)
        if check is not None:
            check(args)
        elif event == "compile":
            if not _library_compile(args[0], args[1]):
                _violation("compiling code at run time is not allowed")
            if args[1] == "<string>":
                templates_allowed[0] += 1
        elif event == "exec":
            code = args[0]
            if code is generated or _module_code(code):
                return
            if code.co_filename != "<string>" or templates_allowed[0] <= 0:
                _violation("executing code at run time is not allowed")
            templates_allowed[0] -= 1  # the code that a library template just compiled

    return audit


def _check_import_event(args):
    if str(args[0]).partition(".")[0] in _NEVER_IMPORTED:
        _violation(f"import of {args[0]!r} is not allowed")


def _check_getattr_event(args):
    if args[1] in _FRAME_ATTRIBUTES:
        _violation(f"reading {args[1]} is not allowed")  # frames reach every global


def _check_setattr_event(args):
    # Setting class attributes is how the standard library builds its classes; replacing
    # a function's code is not something honest code needs.
    if args[1] in _CODE_ATTRIBUTES:
        _violation(f"changing {args[1]} is not allowed")


def _check_path_event(event):
    def check(args):
        path = os.path.abspath(os.fsdecode(args[0])) if isinstance(args[0], (str, bytes)) else ""
        if not path.startswith("/tmp/"):
            _violation(f"{event} outside /tmp is not allowed")

    return check


_EVENT_CHECKS = {
    "open": lambda args: _check_open(args[0], args[1]),
    "import": _check_import_event,
    "object.__getattr__": _check_getattr_event,
    "object.__setattr__": _check_setattr_event,
    "object.__delattr__": _check_setattr_event,
    **{
        e: _check_path_event(e)
        for e in ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "shutil.rmtree")
    },
}


def _module_code(code):
    """A standard-library module's code, executed by the import system."""
    filename = code.co_filename
    return filename.startswith("<frozen ") or filename.startswith(_STDLIB + "/")


def _library_compile(source, filename):
    """Compiling that the standard library does on the code's behalf, from text it built
    itself out of validated identifiers: a module without a `.pyc`, `collections.namedtuple`,
    `dataclasses`, and typing's forward references that are plain dotted names."""
    if isinstance(filename, str) and filename.startswith(_STDLIB + "/"):
        return True
    if isinstance(source, bytes):
        try:
            source = source.decode("ascii")
        except UnicodeDecodeError:
            return False
    if not isinstance(source, str) or filename != "<string>":
        return False
    if source.startswith("def __create_fn__("):  # dataclasses: fields are identifiers
        return True
    if all(part.isidentifier() and not part.startswith("_") for part in source.split(".")):
        return True  # a forward reference such as 'int' or 'datetime.date'
    return _namedtuple_source(source)


def _namedtuple_source(source):
    prefix = "lambda _cls, "
    if not source.startswith(prefix):
        return False
    arguments, separator, _ = source[len(prefix) :].partition(":")
    names = [name.strip() for name in arguments.split(",") if name.strip()]
    if not separator or not all(n.isidentifier() and not n.startswith("_") for n in names):
        return False
    return source == f"{prefix}{arguments}: _tuple_new(_cls, ({arguments}))"


def _check_open(path, mode):
    if isinstance(path, int):
        _violation("opening a file descriptor is not allowed")
    if path is None:
        return
    text = os.path.abspath(os.fsdecode(path))
    writing = isinstance(mode, str) and any(flag in mode for flag in "wax+")
    if writing and not (text == "/tmp" or text.startswith("/tmp/")):
        _violation(f"writing {text} is not allowed")
    if text in _READABLE_DEVICES or (not writing and text.startswith(_STDLIB + "/")):
        return  # the standard library's own files, read by the import system
    if any(text == p or text.startswith(p + "/") for p in _FORBIDDEN_PREFIXES):
        _violation(f"reading {text} is not allowed")


# --- the code process: recording stand-ins ------------------------------------------------


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
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return {"$repr": f"<{type(value).__name__} of {len(value)}>"}  # not a 10,000-deep repr
    try:
        return {"$repr": repr(value)[:MAX_VALUE_CHARS]}  # noqa: F821
    except Exception as exc:  # the code's own class with a broken __repr__
        return {"$repr": f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"}


def _record(record):
    global _record_count
    if _record_count < MAX_RECORDS:  # noqa: F821
        _record_count += 1
        _event(TAG_RECORD, record)  # noqa: F821


class Recorder:
    """A stand-in for any object of a simulated library: attributes are stand-ins too, and
    calls are recorded. `entry` marks module-level paths (`transformers.pipeline`), the
    calls the host resolves against the catalog; calls on results (`model(x)`) are not."""

    __slots__ = ("_path", "_entry")

    def __init__(self, path, entry):
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_entry", entry)

    def __getattr__(self, name):
        if name.startswith("_"):
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
        _record(
            {
                "path": path,
                "entry": entry,
                "args": [_jsonable(a) for a in args],
                "kwargs": {str(k): _jsonable(v) for k, v in kwargs.items()},
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
        if name.startswith("_"):
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
        if looks_like_path(value):  # noqa: F821 - protocol.py
            _violation(f"{path}: {value!r} is a filesystem path, not a model id")
    key, signature = _signature_for(path)
    if signature is None:
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        message = f"{key}{signature}: {exc}"
        _event(TAG_MISMATCH, message)  # noqa: F821 - sent before it can be caught
        raise SignatureMismatch(message) from None


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


# --- the code process: live callables -------------------------------------------------------


class LiveCall:
    """An allow-listed real callable: the call is made, then recorded with its result.
    Keyword arguments named in `order` are passed by position, as builtins like
    `math.gcd` need."""

    def __init__(self, name, function, order):
        self.name = name
        self.function = function
        self.order = order

    def __call__(self, *args, **kwargs):
        record = {
            "path": self.name,
            "entry": True,
            "args": [_jsonable(a) for a in args],
            "kwargs": {str(k): _jsonable(v) for k, v in kwargs.items()},
        }
        if self.order and set(kwargs) <= set(self.order):
            positional = [kwargs.pop(n) for n in self.order if n in kwargs]
            args = (*args, *positional)
        try:
            result = self.function(*args, **kwargs)
        except BaseException:
            _record(record)
            raise
        record["result"] = _jsonable(result)
        _record(record)
        return result


def _resolve_callable(target):
    """`module:name`, one public name of one module: the host allow-lists exact names, and
    this refuses anything that would walk further (`statistics:random._os.write`)."""
    module_name, _, attribute = target.partition(":")
    if not attribute.isidentifier() or attribute.startswith("_"):
        raise ValueError(f"live callable {target!r} is not module:name")
    return getattr(__import__(module_name, fromlist=["_"]), attribute)


# --- the code process: running the code ------------------------------------------------------

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
_simulated = frozenset()
_dangerous = frozenset()


def _guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    if isinstance(fromlist, list) and not fromlist and level == 0:
        # C code importing on the code's behalf (`datetime.strptime` loads `_strptime`):
        # it passes an empty *list*, which an `import` statement never does (None or a
        # tuple), and the code cannot call `__import__` itself. The module goes to that C
        # code, not to the generated code; the audit hook still refuses what is never
        # imported.
        return builtins.__import__(name, globals, locals, fromlist, level)
    top = name.partition(".")[0]
    if level != 0 or top in _dangerous or any(p.startswith("_") for p in name.split(".")):
        _violation(f"import of {name!r} is not allowed")
    for item in fromlist or ():
        if not isinstance(item, str) or (item.startswith("_") and item != "*"):
            _violation(f"import of {name}.{item} is not allowed")
    if top not in _importable:
        raise ModuleNotFoundError(f"No module named {name!r} in the sandbox")
    module = builtins.__import__(name, globals, locals, fromlist, level)
    return module if top in _simulated else _module_view(module)


def _module_view(module, views=None):
    """A module as the code may see it: its public names, and of its submodules only the
    importable ones (themselves views). `datetime.sys` or `random._os` are not there."""
    views = {} if views is None else views
    if module.__name__ in views:
        return views[module.__name__]
    view = views[module.__name__] = type(sys)(module.__name__)
    for name, value in list(vars(module).items()):
        if name.startswith("_"):
            continue
        if isinstance(value, type(sys)):
            if str(value.__name__).partition(".")[0] not in _importable:
                continue
            value = _module_view(value, views)
        setattr(view, name, value)
    return view


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
    _model_arguments = tuple(job.get(JOB_MODEL_ARGUMENTS, ()))  # noqa: F821
    namespace_builtins = {name: getattr(builtins, name) for name in _SAFE_BUILTINS}
    namespace_builtins["__import__"] = _guarded_import
    namespace_builtins["__build_class__"] = builtins.__build_class__  # `class` statements
    # A real module (in sys.modules, as `dataclasses` expects of a class's module) whose
    # dict is the code's globals.
    module = type(sys)("__generated__")
    sys.modules["__generated__"] = module
    namespace = module.__dict__
    namespace["__builtins__"] = namespace_builtins
    roots = job.get(JOB_SIMULATED_ROOTS, [])  # noqa: F821
    live = {}
    for name, spec in job.get(JOB_LIVE_CALLABLES, {}).items():  # noqa: F821
        live[name] = LiveCall(name, _resolve_callable(spec["target"]), spec.get("order", []))
    if job.get(JOB_MODE, "simulated") == "simulated":  # noqa: F821
        sys.meta_path.insert(0, SimulatedFinder(roots))
        for name, path in job.get(JOB_FREE_NAMES, {}).items():  # noqa: F821
            namespace[name] = Recorder(path, True)
        _signatures.update(job.get(JOB_SIGNATURES, {}))  # noqa: F821
    namespace.update(live)
    _simulated = frozenset(roots)
    _importable = frozenset([*job.get(JOB_ALLOWED_IMPORTS, []), *roots])  # noqa: F821
    _dangerous = frozenset(job.get(JOB_DANGEROUS_MODULES, []))  # noqa: F821
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
        _apply_limits(job.get(JOB_LIMITS, {}))  # noqa: F821
        for extra in job.get(JOB_SYS_PATH, []):  # noqa: F821
            sys.path.append(extra)
        namespace = _namespace(job)
        try:
            code = compile(job[JOB_CODE], "<generated>", "exec")  # noqa: F821
        except (SyntaxError, ValueError) as exc:
            _event(TAG_END, {"outcome": END_SYNTAX, "error": str(exc)})  # noqa: F821
            os._exit(0)
        # `python_guards: false` exists only so that tests can show the OS-level layers
        # hold on their own; the executor never sets it, and the code cannot reach it.
        if job.get(JOB_PYTHON_GUARDS, True):  # noqa: F821
            sys.addaudithook(_make_audit(code))
        else:
            namespace["__builtins__"] = builtins
        outcome, error = END_COMPLETED, None  # noqa: F821
        try:
            exec(code, namespace)  # noqa: S102 - this *is* the sandbox: the host never execs
        except SandboxViolation as exc:
            outcome, error = END_ERROR, str(exc)  # noqa: F821 - the V line decides
        except SignatureMismatch as exc:
            outcome, error = END_ERROR, str(exc)  # noqa: F821 - the S line decides
        except MemoryError:
            outcome, error = END_MEMORY, "MemoryError"  # noqa: F821
        except RecursionError as exc:
            outcome, error = END_ERROR, f"RecursionError: {exc}"  # noqa: F821
        except BaseException as exc:  # noqa: BLE001 - whatever the code raised is its outcome
            outcome, error = END_ERROR, f"{type(exc).__name__}: {str(exc)[:MAX_VALUE_CHARS]}"  # noqa: F821
        _event(TAG_END, {"outcome": outcome, "error": error})  # noqa: F821
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
        if len(received) + len(chunk) > MAX_EVENTS_BYTES:  # noqa: F821
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
        _write_all(_RESULT_FD, secret + b" " + dumps(message).encode() + b"\n")  # noqa: F821

    report({"event": EVENT_STARTED})  # noqa: F821
    events, exit_status, oversized = _collect(events_r, pid)
    report({"event": EVENT_RESULT, "exit": exit_status, "oversized": oversized, "events": events})  # noqa: F821
    os._exit(0)


main()
