"""A static look at generated code before it goes anywhere near the sandbox.

An allow-list over the syntax tree: every node must be of a kind an API call's code needs
(statements, expressions, comprehensions, functions, classes, `match`), and every name that
reaches an object must be plain. Refused (outcome `blocked`):

- dunder names in any form: attributes, variables, parameters, keyword arguments, import
  names and aliases, `match` class-pattern attributes and captures, exception names,
  `global` declarations; and private (`_x`) attributes and import names, the usual road from
  `().__class__` or `random._os` to the host;
- names that reach code, frames or the interpreter (`eval`, `getattr`, `gi_frame`,
  `f_globals`, `get_type_hints`, ...), and importing process, file, network or
  introspection modules;
- `str.format` on anything but a string literal whose fields are plain (`'{0.x}'` and
  `'{0[k]}'` walk attributes at run time), and `format_map`;
- `async` code, metaclasses, and relative imports;
- `trust_remote_code=True`, and model ids given by keyword that are filesystem paths.

The sandbox contains whatever gets past this; the check exists so that unsafe code is named
as such, and stopped early, rather than merely failing inside.
"""

from __future__ import annotations

import ast
import string
from collections.abc import Callable, Iterator

from agent.sandbox.protocol import looks_like_path

# Refused outright. Other unknown modules are not unsafe, only unavailable: they fail
# inside the sandbox with ModuleNotFoundError (`api_error`).
DANGEROUS_MODULES = frozenset(
    """os sys subprocess socket ctypes importlib pty gc inspect builtins shutil signal
    multiprocessing threading _thread asyncio pickle marshal code codeop runpy io pathlib
    tempfile resource mmap fcntl ssl http urllib ftplib smtplib telnetlib webbrowser
    sysconfig site posix nt platform select selectors socketserver xmlrpc shelve dbm
    sqlite3 zipimport pkgutil faulthandler tracemalloc trace pdb bdb ctypes cffi
    concurrent glob zipfile tarfile gzip bz2 lzma weakref types operator
    copyreg posixpath ntpath genericpath stat pwd grp spwd crypt termios tty
    readline rlcompleter atexit""".split()
)
SAFE_STDLIB = frozenset(
    """math cmath json re itertools collections string random statistics datetime decimal
    fractions typing dataclasses enum textwrap heapq bisect copy uuid base64 hashlib
    numbers array time calendar pprint difflib unicodedata""".split()
)
FORBIDDEN_NAMES = frozenset(
    """eval exec compile open getattr setattr delattr globals locals vars breakpoint
    input memoryview help exit quit get_type_hints ForwardRef Formatter""".split()
)
FORBIDDEN_ATTRIBUTES = frozenset(
    """system popen spawn fork modules builtins f_globals f_locals f_back f_builtins
    f_code f_trace gi_frame gi_code gi_yieldfrom cr_frame cr_code cr_await ag_frame ag_code
    tb_frame tb_next co_code mro format_map func_globals func_code sys os subprocess
    import_module load_module get_type_hints ForwardRef Formatter vformat get_field
    format_field""".split()
)
# Methods a class in the generated code may define (it may not *access* any dunder).
CLASS_METHODS = frozenset(
    """__init__ __post_init__ __repr__ __str__ __call__ __len__ __iter__ __next__
    __enter__ __exit__ __eq__ __ne__ __hash__ __lt__ __le__ __gt__ __ge__ __getitem__
    __contains__ __bool__""".split()
)
# Keywords that name the model a call loads; the runner checks the same ones at run time.
IDENTIFYING_KEYWORDS = (
    "model",
    "pretrained_model_name_or_path",
    "repo_or_dir",
    "handle",
    "repo_id",
)

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    # statements
    ast.Module, ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For, ast.While,
    ast.If, ast.With, ast.Raise, ast.Try, ast.TryStar, ast.Assert, ast.Import,
    ast.ImportFrom, ast.Pass, ast.Break, ast.Continue, ast.Return, ast.Delete,
    ast.FunctionDef, ast.ClassDef, ast.Global, ast.Nonlocal, ast.Match,
    # expressions
    ast.BoolOp, ast.NamedExpr, ast.BinOp, ast.UnaryOp, ast.Lambda, ast.IfExp, ast.Dict,
    ast.Set, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Yield,
    ast.YieldFrom, ast.Compare, ast.Call, ast.FormattedValue, ast.JoinedStr, ast.Constant,
    ast.Attribute, ast.Subscript, ast.Starred, ast.Name, ast.List, ast.Tuple, ast.Slice,
    # parts
    ast.expr_context, ast.boolop, ast.operator, ast.unaryop, ast.cmpop, ast.comprehension,
    ast.ExceptHandler, ast.arguments, ast.arg, ast.keyword, ast.alias, ast.withitem,
    ast.match_case,
    # match patterns
    ast.MatchValue, ast.MatchSingleton, ast.MatchSequence, ast.MatchMapping,
    ast.MatchClass, ast.MatchStar, ast.MatchAs, ast.MatchOr,
)  # fmt: skip


def check_code(code: str) -> list[str]:
    """Why `code` must not run (empty = it may). `code` must parse (the caller checked)."""
    tree = ast.parse(code)
    problems = list(_Checker().problems(tree))
    return list(dict.fromkeys(problems))  # in order, without repeats


def _dunder(name: str | None) -> bool:
    return name is not None and name.startswith("__")


class _Checker:
    def problems(self, tree: ast.AST) -> Iterator[str]:
        class_bodies = {
            id(item)
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            for item in node.body
        }
        for node in ast.walk(tree):
            if not isinstance(node, _ALLOWED_NODES):
                yield f"{type(node).__name__} is not allowed in a generated call"
                continue
            rule = _RULES.get(type(node))
            if rule is not None:
                yield from rule(node, id(node) in class_bodies)
            if isinstance(node, ast.Call):
                yield from _check_call(node)


def _plain_names(*names: str | None) -> Iterator[str]:
    for name in names:
        if _dunder(name):
            yield f"name {name!r} is not allowed"


def _name_rule(node: ast.AST, in_class_body: bool) -> Iterator[str]:
    assert isinstance(node, ast.Name)
    if _dunder(node.id) or node.id in FORBIDDEN_NAMES:
        yield f"name {node.id!r} is not allowed"


def _attribute_rule(node: ast.AST, in_class_body: bool) -> Iterator[str]:
    assert isinstance(node, ast.Attribute)
    if node.attr.startswith("_") or node.attr in FORBIDDEN_ATTRIBUTES:
        yield f"attribute {node.attr!r} is not allowed"
    elif node.attr == "format" and not _plain_format_string(node.value):
        yield "str.format is allowed only on a string literal with plain fields"


def _function_rule(node: ast.AST, in_class_body: bool) -> Iterator[str]:
    assert isinstance(node, ast.FunctionDef)
    if _dunder(node.name) and not (in_class_body and node.name in CLASS_METHODS):
        yield f"defining {node.name!r} is not allowed"


def _class_rule(node: ast.AST, in_class_body: bool) -> Iterator[str]:
    assert isinstance(node, ast.ClassDef)
    if _dunder(node.name) or node.keywords:
        yield "classes may not name dunders or take a metaclass"


def _class_pattern_rule(node: ast.AST, in_class_body: bool) -> Iterator[str]:
    assert isinstance(node, ast.MatchClass)
    for attr in node.kwd_attrs:
        if attr.startswith("_") or attr in FORBIDDEN_ATTRIBUTES:
            yield f"attribute {attr!r} is not allowed in a class pattern"


def _import_rule(node: ast.AST, in_class_body: bool) -> Iterator[str]:
    assert isinstance(node, ast.Import)
    for alias in node.names:
        yield from _check_import(alias.name)
        yield from _plain_names(alias.asname)


def _import_from_rule(node: ast.AST, in_class_body: bool) -> Iterator[str]:
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        yield "relative imports are not allowed"
    yield from _check_import(node.module or "")
    for alias in node.names:
        if alias.name != "*" and (alias.name.startswith("_") or alias.name in FORBIDDEN_ATTRIBUTES):
            yield f"import of {alias.name!r} from {node.module!r} is not allowed"
        yield from _plain_names(alias.asname)


_Rule = Callable[[ast.AST, bool], Iterator[str]]
_RULES: dict[type[ast.AST], _Rule] = {
    ast.Name: _name_rule,
    ast.Attribute: _attribute_rule,
    ast.FunctionDef: _function_rule,
    ast.ClassDef: _class_rule,
    ast.MatchClass: _class_pattern_rule,
    ast.Import: _import_rule,
    ast.ImportFrom: _import_from_rule,
    # Names that bind or declare: parameters, keyword arguments, exception and pattern
    # captures, `global`/`nonlocal`.
    ast.arg: lambda node, _: _plain_names(getattr(node, "arg", None)),
    ast.keyword: lambda node, _: _plain_names(getattr(node, "arg", None)),
    ast.ExceptHandler: lambda node, _: _plain_names(getattr(node, "name", None)),
    ast.MatchAs: lambda node, _: _plain_names(getattr(node, "name", None)),
    ast.MatchStar: lambda node, _: _plain_names(getattr(node, "name", None)),
    ast.MatchMapping: lambda node, _: _plain_names(getattr(node, "rest", None)),
    ast.Global: lambda node, _: _plain_names(*getattr(node, "names", ())),
    ast.Nonlocal: lambda node, _: _plain_names(*getattr(node, "names", ())),
}


def _check_import(module: str) -> Iterator[str]:
    parts = module.split(".")
    if parts[0] in DANGEROUS_MODULES or any(p.startswith("_") for p in parts):
        yield f"import of {module!r} is not allowed"


def _plain_format_string(node: ast.expr) -> bool:
    """A string literal whose replacement fields, nested ones in a format spec included,
    name arguments only (`{}`, `{0}`, `{name:>{width}}`), never `{0.attr}` or `{0[key]}`."""
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return False
    try:
        fields = [
            name
            for _, field, spec, _ in string.Formatter().parse(node.value)
            if field is not None
            for name in [field, *_nested_fields(spec or "")]
        ]
    except ValueError:
        return False
    return all(
        (not name or name.isdigit() or name.isidentifier()) and not _dunder(name) for name in fields
    )


def _nested_fields(spec: str) -> list[str]:
    return [field for _, field, _, _ in string.Formatter().parse(spec) if field is not None]


def _check_call(node: ast.Call) -> Iterator[str]:
    for keyword in node.keywords:
        value = keyword.value
        if keyword.arg == "trust_remote_code" and not (
            isinstance(value, ast.Constant) and not value.value
        ):
            yield "trust_remote_code=True would run code from the model repository"
        if keyword.arg in IDENTIFYING_KEYWORDS and isinstance(value, ast.Constant):
            if looks_like_path(value.value):
                yield f"{keyword.arg}={value.value!r} is a filesystem path, not a model id"
    # Positional model ids (`from_pretrained('/etc')`) are checked where the call's target
    # is known: the runner checks every entry-point call's first arguments at run time, so
    # `re.sub(r'\s+', ...)` is not mistaken for a path.
