"""The layering of src/tfctl, checked on every import (function-level and TYPE_CHECKING ones
included): no import cycles, and no module imports a layer above its own.

Layers, lowest first. A front end (CLI, server, MCP, Celery) calls the run service; the run
package drives terraform, policy and the store; the store and the terraform executor know
nothing of runs, policies or front ends.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src"

LAYERS: list[tuple[str, ...]] = [
    ("tfctl", "tfctl.errors", "tfctl.resources", "tfctl.persistence.kinds", "tfctl.threads"),
    ("tfctl.settings", "tfctl.spec", "tfctl.specfile"),
    ("tfctl.persistence",),
    ("tfctl.terraform", "tfctl.codegen", "tfctl.hcp", "tfctl.notify"),
    ("tfctl.policy",),
    ("tfctl.context", "tfctl.stacks", "tfctl.state_versions", "tfctl.doctor", "tfctl.secrets"),
    ("tfctl.runs", "tfctl.runs.workdir"),
    ("tfctl.workspaces",),
    ("tfctl.cli", "tfctl.server", "tfctl.mcp", "tfctl.celery", "tfctl.__main__"),
]

#: What a front end must never reach around the run service for.
FRONT_ENDS = ("tfctl.cli", "tfctl.server", "tfctl.mcp", "tfctl.celery")
BEHIND_THE_SERVICE = (
    "tfctl.runs.ledger",
    "tfctl.runs.executor",
    "tfctl.persistence.runs",
    "tfctl.persistence.db",
)


def modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "tfctl").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if "migrations" in parts:
            continue
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = modules()


def resolve(name: str) -> str | None:
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _nodes(tree: ast.AST, *, typing_only: bool) -> list[ast.AST]:
    """Every node of `tree`; without `typing_only`, not those under `if TYPE_CHECKING:`."""
    found: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        if (
            not typing_only
            and isinstance(node, ast.If)
            and isinstance(node.test, ast.Name)
            and node.test.id == "TYPE_CHECKING"
        ):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return found


def imports(module: str, *, typing_only: bool = True) -> set[str]:
    """What `module` imports; `typing_only=False` leaves out annotation-only imports."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in _nodes(ast.parse(path.read_text()), typing_only=typing_only):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for name in names:
            target = resolve(name)
            if target and target != module and not module.startswith(target + "."):
                found.add(target)
    return found


GRAPH = {module: imports(module) for module in MODULES}


def layer_of(module: str) -> int:
    best, depth = None, -1
    for index, members in enumerate(LAYERS):
        for member in members:
            matches = module == member or module.startswith(member + ".")
            if matches and len(member) > depth:  # the most specific entry decides
                best, depth = index, len(member)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_layer_above_its_own(module: str) -> None:
    upward = sorted(t for t in GRAPH[module] if layer_of(t) > layer_of(module))
    assert upward == [], f"{module} (layer {layer_of(module)}) imports a higher layer"


def test_there_are_no_import_cycles() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                members.append(member)
                if member == node:
                    break
            if len(members) > 1:
                cycles.append(sorted(members))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert cycles == []


def test_front_ends_go_through_the_run_service() -> None:
    """A front end may name the Store in an annotation, but never use what is behind the
    run service (sessions, the ledger, the executor)."""
    reaching = {
        module: sorted(
            t for t in imports(module, typing_only=False) if t.startswith(BEHIND_THE_SERVICE)
        )
        for module in MODULES
        if module.startswith(FRONT_ENDS)
    }
    assert {m: t for m, t in reaching.items() if t} == {}


def test_the_graph_is_read_from_real_imports() -> None:
    """The checks above would pass on an empty graph: make sure they see imports."""
    assert "tfctl.runs.ledger" in GRAPH["tfctl.runs.service"]
    assert "tfctl.persistence.runs" in GRAPH["tfctl.runs.ledger"]
    assert "tfctl.runs.service" in GRAPH["tfctl.cli.run"]  # a function-level import
    assert layer_of("tfctl.persistence.runs") < layer_of("tfctl.runs.service")
