"""What every benchmark report records about its run: the machine, the versions, the code, and a
JSON-safe copy of the results."""

from __future__ import annotations

import importlib.metadata
import math
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def git(*args: str) -> str | None:
    """Output of ``git args`` in the repository, or None without git."""
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


#: what the results depend on: the package and the benchmark code (not the results, not the docs)
CODE_PATHS = ("src", "benchmarks", ":(exclude)benchmarks/results", ":(exclude)benchmarks/README.md")


def code_state() -> dict[str, Any]:
    """The commit checked out, the last commit that changed the code (:data:`CODE_PATHS`), and the
    code files that differ from it (uncommitted changes)."""
    dirty = git("status", "--porcelain", "--", *CODE_PATHS)
    return {
        "git_commit": (git("rev-parse", "HEAD") or "").strip() or None,
        "code_commit": (git("log", "-1", "--format=%H", "--", *CODE_PATHS) or "").strip() or None,
        "git_dirty": None if dirty is None else [line[3:] for line in dirty.splitlines()],
    }


def stamp(markdown: str, info: dict[str, Any]) -> str:
    """``markdown`` with its provenance: the code commit after the title, and a title that says so
    when the report comes from uncommitted code."""
    title, _, body = markdown.partition("\n")
    code = info.get("code_commit") or "unknown"
    dirty = info.get("git_dirty")
    if dirty:
        title += " (from uncommitted code)"
    line = f"Code: commit `{code[:10]}`" + (
        f", with uncommitted changes to {', '.join(f'`{f}`' for f in dirty)}." if dirty else ", clean tree."
    )
    return f"{title}\n\n{line}\n{body}"


def machine(**extra: Any) -> dict[str, Any]:
    """Platform, CPU count and load, torch threads, versions, and the code that ran
    (:func:`code_state`, read when the run starts); ``extra`` is added."""
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        **{p: _version(p) for p in ("numpy", "scanpy", "pot", "scsparseot")},
        **code_state(),
        **extra,
    }


def clean(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, tuples and sets to lists, non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
