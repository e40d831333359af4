"""The code's shape, read from its imports with `ast` (nothing is imported): no import circles, a bounded
tower of levels, no long modules. Circles and towers are how a pipeline stops reading as one; this keeps
the engine, the plug-in and the installer readable from the bottom up.

Every import counts: top-level, inside functions and under `if TYPE_CHECKING:`, since a lazy import is
still a dependency and hiding one in a function is how a circle dodges Python's import error.
A module's level is one above the deepest module it imports; a module that imports none of the project's
modules (a leaf) is on level 1, so the highest level is the number of levels.

Run as a script to print every module's level: `python tests/test_layout.py`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LEVELS = 10
MAX_LINES = 450


@dataclass(frozen=True)
class Tree:
    """One of the project's code trees: where it lies, and how its modules name each other."""

    name: str
    folder: Path
    bare: bool  # the plug-in's modules import each other by bare file name (GIMP puts the folder on sys.path)
    line_limit: bool


TREES = [
    Tree("nst_engine", ROOT / "nst_engine", bare=False, line_limit=True),
    Tree("gimp_plugin", ROOT / "gimp_plugin" / "neural_style_transfer", bare=True, line_limit=True),
    Tree("install", ROOT / "install", bare=True, line_limit=False),
]


def module_names(tree: Tree) -> dict[str, Path]:
    """Dotted module name → file. A package's `__init__.py` is the package's own name."""
    names = {}
    for path in sorted(tree.folder.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        if tree.bare:
            names[path.relative_to(tree.folder).with_suffix("").as_posix().replace("/", ".")] = path
            continue
        parts = list(path.relative_to(tree.folder.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """`name` itself if it is a module of the tree, else its longest prefix that is (an attribute's module)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The tree's modules that `module` imports anywhere in its file (functions and TYPE_CHECKING included)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _known(alias.name, modules)
                if target is not None:
                    found.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = ".".join(part for part in (package, node.module or "") if part)
            else:
                base = node.module or ""
            for alias in node.names:
                # `from package import module` imports the module; `from module import name` the module.
                target = _known(f"{base}.{alias.name}" if base else alias.name, modules)
                if target is not None:
                    found.add(target)
    found.discard(module)
    return found


def import_graph(tree: Tree) -> dict[str, set[str]]:
    modules = module_names(tree)
    return {module: imports_of(module, path, modules) for module, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan), each as one circle's path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_within(graph, set(component)) for component in components]


def _cycle_within(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """One circle through a component's first module, found breadth-first: start → … → start."""
    start = min(component)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if nxt not in came_from:
                    came_from[nxt] = node
                    following.append(nxt)
        frontier = following
    return sorted(component)  # unreachable for a strongly connected component


def levels(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each module's level: 1 for a leaf, else one above the deepest module it imports. Modules on a circle
    share the circle's level (the circle counts as one module), so that the tower can be shown even then."""
    group = {module: module for module in graph}
    for circle in circles(graph):
        for member in circle:
            group[member] = circle[0]
    memo: dict[str, int] = {}

    def level(head: str) -> int:
        if head not in memo:
            memo[head] = 0  # a guard: groups have no circles between them
            below = {group[dep] for member in graph if group[member] == head for dep in graph[member]} - {head}
            memo[head] = 1 + max((level(dep) for dep in below), default=0)
        return memo[head]

    return {module: level(group[module]) for module in graph}


def tower(graph: dict[str, set[str]], top: str) -> list[str]:
    """The chain of imports from `top` down to a leaf, each step to the deepest module imported."""
    level_of = levels(graph)
    chain = [top]
    while True:
        below = [dep for dep in graph[chain[-1]] if level_of[dep] < level_of[chain[-1]]]
        if not below:
            return chain
        chain.append(max(sorted(below), key=level_of.__getitem__))


@pytest.mark.parametrize("tree", TREES, ids=lambda tree: tree.name)
def test_no_import_circles(tree: Tree) -> None:
    found = circles(import_graph(tree))
    assert not found, f"{tree.name} has {len(found)} import circle(s): " + "; ".join(
        " → ".join(circle) for circle in found)


def _check_height(tree: Tree, most: int) -> None:
    graph = import_graph(tree)
    level_of = levels(graph)
    top = max(sorted(graph), key=level_of.__getitem__)
    assert level_of[top] <= most, (
        f"{tree.name} stands {level_of[top]} levels high (at most {most}): " + " → ".join(tower(graph, top)))


@pytest.mark.parametrize("tree", TREES, ids=lambda tree: tree.name)
def test_at_most_ten_levels(tree: Tree) -> None:
    _check_height(tree, MAX_LEVELS)


@pytest.mark.parametrize("tree", [tree for tree in TREES if tree.line_limit], ids=lambda tree: tree.name)
def test_no_long_modules(tree: Tree) -> None:
    lengths = {module: len(path.read_text(encoding="utf-8").splitlines())
               for module, path in module_names(tree).items()}
    long = {module: lines for module, lines in lengths.items() if lines > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines in {tree.name}: " + ", ".join(
        f"{module} ({lines})" for module, lines in sorted(long.items()))


def test_the_reader_sees_what_it_must() -> None:
    """The reader itself: function-level, relative, `from package import module` and bare imports all count,
    and a circle hidden in a function is found (otherwise the tests above could pass on an empty graph)."""
    engine = import_graph(TREES[0])
    assert "nst_engine.contract" in engine and "nst_engine.__main__" in engine
    assert {"nst_engine", "nst_engine.contract", "nst_engine.errors"} <= set().union(*engine.values())
    plugin = import_graph(TREES[1])
    assert any(plugin.values()), "the plug-in's bare imports were not resolved"
    lazy = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(lazy) == [["a", "b", "c", "a"]]
    assert levels({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == {"a": 2, "b": 1, "c": 3}


def test_reads_function_and_relative_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "top.py").write_text("def f():\n    from pkg.sub import low\n")
    (package / "sub" / "low.py").write_text("from .. import top\nfrom . import other\n")
    (package / "sub" / "other.py").write_text("if True:\n    import pkg.top as t\n")
    graph = import_graph(Tree("pkg", package, bare=False, line_limit=True))
    assert graph["pkg.top"] == {"pkg.sub.low"}
    assert graph["pkg.sub.low"] == {"pkg.top", "pkg.sub.other"}
    assert circles(graph) == [["pkg.sub.low", "pkg.top", "pkg.sub.low"]]


if __name__ == "__main__":
    for each in TREES:
        each_graph = import_graph(each)
        each_levels = levels(each_graph)
        print(f"{each.name}: {len(each_graph)} modules on {max(each_levels.values())} levels, "
              f"{len(circles(each_graph))} circle(s)")
        for name in sorted(each_graph, key=lambda m: (-each_levels[m], m)):
            print(f"  {each_levels[name]:2d}  {name}")
