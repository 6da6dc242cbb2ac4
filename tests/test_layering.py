"""Dependencies flow one way: core <- baselines <- tl <- get / pl; core never imports AnnData."""

from __future__ import annotations

import ast
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
    # the report reads results only through get and draws them only with pl
    "report": {"torch", "scsparseot.core", "scsparseot.tl", "scsparseot._schema", "scsparseot.baselines"},
}


def _imports(path: Path, package: str) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts)
                names.add(f"{base}.{node.module}" if node.module else base)
            else:
                names.add(node.module or "")
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports(layer):
    for path in (SRC / layer).rglob("*.py"):
        package = "scsparseot." + ".".join(path.relative_to(SRC).with_suffix("").parts[:-1])
        for name in _imports(path, package):
            for bad in FORBIDDEN[layer]:
                assert not (name == bad or name.startswith(bad + ".")), f"{path.name} imports {name}"


def test_only_cli_prints():
    for path in SRC.rglob("*.py"):
        if path.name in {"cli.py", "__main__.py"}:
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
