"""Per-gene moments and data checks of cells, computed block by block and merged."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ._cell_blocks import canonical_csr

__all__ = ["CellProfile"]


@dataclass(frozen=True)
class CellProfile:
    """Per-gene moments and data checks from one pass over the cells.

    Attributes
    ----------
    n_cells
        Number of cells.
    mean, var
        Per-gene mean and population variance (float64).
    n_nonfinite
        Number of NaN or infinite values.
    max
        Largest finite value (``-inf`` without any).
    integer
        Whether every finite value is a whole number (raw counts).
    """

    n_cells: int
    mean: np.ndarray
    var: np.ndarray
    n_nonfinite: int
    max: float
    integer: bool

    @classmethod
    def of_block(cls, block: np.ndarray | sparse.spmatrix) -> CellProfile:
        """Profile of one dense or sparse block of rows."""
        n, d = block.shape
        if sparse.issparse(block):
            csr = canonical_csr(block)
            values = np.asarray(csr.data, dtype=np.float64)
            finite = np.isfinite(values)
            ok = values[finite]
            cols = csr.indices[finite]
            total = np.bincount(cols, weights=ok, minlength=d)
            mean = total / max(n, 1)
            # squared deviations of the stored entries plus those of the implicit zeros
            dev = np.bincount(cols, weights=(ok - mean[cols]) ** 2, minlength=d)
            zeros = n - np.bincount(cols, minlength=d)
            var = (dev + zeros * mean**2) / max(n, 1)
            implicit_zero = csr.nnz < n * d
            big = max(float(ok.max()) if ok.size else -np.inf, 0.0 if implicit_zero else -np.inf)
            return cls(n, mean, var, int((~finite).sum()), big, bool(np.all(np.mod(ok, 1) == 0)))
        a = np.asarray(block)
        finite = np.isfinite(a)
        n_bad = int(a.size - np.count_nonzero(finite))
        if n_bad:  # moments are meaningless (and data with them are rejected): skip the warnings
            mean = var = np.full(d, np.nan)
        else:
            a64 = np.asarray(a, dtype=np.float64)
            mean = a64.mean(0) if n else np.zeros(d)
            var = a64.var(0) if n else np.zeros(d)
        ok = a[finite] if n_bad else a
        big = float(ok.max()) if ok.size else -np.inf
        return cls(n, mean, var, n_bad, big, bool(np.all(np.mod(ok, 1) == 0)))

    def merge(self, other: CellProfile) -> CellProfile:
        """Profile of the rows of both (Chan et al.'s pairwise update of mean and variance)."""
        n = self.n_cells + other.n_cells
        if self.n_cells == 0 or other.n_cells == 0:
            return other if self.n_cells == 0 else self
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.n_cells / n)
        m2 = (
            self.var * self.n_cells
            + other.var * other.n_cells
            + delta**2 * (self.n_cells * other.n_cells / n)
        )
        return CellProfile(
            n,
            mean,
            m2 / n,
            self.n_nonfinite + other.n_nonfinite,
            max(self.max, other.max),
            self.integer and other.integer,
        )
