"""Dependencies flow one way: core <- baselines <- tl <- get / pl; core never imports AnnData.

Each layer's files are checked twice: no import anywhere in them names a forbidden module (direct),
and nothing they import when they are imported, followed through the package's own modules, does
(transitive: module-level imports, not those under ``if TYPE_CHECKING:`` or inside functions, which
run only when called). ``datasets`` and ``get`` are also imported in a fresh interpreter where torch
cannot be imported, and the package's modules must not import each other in a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "scsparseot"

FORBIDDEN = {
    "core": {
        "anndata",
        "pandas",
        "matplotlib",
        "tqdm",
        "scanpy",
        "scsparseot.tl",
        "scsparseot.get",
        "scsparseot.pl",
        "scsparseot.baselines",
        "scsparseot._schema",
        "scsparseot.datasets",
    },
    "baselines": {
        "anndata",
        "pandas",
        "matplotlib",
        "scanpy",
        "scsparseot.tl",
        "scsparseot.get",
        "scsparseot.pl",
    },
    "datasets": {"torch", "scsparseot.core", "scsparseot.tl"},
    "get": {"torch", "scsparseot.tl", "scsparseot.pl"},
    # plots read results only through get, never the schema itself; never the tools or the core
    "pl": {
        "torch",
        "scsparseot.tl",
        "scsparseot.core",
        "scsparseot.baselines",
        "scsparseot._validation",
        "scsparseot._schema",
    },
    # the report reads results only through get and draws them only with pl
    "report": {"torch", "scsparseot.core", "scsparseot.tl", "scsparseot._schema", "scsparseot.baselines"},
}
#: forbidden to import directly, allowed through another layer (the report and the plots read the
#: schema via get)
DIRECT_ONLY = {"report": {"scsparseot._schema"}, "pl": {"scsparseot._schema"}}


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(path: Path) -> str:
    return ".".join(path.relative_to(SRC.parent).parts[:-1])


MODULES = {_module(p): p for p in SRC.rglob("*.py")}


def _names(node: ast.Import | ast.ImportFrom, package: str) -> set[str]:
    """Modules an import statement names (for ``from x import y``: ``x``, and ``x.y`` if that is a module)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names}
    if node.level:
        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join(parts)
        module = f"{base}.{node.module}" if node.module else base
    else:
        module = node.module or ""
    return {module} | {f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in MODULES}


def _imports(path: Path) -> set[str]:
    """Every module named by an import anywhere in the file."""
    package = _package(path)
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import | ast.ImportFrom):
            out |= _names(node, package)
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(path: Path) -> set[str]:
    """Modules imported when the file is imported: module level, outside TYPE_CHECKING and functions."""
    package = _package(path)
    out: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                out.update(_names(node, package))
            elif isinstance(node, ast.If):
                if not _is_type_checking(node):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                    visit(block)
            elif isinstance(node, ast.With | ast.ClassDef):
                visit(node.body)

    visit(ast.parse(path.read_text()).body)
    return out


def _loaded_with(module: str) -> set[str]:
    """Internal modules executed when ``module`` is imported.

    Itself, its parent packages below the top-level one, and what their module-level imports load,
    recursively. The top-level ``scsparseot/__init__.py`` is not followed: it imports every layer.
    """
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or name not in MODULES or name == "scsparseot":  # the top level imports every layer
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(2, len(parts)))  # parent packages, not "scsparseot"
        todo.extend(n for n in _runtime_imports(MODULES[name]) if n.startswith("scsparseot."))
    return seen


def _violations(names: set[str], forbidden: set[str]) -> list[str]:
    return sorted(n for n in names for bad in forbidden if n == bad or n.startswith(bad + "."))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports(layer):
    for path in (SRC / layer).rglob("*.py"):
        bad = _violations(_imports(path), FORBIDDEN[layer])
        assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_transitively(layer):
    forbidden = FORBIDDEN[layer] - DIRECT_ONLY.get(layer, set())
    for path in (SRC / layer).rglob("*.py"):
        for name in sorted(_loaded_with(_module(path))):
            bad = _violations(_runtime_imports(MODULES[name]) | {name}, forbidden)
            assert not bad, f"importing {_module(path)} loads {name}, which imports {bad}"


def test_transitive_check_sees_through_modules():
    # the check follows imports through other modules: tl reaches torch only through core
    loaded = _loaded_with("scsparseot.tl._sparse_ot")
    assert "scsparseot.core.trainer" in loaded
    assert "torch" not in _runtime_imports(MODULES["scsparseot.tl._sparse_ot"])
    assert any("torch" in _runtime_imports(MODULES[name]) for name in loaded)
    # and skips what is imported only for type checking or inside functions
    assert "scsparseot.core.map_arrays" not in _runtime_imports(MODULES["scsparseot._schema"])
    assert "scsparseot.core.map_arrays" in _imports(MODULES["scsparseot._schema"])


def test_no_import_cycles():
    # module-level imports between the package's modules form no cycle (a module importing its own
    # parent package, as ``from . import x`` does, is not an edge: the parent is already loading)
    graph = {}
    for name, path in MODULES.items():
        parts = name.split(".")
        parents = {".".join(parts[:i]) for i in range(1, len(parts))}
        graph[name] = {n for n in _runtime_imports(path) if n in MODULES and n not in parents | {name}}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph[name]):
            assert state.get(dep) != 1, f"import cycle: {' -> '.join([*path, name, dep])}"
            if dep not in state:
                visit(dep, [*path, name])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


@pytest.mark.parametrize("module", ["scsparseot.datasets", "scsparseot.get"])
def test_imports_without_torch(module):
    code = (
        "import sys; sys.modules['torch'] = None\n"  # `import torch` now raises ImportError
        f"import {module}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[:2] in (['scsparseot', 'core'], ['scsparseot', 'tl']))\n"
        "assert not loaded, loaded\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_only_cli_prints():
    for path in SRC.rglob("*.py"):
        if path.name == "__main__.py" or path.relative_to(SRC).parts[0] == "cli":
            continue
        tree = ast.parse(path.read_text())
        calls = [
            n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"
        ]
        assert not calls, f"{path} calls print()"


def test_only_schema_writes_results():
    for path in SRC.rglob("*.py"):
        if path.name == "_schema.py" or "datasets" in path.parts:  # datasets build new objects
            continue
        text = path.read_text()
        for pattern in (".layers[", ".varm[", ".uns["):
            for line in text.splitlines():
                if pattern in line and "=" in line.split(pattern, 1)[1].split("]", 1)[-1][:3]:
                    raise AssertionError(f"{path.name} writes {pattern}: {line.strip()}")
