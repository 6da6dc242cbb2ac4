"""Cells × genes data that the trainer reads in blocks: dense arrays, CSR matrices or lazy readers.

The trainer never needs the whole matrix at once: it draws mini-batches (row indices → a dense
float32 batch), computes per-gene means and variances (centring, scaling, the Gaussian warm start,
:func:`~scsparseot.core.default_support_tol`), reads a few thousand evaluation cells and, at the
end, maps the cells block by block. :class:`CellData` is that access pattern, and its kinds
(in ``_cell_sources``) are:

* :class:`DenseCells` wraps a dense array (what the trainer has always used; results are unchanged);
* :class:`SparseCells` wraps a :class:`scipy.sparse.csr_matrix` and densifies only the rows asked
  for; its statistics come from the stored entries, without densifying anything;
* :class:`LazyCells` wraps a ``reader(rows) -> array or sparse matrix`` (for example rows of an
  HDF5 file that is never loaded whole); statistics are streamed over blocks of rows.

Blocks hold about :data:`CHUNK_ELEMENTS` values (at most 8192 rows), so a pass over the data
needs a few tens of MB whatever the number of cells. Everything returned is float32.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np

from ._cell_blocks import hash_block, to_dense
from ._cell_profile import CellProfile

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scipy import sparse

__all__ = ["CellData", "chunk_rows"]

#: Values per block of a streaming pass (rows × genes); a float32 block is then 16 MiB.
CHUNK_ELEMENTS = 2**22
#: Most rows per block (the batch size of :meth:`SparseOTMap.transport`).
MAX_CHUNK_ROWS = 8192


def chunk_rows(n_genes: int) -> int:
    """Rows per block of a streaming pass over data with ``n_genes`` genes.

    Examples
    --------
    >>> chunk_rows(50), chunk_rows(2000)
    (8192, 2097)
    """
    return int(max(1, min(MAX_CHUNK_ROWS, CHUNK_ELEMENTS // max(int(n_genes), 1))))


class CellData(ABC):
    """Cells × genes matrix read in blocks of rows, each returned as a dense float32 array.

    Subclasses implement :attr:`shape`, :meth:`rows` and, for efficiency, ``_blocks``.
    ``cells[idx]`` (an integer or boolean index over cells) is the subset of those cells, so
    the functions that subsample cells (null fits, stability refits) work on any kind of data.
    """

    _profile: CellProfile | None = None

    @property
    @abstractmethod
    def shape(self) -> tuple[int, int]:
        """``(n_cells, n_genes)``."""

    @abstractmethod
    def rows(self, idx: np.ndarray) -> np.ndarray:
        """The cells ``idx`` (any order, repeats allowed) as a dense float32 array ``(len(idx), n_genes)``."""

    @abstractmethod
    def subset(self, idx: np.ndarray) -> CellData:
        """The cells ``idx`` as a new :class:`CellData`."""

    def _blocks(self, size: int) -> Iterator[tuple[int, np.ndarray | sparse.spmatrix]]:
        """``(start, block)`` over consecutive rows; a block may be sparse."""
        n = self.shape[0]
        for start in range(0, n, size):
            yield start, self.rows(np.arange(start, min(start + size, n)))

    @property
    def dtype(self) -> np.dtype:
        """Always float32."""
        return np.dtype(np.float32)

    @property
    def n_cells(self) -> int:
        """Number of cells (rows)."""
        return self.shape[0]

    @property
    def n_genes(self) -> int:
        """Number of genes (columns)."""
        return self.shape[1]

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, idx: Any) -> CellData:
        idx = np.asarray(idx)
        if idx.dtype == bool:
            if idx.shape != (self.shape[0],):
                msg = f"A boolean index over cells must have length {self.shape[0]}, got shape {idx.shape}."
                raise IndexError(msg)
            idx = np.flatnonzero(idx)
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            msg = "Cells can only be indexed by a 1-D integer or boolean array of cells."
            raise IndexError(msg)
        n = self.shape[0]
        if idx.size and (idx.min() < -n or idx.max() >= n):
            msg = f"Cell index out of range for {n} cells."
            raise IndexError(msg)
        return self.subset(np.where(idx < 0, idx + n, idx).astype(np.int64))

    def chunk_size(self) -> int:
        """Rows per block of a streaming pass (``chunk_rows``: about 4M values, at most 8192 rows)."""
        return chunk_rows(self.shape[1])

    def chunks(self, size: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, dense float32 block)`` over consecutive blocks of ``size`` rows."""
        for start, block in self._blocks(size or self.chunk_size()):
            yield start, to_dense(block)

    def columns(self, cols: np.ndarray) -> np.ndarray:
        """All cells in the genes ``cols`` (dense float32, ``(n_cells, len(cols))``), read block by block."""
        cols = np.asarray(cols)
        out = np.empty((self.shape[0], cols.size if cols.dtype != bool else int(cols.sum())), np.float32)
        for start, block in self._blocks(self.chunk_size()):
            out[start : start + block.shape[0]] = to_dense(block[:, cols])
        return out

    def to_numpy(self) -> np.ndarray:
        """The whole matrix as a dense float32 array (for methods that need it, e.g. exact OT)."""
        out = np.empty(self.shape, dtype=np.float32)
        for start, block in self.chunks():
            out[start : start + block.shape[0]] = block
        return out

    def profile(self) -> CellProfile:
        """Per-gene moments and data checks, computed in one pass and cached."""
        if self._profile is None:
            prof = CellProfile.of_block(np.zeros((0, self.shape[1]), np.float32))
            for _, block in self._blocks(self.chunk_size()):
                prof = prof.merge(CellProfile.of_block(block))
            self._profile = prof
        return self._profile

    def mean(self, axis: int = 0) -> np.ndarray:
        """Per-gene mean (float32)."""
        _check_axis(axis)
        return self.profile().mean.astype(np.float32)

    def var(self, axis: int = 0) -> np.ndarray:
        """Per-gene population variance (float32)."""
        _check_axis(axis)
        return self.profile().var.astype(np.float32)

    def std(self, axis: int = 0, dtype: type = np.float32) -> np.ndarray:
        """Per-gene population standard deviation (computed in float64, returned as ``dtype``)."""
        _check_axis(axis)
        return np.sqrt(self.profile().var).astype(dtype)

    def update_hash(self, h: Any) -> None:
        """Feed the values to a :mod:`hashlib` hash (for checkpoint fingerprints)."""
        h.update(repr(self.shape).encode())
        for _, block in self._blocks(self.chunk_size()):
            hash_block(h, block)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_cells={self.shape[0]}, n_genes={self.shape[1]})"


def _check_axis(axis: int) -> None:
    if axis != 0:
        msg = f"CellData statistics are per gene (axis=0), got axis={axis}."
        raise ValueError(msg)
