"""The seams DESIGN.md and docs/architecture.md promise, checked on the source itself:
dependencies point one way between packages, no module imports another that imports it
back (at run time or for typing), modules stay small, and the CLI starts light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("apidb", "retriever", "router", "agent")
# What each package may import (DESIGN.md: agent -> router, retriever -> apidb).
ALLOWED = {
    "apidb": {"apidb"},
    "retriever": {"retriever", "apidb"},
    # apidb.database only: the one way to reach SQLite or PostgreSQL (router state).
    "router": {"router", "apidb"},
    "agent": {"agent", "router", "retriever", "apidb"},
}
MAX_MODULE_LINES = 500


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every project module `path` imports, anywhere in the file (function bodies and
    `if TYPE_CHECKING:` included): a cycle through either is still a tangle."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1]
                    + ([base] if base else [])
                )
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    edges = {name: imports(name, path, known) for name, path in found.items()}
    # A package's __init__ re-exporting its modules is not a dependency of those modules
    # on each other; drop the package nodes' outgoing edges to their own submodules.
    for name in edges:
        if (ROOT / name.replace(".", "/") / "__init__.py").exists():
            edges[name] = {t for t in edges[name] if not t.startswith(name + ".")}
    return edges


def test_dependencies_point_one_way_between_packages() -> None:
    wrong = [
        f"{source} imports {target}"
        for source, targets in graph().items()
        for target in targets
        if target.split(".")[0] not in ALLOWED[source.split(".")[0]]
    ]
    assert not wrong, wrong


def test_no_import_cycles() -> None:
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_the_checker_finds_a_cycle(tmp_path: Path) -> None:
    """The cycle test can fail: two modules that import each other are found."""
    (tmp_path / "a.py").write_text("from b import x\n")
    (tmp_path / "b.py").write_text("def f():\n    import a\n")
    known = {"a", "b"}
    assert imports("a", tmp_path / "a.py", known) == {"b"}
    assert imports("b", tmp_path / "b.py", known) == {"a"}


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_stay_small(name: str) -> None:
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines"


def test_the_cli_imports_no_heavy_library() -> None:
    code = (
        "import sys, agent.cli\n"
        "heavy = [m for m in ('numpy', 'torch', 'faiss', 'sentence_transformers', 'llama_cpp',"
        " 'transformers', 'sqlalchemy', 'fastapi', 'httpx', 'slack_bolt') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "", f"`toolroute --help` imports {done.stdout.strip()}"
