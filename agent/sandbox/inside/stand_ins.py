"""Part 3 of the runner: recording stand-ins for the catalog's libraries (simulated
mode), their entry points' real signatures, and allow-listed real callables (live mode)."""

import importlib.machinery  # before the audit hook: loading it later would be refused
import sys

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
        return {"$repr": repr(value)[:MAX_VALUE_CHARS]}
    except Exception as exc:  # the code's own class with a broken __repr__
        return {"$repr": f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"}


def _record(record):
    global _record_count
    if _record_count < MAX_RECORDS:
        _record_count += 1
        _event(TAG_RECORD, record)


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
        if looks_like_path(value):
            _violation(f"{path}: {value!r} is a filesystem path, not a model id")
    key, signature = _signature_for(path)
    if signature is None:
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        message = f"{key}{signature}: {exc}"
        _event(TAG_MISMATCH, message)
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
