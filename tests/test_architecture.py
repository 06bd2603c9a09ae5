"""The package's shape: data flows one way through its floors (no module imports a floor above its own), no import
cycle, one module name for one thing, and no spelling of pyadvman 0.1 left in its own code."""

from __future__ import annotations

import ast
import collections
import importlib.util
from pathlib import Path

import pytest

PACKAGE = Path(importlib.util.find_spec("pyadvman").origin).parent
# The floors, lowest first; a module may import its own floor and those below. The top-level modules (errors,
# configs, registry, execution, ...) are the foundation; the command line sits on top.
FLOORS = [("pyadvman",), ("pyadvman.ops",), ("pyadvman.data",), ("pyadvman.models", "pyadvman.manifolds"),
          ("pyadvman.attacks",), ("pyadvman.training", "pyadvman.analysis"), ("pyadvman.experiments",),
          ("pyadvman.cli", "pyadvman.command_line")]
# Compiled modules, which import nothing of the package.
EXTENSIONS = ("pyadvman._C",)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _skipped(node: ast.If) -> bool:
    """Blocks whose imports are not the module's: ``if TYPE_CHECKING:`` and ``if __name__ == "__main__":`` (an
    entry point, which runs above every floor)."""
    test = ast.unparse(node.test)
    return test in ("TYPE_CHECKING", "typing.TYPE_CHECKING") or "__name__" in test


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The pyadvman modules ``path`` imports, at module level or in functions."""
    found, stack = set(), [ast.parse(path.read_text())]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _skipped(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in modules else node.module)
        stack.extend(ast.iter_child_nodes(node))
    return {name for name in found if name in modules}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths) | set(EXTENSIONS)
    return {name: _imports(path, modules) - {name} for name, path in paths.items()} | {e: set() for e in EXTENSIONS}


def _floor(module: str) -> int:
    for rank in range(len(FLOORS) - 1, -1, -1):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in FLOORS[rank]):
            return rank if rank or module.count(".") == 1 or module == "pyadvman" else -1
    return -1


def test_every_module_has_a_floor(graph) -> None:
    assert not [m for m in graph if _floor(m) < 0]


def test_no_module_imports_a_floor_above_its_own(graph) -> None:
    upward = [f"{m} -> {target}" for m, targets in graph.items() for target in targets
              if m != "pyadvman" and _floor(target) > _floor(m)]
    assert not upward, "imports up the floors:\n" + "\n".join(sorted(upward))


def test_no_import_cycle(graph) -> None:
    state, cycles = {}, []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_one_module_name_for_one_thing() -> None:
    names = collections.defaultdict(list)
    for path in PACKAGE.rglob("*.py"):
        if path.name != "__init__.py":
            names[path.name].append(str(path.relative_to(PACKAGE)))
    assert not {name: paths for name, paths in names.items() if len(paths) > 1}


def test_the_package_uses_no_spelling_it_deprecates() -> None:
    old = (".options()", "SearchSettings", "validation_attack_steps=", "apgd_steps=", "check_model=False, compile")
    found = [f"{path.relative_to(PACKAGE)}: {word}" for path in PACKAGE.rglob("*.py")
             if path.name != "_compat.py" for word in old if word in path.read_text()]
    assert not found


def test_compile_is_declared_once() -> None:
    declared = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                for line in path.read_text().splitlines() if line.strip().startswith("compile:")]
    assert declared == ["execution.py"]
