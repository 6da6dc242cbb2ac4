"""Argument checks shared by the baselines."""

from __future__ import annotations

import numpy as np

from ..core._rows import check_cells

__all__ = ["check_pair", "check_support_tol"]


def check_pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Source and target cells as finite float64 arrays with the same genes."""
    x = check_cells("x (source cells)", x, np.float64)
    y = check_cells("y (target cells)", y, np.float64)
    if x.shape[1] != y.shape[1]:
        msg = (
            f"x and y must have the same number of genes (columns), got {x.shape[1]} and {y.shape[1]}; "
            "select the same genes in both."
        )
        raise ValueError(msg)
    return x, y


def check_support_tol(support_tol: float | np.ndarray, n_genes: int) -> np.ndarray:
    """``support_tol`` as float64 after checking it is finite, ``>= 0`` and a scalar or one value per gene."""
    tol = np.asarray(support_tol, dtype=np.float64)
    if tol.ndim > 1 or (tol.ndim == 1 and tol.shape != (n_genes,)):
        msg = f"support_tol must be a scalar or have shape ({n_genes},) (one value per gene), got shape {tol.shape}."
        raise ValueError(msg)
    if not np.isfinite(tol).all() or np.any(tol < 0):
        msg = f"support_tol must be finite and >= 0, got {support_tol!r}."
        raise ValueError(msg)
    return tol
