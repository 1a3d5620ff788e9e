"""The package's shape: no import cycles (lazy imports inside functions count), and no command that
imports another command or the tour."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "lmlearn"


def _imports() -> dict[str, set[str]]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_no_import_cycles():
    graph, cycles = _imports(), []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_no_command_imports_another_command_or_the_tour():
    graph = _imports()
    for name, targets in graph.items():
        if name.startswith("lmlearn.commands.") and name != "lmlearn.commands.tour":
            bad = {t for t in targets
                   if (t.startswith("lmlearn.commands.") and t != name) or t.startswith("lmlearn.tour")}
            assert not bad, (name, bad)


def test_commands_are_shims_and_the_tour_calls_workflows():
    """A command parses flags and prints; the work is a workflow's `run`, which the tour and recipes call too.
    So no command module defines a training loop or builds a Driver, and the tour imports no command."""
    graph = _imports()
    for name, targets in graph.items():
        if name.startswith("lmlearn.tour"):
            assert not {t for t in targets if t.startswith("lmlearn.commands")}, (name, targets)
        if name.startswith("lmlearn.workflows"):
            assert not {t for t in targets if t.startswith(("lmlearn.commands", "lmlearn.tour"))}, (name, targets)
    for path in (PACKAGE / "commands").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert "run" not in names, f"{path.name} defines run(); it belongs in lmlearn.workflows"
        assert "Driver" not in path.read_text(encoding="utf-8"), path.name
