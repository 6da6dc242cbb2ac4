"""Cells × genes data that the trainer reads in blocks: dense arrays, CSR matrices or lazy readers.

The trainer never needs the whole matrix at once: it draws mini-batches (row indices → a dense
float32 batch), computes per-gene means and variances (centring, scaling, the Gaussian warm start,
:func:`~scsparseot.core.default_support_tol`), reads a few thousand evaluation cells and, at the
end, maps the cells block by block. :class:`CellData` is that access pattern:

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["CellData", "CellProfile", "DenseCells", "LazyCells", "SparseCells", "as_cells", "chunk_rows"]

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
            csr = _canonical_csr(block)
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
            yield start, _dense(block)

    def columns(self, cols: np.ndarray) -> np.ndarray:
        """All cells in the genes ``cols`` (dense float32, ``(n_cells, len(cols))``), read block by block."""
        cols = np.asarray(cols)
        out = np.empty((self.shape[0], cols.size if cols.dtype != bool else int(cols.sum())), np.float32)
        for start, block in self._blocks(self.chunk_size()):
            out[start : start + block.shape[0]] = _dense(block[:, cols])
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
            _hash_block(h, block)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_cells={self.shape[0]}, n_genes={self.shape[1]})"


class DenseCells(CellData):
    """A dense float32 array; every statistic is numpy's own on the whole array.

    Parameters
    ----------
    a
        Cells × genes array (converted to float32 once).

    Examples
    --------
    >>> import numpy as np
    >>> cells = DenseCells(np.arange(6.0).reshape(3, 2))
    >>> cells.rows(np.array([2, 0]))
    array([[4., 5.],
           [0., 1.]], dtype=float32)
    """

    def __init__(self, a: np.ndarray) -> None:
        self.a = np.asarray(a, dtype=np.float32)
        if self.a.ndim != 2:
            msg = f"Expected a 2-D array (cells × genes), got shape {self.a.shape}."
            raise ValueError(msg)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_cells, n_genes)``."""
        return self.a.shape  # type: ignore[return-value]

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """The rows ``idx`` (a copy)."""
        return self.a[np.asarray(idx)]

    def subset(self, idx: np.ndarray) -> DenseCells:
        """The rows ``idx`` as a new :class:`DenseCells`."""
        return DenseCells(self.a[idx])

    def _blocks(self, size: int) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, self.shape[0], size):
            yield start, self.a[start : start + size]

    def columns(self, cols: np.ndarray) -> np.ndarray:
        """``a[:, cols]``."""
        return self.a[:, cols]

    def to_numpy(self) -> np.ndarray:
        """The array itself (no copy)."""
        return self.a

    def mean(self, axis: int = 0) -> np.ndarray:
        """``a.mean(0)``."""
        return self.a.mean(axis)

    def var(self, axis: int = 0) -> np.ndarray:
        """``a.var(0)``."""
        return self.a.var(axis)

    def std(self, axis: int = 0, dtype: type = np.float32) -> np.ndarray:
        """``a.std(0)`` computed in ``dtype``."""
        return self.a.std(axis, dtype=dtype)

    def update_hash(self, h: Any) -> None:
        """Hash the raw bytes (as checkpoints of dense data always did)."""
        h.update(np.ascontiguousarray(self.a).tobytes())


class SparseCells(CellData):
    """A CSR matrix; only the rows asked for are densified.

    Parameters
    ----------
    matrix
        Any scipy sparse matrix (converted to CSR float32 with sorted, unique entries; the
        caller's matrix is not modified).

    Examples
    --------
    >>> from scipy import sparse
    >>> cells = SparseCells(sparse.csr_matrix([[0.0, 2.0], [4.0, 0.0]]))
    >>> cells.mean().tolist(), cells.rows([1]).tolist()
    ([2.0, 1.0], [[4.0, 0.0]])
    """

    def __init__(self, matrix: sparse.spmatrix | sparse.sparray) -> None:
        self.csr = _canonical_csr(matrix, dtype=np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_cells, n_genes)``."""
        return self.csr.shape  # type: ignore[return-value]

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """The rows ``idx``, densified."""
        return self.csr[np.asarray(idx)].toarray()

    def subset(self, idx: np.ndarray) -> SparseCells:
        """The rows ``idx`` as a new (sparse) :class:`SparseCells`."""
        return SparseCells(self.csr[idx])

    def _blocks(self, size: int) -> Iterator[tuple[int, sparse.csr_matrix]]:
        for start in range(0, self.shape[0], size):
            yield start, self.csr[start : start + size]

    def profile(self) -> CellProfile:
        """Profile from the stored entries (no densification)."""
        if self._profile is None:
            self._profile = CellProfile.of_block(self.csr)
        return self._profile

    def update_hash(self, h: Any) -> None:
        """Hash the CSR arrays."""
        h.update(repr(self.shape).encode())
        _hash_block(h, self.csr)


class LazyCells(CellData):
    """Cells read on demand through ``reader(rows)``: nothing is loaded before it is needed.

    Parameters
    ----------
    reader
        ``reader(rows)``, with ``rows`` a sorted array of distinct row numbers in ``[0, n_cells)``,
        returns those rows as a dense array or a scipy sparse matrix. Pass a picklable object
        (not a lambda) to use the cells with process or cluster executors.
    shape
        ``(n_cells, n_genes)``.

    Examples
    --------
    >>> import numpy as np
    >>> full = np.arange(8.0).reshape(4, 2)
    >>> cells = LazyCells(lambda rows: full[rows], shape=(4, 2))
    >>> cells.rows(np.array([3, 3, 0])).tolist(), cells.mean().tolist()
    ([[6.0, 7.0], [6.0, 7.0], [0.0, 1.0]], [3.0, 4.0])
    """

    def __init__(
        self, reader: Callable[[np.ndarray], np.ndarray | sparse.spmatrix], shape: tuple[int, int]
    ) -> None:
        self.reader = reader
        self._shape = (int(shape[0]), int(shape[1]))

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_cells, n_genes)``."""
        return self._shape

    def _read(self, rows: np.ndarray) -> np.ndarray | sparse.spmatrix:
        block = self.reader(rows)
        if block.shape != (rows.size, self._shape[1]):
            msg = f"The reader returned shape {block.shape} for {rows.size} rows; expected ({rows.size}, {self._shape[1]})."
            raise ValueError(msg)
        return block

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """The rows ``idx``, read in increasing order once each and densified."""
        return _dense(_gather(self._read, np.asarray(idx, dtype=np.int64)))

    def subset(self, idx: np.ndarray) -> LazyCells:
        """The rows ``idx``, still read lazily."""
        return LazyCells(_Take(self.reader, np.asarray(idx, dtype=np.int64)), (len(idx), self._shape[1]))

    def _blocks(self, size: int) -> Iterator[tuple[int, np.ndarray | sparse.spmatrix]]:
        for start in range(0, self._shape[0], size):
            yield start, self._read(np.arange(start, min(start + size, self._shape[0])))


class _Take:
    """``reader`` restricted to the rows ``idx`` (picklable, unlike a closure)."""

    def __init__(self, reader: Callable[[np.ndarray], Any], idx: np.ndarray) -> None:
        self.reader, self.idx = reader, idx

    def __call__(self, rows: np.ndarray) -> np.ndarray | sparse.spmatrix:
        return _gather(self.reader, self.idx[rows])


def as_cells(a: Any) -> CellData:
    """``a`` as :class:`CellData`: arrays become :class:`DenseCells`, sparse matrices :class:`SparseCells`.

    :class:`CellData` is returned as it is.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import sparse
    >>> as_cells(np.ones((3, 2))), as_cells(sparse.eye(3, format="csr"))
    (DenseCells(n_cells=3, n_genes=2), SparseCells(n_cells=3, n_genes=3))
    """
    if isinstance(a, CellData):
        return a
    if sparse.issparse(a):
        return SparseCells(a)
    return DenseCells(a)


def _gather(read: Callable[[np.ndarray], Any], idx: np.ndarray) -> Any:
    """``read`` the sorted distinct rows of ``idx`` once each, then put them in ``idx``'s order."""
    uniq, inverse = np.unique(idx, return_inverse=True)
    block = read(uniq)
    return block if uniq.size == idx.size and np.array_equal(uniq, idx) else block[inverse]


def _canonical_csr(matrix: Any, dtype: Any = None) -> sparse.csr_matrix:
    """CSR with sorted, unique entries; the caller's arrays are never sorted or merged in place."""
    csr = sparse.csr_matrix(matrix, dtype=dtype)
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    return csr


def _dense(block: np.ndarray | sparse.spmatrix) -> np.ndarray:
    if sparse.issparse(block):
        block = block.toarray()
    return np.asarray(block, dtype=np.float32)


def _hash_block(h: Any, block: np.ndarray | sparse.spmatrix) -> None:
    if sparse.issparse(block):
        csr = _canonical_csr(block, dtype=np.float32)
        for arr in (np.diff(csr.indptr), csr.indices.astype(np.int64), csr.data):
            h.update(np.ascontiguousarray(arr).tobytes())
    else:
        h.update(np.ascontiguousarray(block, dtype=np.float32).tobytes())


def _check_axis(axis: int) -> None:
    if axis != 0:
        msg = f"CellData statistics are per gene (axis=0), got axis={axis}."
        raise ValueError(msg)
