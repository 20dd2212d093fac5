"""The module import graph of the core package ``llmreg`` has no cycle.

Every ``import`` and ``from ... import`` of every module under ``core/src/llmreg``
counts, including imports inside functions (a cycle closed at call time is still a
cycle: the modules cannot be read or split apart). Imports under
``if TYPE_CHECKING:`` are left out: they never run, and annotations need them.
Dynamic imports (``importlib.import_module`` of a computed name, as ``llmreg``'s lazy
public names and a plugin's import paths are) are not seen.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "core" / "src"
#: Modules left out of the check: none (the gateway has left the core for plugins/gateway).
EXCLUDED: tuple[str, ...] = ()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _excluded(name: str) -> bool:
    return any(name == e or name.startswith(e + ".") for e in EXCLUDED)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The ``llmreg`` modules ``module`` imports, anywhere but under ``if TYPE_CHECKING``."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            # ``from llmreg import x`` imports the module llmreg.x when there is one
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    """Each core module and the core modules it imports."""
    files = {_module_name(p): p for p in SRC.joinpath("llmreg").rglob("*.py")}
    known = set(files)
    graph = {}
    for name, path in files.items():
        if _excluded(name):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        edges = _imports(tree, name, path.name == "__init__.py", known)
        graph[name] = {e for e in edges if not _excluded(e)}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := walk(node)):
            return cycle
    return None


def test_the_core_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "llmreg.manager" in graph and "llmreg.adapter" in graph  # the walk saw the core
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in the core: " + " -> ".join(cycle or [])


def test_a_cycle_is_found_and_named() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f():\n    from llmreg import bases\n", {"llmreg", "llmreg.bases"}),
        ("from .bases import Saver\n", {"llmreg.bases"}),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import llmreg.bases\n", set()),
    ],
)
def test_imports_inside_functions_count_and_type_checking_ones_do_not(
    source: str, expected: set[str]
) -> None:
    known = {"llmreg", "llmreg.bases", "llmreg.adapter"}
    assert _imports(ast.parse(source), "llmreg.adapter", False, known) == expected


MANAGER_PARTS = ["manager", "discovery", "compat", "loading", "names", "building"]


@pytest.mark.parametrize("module", MANAGER_PARTS)
def test_the_plugin_manager_is_split_by_job_into_small_modules(module: str) -> None:
    lines = (SRC / "llmreg" / f"{module}.py").read_text(encoding="utf-8").count("\n")
    assert lines <= 300, f"llmreg/{module}.py has {lines} lines; the manager's parts stay under 300"
