"""No import circle in the product: a module that imports another at load time is never
imported back, directly or through others, while it is still loading.

The graph is read with `ast` from the source (top-level imports only): an import inside a
function runs later, and one under `if TYPE_CHECKING:` never runs, so neither can make a
half-initialised module.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

from tests.conftest import REPO

PACKAGE = "agentdesk"


def _module_files(root: Path) -> dict[str, Path]:
    modules = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _load_time_imports(statements: list[ast.stmt]):
    """Import statements that run when the module loads: not in functions, not for types."""
    for node in statements:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _load_time_imports(node.body)
            yield from _load_time_imports(node.orelse)
        elif isinstance(node, ast.ClassDef):  # a class body runs at import
            yield from _load_time_imports(node.body)
        elif isinstance(node, (ast.Try, ast.TryStar)):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _load_time_imports(block)
            for handler in node.handlers:
                yield from _load_time_imports(handler.body)
        elif isinstance(node, (ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While)):
            yield from _load_time_imports(node.body)
            yield from _load_time_imports(getattr(node, "orelse", []))


def import_graph(root: Path = REPO) -> dict[str, set[str]]:
    modules = _module_files(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _load_time_imports(tree.body):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: from the module's own package upwards
                    anchor = name.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                    base = ".".join(anchor + ([base] if base else []))
                # `from pkg import sub` loads the submodule; `from pkg import name` the package
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            for target in targets:
                # `import pkg.sub.mod` where only `pkg.sub` is ours: the nearest module we have
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
                graph[name].update(_packages_loaded_first(target, name))
    return graph


def _packages_loaded_first(target: str, importer: str) -> set[str]:
    """Importing `a.b.c` runs `a` and `a.b` first, except the importer's own packages, which
    are already loading (a submodule importing a sibling through them is no circle)."""
    own = {".".join(importer.split(".")[:i]) for i in range(1, importer.count(".") + 2)}
    parts = target.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))} - own


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components with more than one module, or a self-loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def shortest_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One circle through the component's first module, as `a -> b -> a`."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node] & members):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if child not in previous:
                previous[child] = node
                queue.append(child)
    return component


def test_the_finder_reports_a_circle_it_is_given():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    components = strongly_connected(graph)
    assert components == [["a", "b", "c"]]
    assert shortest_cycle(graph, components[0]) == ["a", "b", "c", "a"]


def test_the_graph_skips_imports_in_functions_and_for_type_checking(tmp_path):
    package = tmp_path / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "one.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from agentdesk import two\n"
        "if TYPE_CHECKING:\n    from agentdesk import three\n"
        "def later():\n    from agentdesk import three\n"
    )
    (package / "two.py").write_text("from . import one\n")
    (package / "three.py").write_text("import agentdesk.one\n")
    graph = import_graph(tmp_path)
    assert graph["agentdesk.one"] == {"agentdesk.two"}
    assert graph["agentdesk.two"] == {"agentdesk.one"}
    assert graph["agentdesk.three"] == {"agentdesk.one"}
    assert strongly_connected(graph) == [["agentdesk.one", "agentdesk.two"]]


def test_a_package_that_loads_its_importer_is_a_circle(tmp_path):
    package = tmp_path / PACKAGE
    (package / "cli").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cli" / "__init__.py").write_text("from agentdesk.cli.parser import main\n")
    (package / "cli" / "parser.py").write_text("import agentdesk.supervisor\n")
    (package / "cli" / "common.py").write_text("")
    (package / "supervisor.py").write_text("from agentdesk.cli.common import x\n")
    graph = import_graph(tmp_path)
    assert graph["agentdesk.supervisor"] == {"agentdesk.cli.common", "agentdesk.cli"}
    assert graph["agentdesk.cli.parser"] == {"agentdesk.supervisor"}  # not its own package
    assert strongly_connected(graph) == [
        ["agentdesk.cli", "agentdesk.cli.parser", "agentdesk.supervisor"]
    ]


def test_no_module_of_the_product_imports_itself_back_at_load_time():
    graph = import_graph()
    assert "agentdesk.tui.app" in graph and graph["agentdesk.tui.app"], "the graph was read"
    circles = [
        " -> ".join(shortest_cycle(graph, component))
        + (f"  (component: {', '.join(component)})" if len(component) > 2 else "")
        for component in strongly_connected(graph)
    ]
    assert not circles, "import circles:\n" + "\n".join(circles)
