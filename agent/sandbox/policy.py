"""A static look at generated code before it goes anywhere near the sandbox.

It refuses (outcome `blocked`) what no honest API call needs: importing process, file,
network or introspection modules, private and dunder attributes (the usual road from
`().__class__` to `os._wrap_close`), the builtins that evaluate or reach code objects,
format strings that walk attributes, `trust_remote_code=True`, and model ids that are
filesystem paths. The sandbox contains whatever gets past this; the check exists so that
unsafe code is named as such, and stopped early, rather than merely failing inside.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

# Refused outright. Other unknown modules are not unsafe, only unavailable: they fail
# inside the sandbox with ModuleNotFoundError (`api_error`).
DANGEROUS_MODULES = frozenset(
    """os sys subprocess socket ctypes importlib pty gc inspect builtins shutil signal
    multiprocessing threading _thread asyncio pickle marshal code codeop runpy io pathlib
    tempfile resource mmap fcntl ssl http urllib ftplib smtplib telnetlib webbrowser
    sysconfig site posix nt platform select selectors socketserver xmlrpc shelve dbm
    sqlite3 zipimport pkgutil faulthandler tracemalloc trace pdb bdb ctypes cffi
    concurrent glob zipfile tarfile gzip bz2 lzma weakref types
    copyreg posixpath ntpath genericpath stat pwd grp spwd crypt termios tty
    readline rlcompleter atexit""".split()
)
SAFE_STDLIB = frozenset(
    """math cmath json re itertools collections string random statistics datetime decimal
    fractions typing dataclasses enum textwrap heapq bisect copy uuid base64 hashlib
    numbers array time calendar pprint difflib unicodedata""".split()
)
_FORBIDDEN_CALLS = frozenset(
    """eval exec compile open getattr setattr delattr globals locals vars breakpoint
    input memoryview help exit quit __import__""".split()
)
_FORBIDDEN_ATTRIBUTES = frozenset(
    """system popen spawn fork modules builtins f_globals f_locals f_back f_builtins
    f_code gi_frame gi_code cr_frame ag_frame tb_frame tb_next co_code mro format_map
    sys os subprocess import_module load_module""".split()
)
# Keywords that name the model a call loads; the runner checks the same ones at run time.
IDENTIFYING_KEYWORDS = (
    "model",
    "pretrained_model_name_or_path",
    "repo_or_dir",
    "handle",
    "repo_id",
)


def looks_like_path(value: object) -> bool:
    # runner._looks_like_path is the same rule: the runner cannot import this package.
    if not isinstance(value, str):
        return False
    return (
        value.startswith(("/", "~", "./", "../", "file:"))
        or "\\" in value
        or "/../" in value
        or value.endswith("/..")
    )


def check_code(code: str) -> list[str]:
    """Why `code` must not run (empty = it may). `code` must parse (the caller checked)."""
    tree = ast.parse(code)
    problems: list[str] = []
    for node in ast.walk(tree):
        problems.extend(_check_node(node))
    return list(dict.fromkeys(problems))  # in order, without repeats


def _check_node(node: ast.AST) -> Iterable[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.partition(".")[0] in DANGEROUS_MODULES:
                yield f"import of {alias.name!r} is not allowed"
    elif isinstance(node, ast.ImportFrom):
        module = node.module or ""
        if node.level or module.partition(".")[0] in DANGEROUS_MODULES:
            yield f"import from {module or '.'!r} is not allowed"
    elif isinstance(node, ast.Attribute) and (
        node.attr.startswith("_") or node.attr in _FORBIDDEN_ATTRIBUTES
    ):
        yield f"attribute {node.attr!r} is not allowed"
    elif isinstance(node, ast.Name) and (node.id.startswith("__") or node.id in _FORBIDDEN_CALLS):
        yield f"name {node.id!r} is not allowed"
    elif isinstance(node, ast.Constant) and _walks_attributes(node.value):
        yield "format strings that reach dunder attributes are not allowed"
    elif isinstance(node, ast.Call):
        yield from _check_call(node)


def _walks_attributes(value: object) -> bool:
    return isinstance(value, str) and "{" in value and "__" in value


def _check_call(node: ast.Call) -> Iterable[str]:
    for keyword in node.keywords:
        value = keyword.value
        if keyword.arg == "trust_remote_code" and not (
            isinstance(value, ast.Constant) and not value.value
        ):
            yield "trust_remote_code=True would run code from the model repository"
        if keyword.arg in IDENTIFYING_KEYWORDS and isinstance(value, ast.Constant):
            if looks_like_path(value.value):
                yield f"{keyword.arg}={value.value!r} is a filesystem path, not a model id"
    for arg in node.args[:2]:
        if isinstance(arg, ast.Constant) and looks_like_path(arg.value):
            yield f"{arg.value!r} is a filesystem path, not a model id"
