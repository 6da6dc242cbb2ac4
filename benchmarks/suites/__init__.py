"""Benchmark suites of ``benchmarks/run.py``, one module per suite.

Each suite module defines ``DEFAULT_SEEDS``, a one-line ``TITLE`` and ``run(args) -> dict`` (settings,
rows, aggregates, targets, notes, markdown). Modules are imported on demand, so that the fresh
processes that run single methods (:func:`suites.common.run_isolated`) import only what they need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import ModuleType

SUITES = (
    "lowdim",
    "table1",
    "table2",
    "speed",
    "memory",
    "heterogeneous",
    "calibration",
    "design",
    "screen",
    "prediction",
)


def load(name: str) -> ModuleType:
    """The module of suite ``name``."""
    if name not in SUITES:
        msg = f"unknown suite {name!r}; choose one of {', '.join(SUITES)}"
        raise ValueError(msg)
    return importlib.import_module(f"{__name__}.{name}")
