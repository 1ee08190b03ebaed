"""The module graph of ``src/nbrtc`` has no cycles (issue 11): the signaling core
(manager, stream, protocol, ICE) never imports the widgets built on it, not even for type
checking or inside a function; widgets reach the core through ``_owner.StreamOwner``.

Every ``import``/``from ... import`` of an nbrtc module counts, wherever it is written
(top level, ``if TYPE_CHECKING:``, inside a function), since each is a dependency a
reader has to follow; with one exception: an interface module (``INTERFACES``, the
Protocols of a seam) may name the types on both sides of its seam under
``if TYPE_CHECKING:``. Pure and fast: the sources are parsed, nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "nbrtc"
#: modules that only declare a seam's Protocols (see their docstrings)
INTERFACES = {"nbrtc._signaling.owner"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The nbrtc modules an ``from X import a, b`` names (a, b may be modules)."""
    if node.level:
        base = current.split(".")
        if not is_package:
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    if not target.startswith("nbrtc"):
        return []
    return [target, *(f"{target}.{alias.name}" for alias in node.names)]


def graph() -> dict[str, set[str]]:
    """module -> the nbrtc modules it imports (anywhere in its source)."""
    files = {_module_name(p): p for p in SRC.rglob("*.py")}
    edges: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), str(path))
        type_only: set[int] = set()
        if name in INTERFACES:
            for block in ast.walk(tree):
                if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test):
                    type_only.update(id(n) for stmt in block.body for n in ast.walk(stmt))
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            if isinstance(node, ast.ImportFrom):
                targets = _resolve(name, is_package, node)
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("nbrtc")]
            else:
                continue
            edges[name].update(t for t in targets if t in files and t != name)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_package_imports_have_no_cycle() -> None:
    edges = graph()
    # the package's __init__ re-exports everything; it is the root, not part of a cycle
    edges.pop("nbrtc", None)
    for targets in edges.values():
        targets.discard("nbrtc")
    found = cycles(edges)
    assert not found, "import cycles in src/nbrtc (module -> imports):\n" + "\n".join(
        " <-> ".join(c) + "\n    " + "\n    ".join(f"{m} -> {sorted(edges[m] & set(c))}" for m in c)
        for c in found
    )


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a made-up graph with a loop is reported."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
