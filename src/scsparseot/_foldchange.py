"""Fold changes as scanpy reports them, for the results' ``log_fc`` columns (numpy only, no torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["log1p_base", "log2_fold_change"]


def log1p_base(adata: AnnData) -> float | None:
    """The base of the data's logarithm where scanpy marked them log-normalised (``e`` by default), else ``None``."""
    info = adata.uns.get("log1p")
    if info is None:
        return None
    base = info.get("base") if isinstance(info, dict) else None
    return float(np.e if base is None else base)


def log2_fold_change(source_mean: np.ndarray, target_mean: np.ndarray, base: float | None) -> np.ndarray:
    """Log2 fold change of the means on the count scale, as :func:`scanpy.tl.rank_genes_groups` computes it.

    ``log2((expm1(target_mean · ln base) + 1e-9) / (expm1(source_mean · ln base) + 1e-9))`` for means of
    ``log1p`` values in base ``base``; all ``NaN`` when ``base`` is ``None`` (data not log-normalised),
    and ``NaN`` where the ratio is not positive.

    Examples
    --------
    >>> log2_fold_change(np.log1p([1.0, 3.0]), np.log1p([2.0, 3.0]), np.e).round(6).tolist()
    [1.0, 0.0]
    """
    s, t = np.asarray(source_mean, np.float64), np.asarray(target_mean, np.float64)
    if base is None:
        return np.full(np.broadcast(s, t).shape, np.nan)
    ln = np.log(base)
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN where a mean is negative, as in scanpy
        return np.log2((np.expm1(t * ln) + 1e-9) / (np.expm1(s * ln) + 1e-9))
