"""No import cycle inside ``llmreg_gateway``, counting imports inside functions and
under ``TYPE_CHECKING``: each module's source is parsed with :mod:`ast`, so an
import that runs only on call (or only for the type checker) counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import llmreg_gateway

PACKAGE = "llmreg_gateway"
ROOT = Path(llmreg_gateway.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join((PACKAGE, *parts)).removesuffix(".__init__")


def _targets(node: ast.AST, here: str, modules: set[str]) -> set[str]:
    """The package's modules one import statement imports."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in modules}
    if not isinstance(node, ast.ImportFrom):
        return set()
    base = node.module or ""
    if node.level:  # a relative import: resolve it against this module's package
        package = here.rsplit(".", node.level)[0] if not here.endswith("__init__") else here
        base = f"{package}.{base}".rstrip(".")
    found = {f"{base}.{a.name}" for a in node.names} & modules  # submodules by name
    if base in modules and len(found) < len(node.names):
        found.add(base)  # a name defined in the module itself
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its source."""
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    modules = set(files)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        edges: set[str] = set()
        for node in ast.walk(tree):
            edges |= _targets(node, name, modules)
        graph[name] = edges - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as its modules in order (the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_gateway_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 10 and "llmreg_gateway.app" in graph  # the whole package was read
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def test_a_cycle_through_a_function_level_import_is_found():
    # the check itself: the shape of the cycle this package had (worker -> cli -> worker)
    graph = {"a.worker": {"a.cli"}, "a.cli": {"a.worker", "a.other"}, "a.other": set()}
    assert find_cycle(graph) == ["a.cli", "a.worker", "a.cli"]
    source = "def f():\n    from llmreg_gateway.cli import serve\n"
    modules = {"llmreg_gateway.cli", "llmreg_gateway.worker"}
    edges = set()
    for node in ast.walk(ast.parse(source)):
        edges |= _targets(node, "llmreg_gateway.worker", modules)
    assert edges == {"llmreg_gateway.cli"}


#: A named tuple's public API, spelled with one underscore.
NAMEDTUPLE_API = frozenset({"_replace", "_asdict", "_fields", "_make", "_field_defaults"})


def _private_reaches(tree: ast.AST) -> list[str]:
    """Private names (``_x``, not dunders, not a named tuple's API) used from another
    object or module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.Attribute) and not (
            isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
        ):
            names = [node.attr]
        else:
            continue
        found += [f"line {node.lineno}: {ast.unparse(node)}" for n in names
                  if n.startswith("_") and not n.startswith("__")
                  and n not in NAMEDTUPLE_API]  # fmt: skip
    return found


def test_no_module_reaches_into_another_s_private_names():
    reaches = {
        path.name: found
        for path in sorted(ROOT.rglob("*.py"))
        if (found := _private_reaches(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert reaches == {}
    planted = "from llmreg_gateway.cli import _serve_logging\nroutes._record(1)\nself._ok()\n"
    assert len(_private_reaches(ast.parse(planted))) == 2


def _event_literals(tree: ast.AST) -> list[int]:
    """Lines of string literals that frame a server-sent event themselves."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and node.value.startswith("data:")
    ]  # fmt: skip


def test_every_event_is_written_by_the_one_sse_writer():
    framing = {
        path.name: lines
        for path in sorted(ROOT.rglob("*.py"))
        if path.name != "sse.py"
        and (lines := _event_literals(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert framing == {}
    assert _event_literals(ast.parse('x = f"data: {body}\\n\\n"')) == [1]
