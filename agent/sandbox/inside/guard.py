"""Part 2 of the runner: what the code process refuses, and how.

The audit hook (no off switch), the code's own builtins, and its `__import__`, which admits
only allow-listed modules and hands out views of them without their private names or
foreign submodules.
"""

import builtins
import os
import sys

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
