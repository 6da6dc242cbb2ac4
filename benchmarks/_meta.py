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


def machine(**extra: Any) -> dict[str, Any]:
    """Platform, CPU count and load, torch threads, versions, the git commit and the source files
    that differed from it when the run started (the code that ran); ``extra`` is added."""
    import torch

    dirty = git("status", "--porcelain", "--", "src")
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
        "git_commit": (git("rev-parse", "HEAD") or "").strip() or None,
        "git_dirty_src": None if dirty is None else [line[3:] for line in dirty.splitlines()],
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
