"""The kinds of :class:`~scsparseot.core.CellData`: dense arrays, CSR matrices and lazy row readers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from ._cell_blocks import canonical_csr, hash_block, to_dense
from ._cell_profile import CellProfile
from .cells import CellData

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["DenseCells", "LazyCells", "SparseCells", "as_cells"]


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
        self.csr = canonical_csr(matrix, dtype=np.float32)

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
        hash_block(h, self.csr)


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
        return to_dense(_gather(self._read, np.asarray(idx, dtype=np.int64)))

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
