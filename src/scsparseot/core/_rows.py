"""Cells as the trainer reads them: checked on the way in, standardised, and moved to the device as needed."""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse

from ._cell_sources import DenseCells, as_cells
from .cells import CellData

__all__ = ["Rows", "check_cell_data", "check_cells"]


def check_cells(name: str, a: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """``a`` as a finite 2-D array (cells × genes) of ``dtype`` with at least two cells and one gene.

    Raises a :class:`ValueError` that names ``name`` and what is wrong otherwise.
    """
    try:
        a = np.asarray(a, dtype=dtype)
    except (TypeError, ValueError) as err:
        msg = f"{name} must be a numeric array (cells × genes); could not convert it: {err}"
        raise ValueError(msg) from err
    if a.ndim != 2:
        msg = f"{name} must be a 2-D array (cells × genes), got shape {a.shape}."
        raise ValueError(msg)
    if a.shape[0] < 2:
        msg = f"{name} needs at least 2 cells, got {a.shape[0]}."
        raise ValueError(msg)
    if a.shape[1] < 1:
        msg = f"{name} needs at least 1 gene, got shape {a.shape}."
        raise ValueError(msg)
    if not np.isfinite(a).all():
        msg = f"{name} contains NaN or infinite values; remove or impute them first."
        raise ValueError(msg)
    return a


def check_cell_data(name: str, a: np.ndarray | CellData | sparse.spmatrix) -> CellData:
    """``a`` as checked :class:`~scsparseot.core.CellData` (see :func:`check_cells`).

    Arrays are checked by :func:`check_cells` and wrapped in :class:`~scsparseot.core.DenseCells`;
    sparse matrices and other :class:`~scsparseot.core.CellData` are checked on their shape
    and, in one streaming pass, on their values (without densifying them).
    """
    if not (isinstance(a, CellData) or sparse.issparse(a)):
        return DenseCells(check_cells(name, a))
    cells = as_cells(a)
    n, d = cells.shape
    if n < 2:
        msg = f"{name} needs at least 2 cells, got {n}."
        raise ValueError(msg)
    if d < 1:
        msg = f"{name} needs at least 1 gene, got shape {cells.shape}."
        raise ValueError(msg)
    if cells.profile().n_nonfinite:
        msg = f"{name} contains NaN or infinite values; remove or impute them first."
        raise ValueError(msg)
    return cells


class Rows:
    """Standardised cells ``(x − center) / scale`` as float32 tensors on the device.

    Dense input is standardised and moved to the device once (as the trainer always did); other
    :class:`~scsparseot.core.CellData` (sparse, lazily read) stay where they are and each
    request densifies, standardises and moves only the rows asked for.
    """

    dtype = torch.float32

    def __init__(self, cells: CellData, center: np.ndarray, scale: float, device: torch.device) -> None:
        self.cells, self.center, self.scale, self.device = cells, center, scale, device
        self.shape = cells.shape
        self._all = self._standardise(cells.to_numpy()) if isinstance(cells, DenseCells) else None

    def _standardise(self, a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor((a - self.center) / self.scale, device=self.device)

    @property
    def resident(self) -> bool:
        """Whether all cells are on the device."""
        return self._all is not None

    def all(self) -> torch.Tensor:
        """All cells (read once and kept, for full-batch training)."""
        if self._all is None:
            self._all = self._standardise(self.cells.to_numpy())
        return self._all

    def take(self, idx: np.ndarray | torch.Tensor) -> torch.Tensor:
        """The cells ``idx`` (any order, repeats allowed)."""
        if self._all is not None:
            return self._all[idx.to(self.device) if isinstance(idx, torch.Tensor) else idx]
        if isinstance(idx, torch.Tensor):
            idx = idx.cpu().numpy()
        return self._standardise(self.cells.rows(idx))

    def mean_std(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-gene mean and (unbiased) standard deviation of the standardised cells."""
        if self._all is not None:
            return self._all.mean(0), self._all.std(0)
        prof = self.cells.profile()
        n = prof.n_cells
        mean = (prof.mean - self.center) / self.scale
        std = np.sqrt(prof.var * n / max(n - 1, 1)) / self.scale
        return (
            torch.as_tensor(mean.astype(np.float32), device=self.device),
            torch.as_tensor(std.astype(np.float32), device=self.device),
        )
