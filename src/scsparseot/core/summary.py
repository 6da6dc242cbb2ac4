"""Everything a fit reports about its displacements, computed block by block over the source cells.

A dense ``n × d`` displacement matrix is never built: each block of cells is mapped, and only the
sparsified displacements (``|Δ| ≤ support_tol`` set to zero, a sparse matrix with a few entries per
cell), per-gene sums and the rows that the sliced-Wasserstein error needs are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from ._cell_sources import as_cells
from .metrics import moved as moved_mask
from .metrics import sliced_wasserstein, subsample_index

if TYPE_CHECKING:
    from .cells import CellData
    from .map import SparseOTMap

__all__ = ["DisplacementSummary", "summarise_displacements"]


@dataclass(frozen=True)
class DisplacementSummary:
    """Summaries of the displacements ``Δ = T(x) − x`` of the source cells.

    Attributes
    ----------
    kept
        ``Δ`` with ``|Δ| ≤ support_tol`` set to zero, CSR float32 ``(n_cells, n_genes)``.
    response
        Norm of each cell's row of ``kept`` (float32).
    mean, mean_abs
        Per-gene mean of ``Δ`` and of ``|Δ|`` over cells (in the dtype of ``Δ``).
    support
        Per-gene share of cells with ``|Δ| > support_tol``.
    avg_dim
        Average number of moved genes per cell.
    sliced_w
        Sliced-Wasserstein distance between ``T(x)`` and the target cells (``nan`` without them).
    """

    kept: sparse.csr_matrix
    response: np.ndarray
    mean: np.ndarray
    mean_abs: np.ndarray
    support: np.ndarray
    avg_dim: float
    sliced_w: float = float("nan")


def summarise_displacements(
    x: np.ndarray | CellData,
    displace: SparseOTMap | np.ndarray,
    support_tol: np.ndarray | float,
    *,
    y: np.ndarray | CellData | None = None,
    n_projections: int = 200,
    max_points: int | None = 2000,
    seed: int = 0,
    chunk_size: int | None = None,
) -> DisplacementSummary:
    """Map the cells ``x`` block by block and summarise their displacements.

    Parameters
    ----------
    x
        Source cells (an array, a sparse matrix or :class:`~scsparseot.core.CellData`).
    displace
        A fitted :class:`~scsparseot.core.SparseOTMap`, or the displacements of ``x`` already
        computed (a dense array, e.g. of a closed-form baseline).
    support_tol
        Tolerance below which a displacement counts as zero (scalar or per gene, data units).
    y
        Target cells; when given, :attr:`DisplacementSummary.sliced_w` is
        ``sliced_wasserstein(T(x), y, n_projections=n_projections, max_points=max_points, seed=seed)``,
        computed from only the rows it subsamples.
    n_projections, max_points, seed
        Settings of the sliced-Wasserstein error.
    chunk_size
        Cells per block (default :meth:`~scsparseot.core.CellData.chunk_size`).

    Returns
    -------
    DisplacementSummary
        The sparsified displacements and their summaries. On data that fit in one block, every
        field equals what the same numpy expression gives on the whole ``Δ``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((4, 2), dtype=np.float32)
    >>> delta = np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    >>> s = summarise_displacements(x, delta, 0.1)
    >>> s.support.tolist(), s.avg_dim, s.kept.nnz
    ([0.75, 0.0], 0.75, 3)
    """
    cells = as_cells(x)
    n, d = cells.shape
    tol = np.asarray(support_tol)
    precomputed = isinstance(displace, np.ndarray)
    if precomputed and displace.shape != (n, d):
        msg = f"The displacements have shape {displace.shape}, expected {(n, d)} like the cells."
        raise ValueError(msg)
    ix = iy = None
    moved_x = None
    if y is not None:
        ycells = as_cells(y)
        rng = np.random.default_rng(seed)
        ix = subsample_index(n, max_points, rng)
        iy = subsample_index(ycells.shape[0], max_points, rng)
        y_sub = ycells.to_numpy() if iy is None else ycells.rows(iy)
        ix = np.arange(n) if ix is None else ix
        moved_x = np.empty((ix.size, d), dtype=np.float32)
    sizes, means, abs_means = [], [], []
    counts = np.zeros(d, dtype=np.int64)
    n_moved = 0
    blocks, responses = [], []
    for start, xb in cells.chunks(chunk_size):
        stop = start + xb.shape[0]
        delta = displace[start:stop] if precomputed else displace.displacement(xb)
        moved = moved_mask(delta, tol)
        kept = np.where(moved, delta, 0.0)
        blocks.append(sparse.csr_matrix(kept.astype(np.float32)))
        responses.append(np.linalg.norm(kept, axis=1).astype(np.float32))
        sizes.append(xb.shape[0])
        means.append(delta.mean(0))
        abs_means.append(np.abs(delta).mean(0))
        counts += moved.sum(0)
        n_moved += int(moved.sum())
        if moved_x is not None:
            pos = np.flatnonzero((ix >= start) & (ix < stop))
            moved_x[pos] = (xb + delta)[ix[pos] - start]
    kept_all = (
        sparse.vstack(blocks, format="csr", dtype=np.float32)
        if blocks
        else sparse.csr_matrix((n, d), dtype=np.float32)
    )
    sw = float("nan")
    if moved_x is not None:
        sw = sliced_wasserstein(moved_x, y_sub, n_projections=n_projections, max_points=None, seed=seed)
    return DisplacementSummary(
        kept=kept_all,
        response=np.concatenate(responses) if responses else np.zeros(0, np.float32),
        mean=_combine(sizes, means, d),
        mean_abs=_combine(sizes, abs_means, d),
        support=counts / n if n else np.zeros(d),
        avg_dim=n_moved / n if n else 0.0,
        sliced_w=sw,
    )


def _combine(sizes: list[int], means: list[np.ndarray], d: int) -> np.ndarray:
    """Mean over all cells from block means (one block: that block's numpy mean, unchanged)."""
    if len(means) == 1:
        return means[0]
    if not means:
        return np.zeros(d, dtype=np.float32)
    total = sum(k * m.astype(np.float64) for k, m in zip(sizes, means, strict=True))
    return (total / sum(sizes)).astype(means[0].dtype)
