"""talent_shared is the contract and the runtime: it imports no code location and no tooling, and its
modules import each other without cycles, counting the imports inside functions too (a cycle held
together by a function-level import is still a cycle: it only moves the failure to run time)."""

from __future__ import annotations

import ast
from pathlib import Path

import talent_shared

ROOT = Path(talent_shared.__file__).parent
FORBIDDEN = ("talent_candidates", "talent_jobs", "talent_matching", "talent_platform")


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ["talent_shared", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> tuple[set[str], list[str]]:
    """(talent_shared modules ``name`` imports, anywhere in it; imports of forbidden packages)."""
    edges: set[str] = set()
    forbidden: list[str] = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                targets = [arg.value]
        for target in targets:
            if target.split(".")[0] in FORBIDDEN:
                forbidden.append(f"{name} imports {target}")
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target.startswith("talent_shared"):
                edges.add(target)
    return edges, forbidden


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    modules = _modules()
    graph, forbidden = {}, []
    for name, path in modules.items():
        graph[name], bad = _imports(name, path, set(modules))
        forbidden += bad
    return graph, forbidden


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_talent_shared_imports_no_location_and_no_tooling() -> None:
    _, forbidden = _graph()
    assert forbidden == []


def test_talent_shared_has_no_import_cycle() -> None:
    graph, _ = _graph()
    assert _cycles(graph) == []


def test_the_check_sees_cycles_and_function_level_imports(tmp_path: Path) -> None:
    """The checker itself: a cycle through a function-level import is found."""
    graph = {"talent_shared.a": {"talent_shared.b"}, "talent_shared.b": {"talent_shared.a"}, "talent_shared.c": set()}
    assert _cycles(graph) == [["talent_shared.a", "talent_shared.b"]]
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from talent_shared.cost import budget\n    import talent_jobs.reading\n")
    edges, forbidden = _imports("talent_shared.m", module, {"talent_shared.cost", "talent_shared.cost.budget"})
    assert edges == {"talent_shared.cost.budget"} and forbidden == ["talent_shared.m imports talent_jobs.reading"]
