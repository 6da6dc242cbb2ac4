"""scsparseot: sparse optimal-transport maps that find which genes a perturbation moves."""

from importlib.metadata import PackageNotFoundError, version

from . import baselines, core, datasets, get, pl, report, tl
from .core import SparseOTMap

try:
    __version__ = version("scsparseot")
except PackageNotFoundError:  # pragma: no cover - source tree without installation
    __version__ = "0.0.0"

__all__ = ["SparseOTMap", "baselines", "core", "datasets", "get", "pl", "report", "tl"]
