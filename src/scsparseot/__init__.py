"""scsparseot: sparse optimal-transport maps that find which genes a perturbation moves.

``datasets``, ``get``, ``pl`` and ``report`` are imported with the package and do not need torch;
``core``, ``baselines`` and ``tl`` (and ``SparseOTMap``) are imported on first use.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from . import datasets, get, pl, report

try:
    __version__ = version("scsparseot")
except PackageNotFoundError:  # pragma: no cover - source tree without installation
    __version__ = "0.0.0"

__all__ = ["SparseOTMap", "baselines", "core", "datasets", "get", "pl", "report", "tl"]

_TORCH_SUBPACKAGES = ("baselines", "core", "tl")


def __getattr__(name: str) -> Any:
    """Import the torch-based subpackages (and ``SparseOTMap``) on first use."""
    if name in _TORCH_SUBPACKAGES:
        return import_module(f".{name}", __name__)
    if name == "SparseOTMap":
        return import_module(".core", __name__).SparseOTMap
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
