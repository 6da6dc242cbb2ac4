"""Hand each group's cells to the core once, without densifying them: dense, CSR, or rows of a backed file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from .._validation import check_finite, dense_rows
from ..core import CellData, DenseCells, LazyCells, SparseCells

if TYPE_CHECKING:
    from anndata import AnnData

    from ._args import SparseOTArgs

__all__ = ["BackedRows", "group_cells", "read_groups"]


def read_groups(adata: AnnData, args: SparseOTArgs) -> tuple[CellData, dict[str, CellData], list[str]]:
    """The source cells, each target's cells and the fitted genes' names, read once and checked.

    Parameters
    ----------
    adata
        The data.
    args
        The checked arguments of :func:`~scsparseot.tl.sparse_ot` (rows, genes, matrix).

    Returns
    -------
    tuple
        The source cells, a dict of each target's cells (in the order of ``args.target_rows``) and
        the names of the fitted genes.

    Raises
    ------
    ValueError
        If a group holds NaN or infinite values.
    """
    x = group_cells(adata, args.matrix, args.source_rows, args.gene_idx, args.layer)
    check_finite(f"source ({args.source!r})", x)
    ys = {}
    for t, rows in args.target_rows.items():
        ys[t] = group_cells(adata, args.matrix, rows, args.gene_idx, args.layer)
        check_finite(f"target ({t!r})", ys[t])
    gene_names = adata.var_names.to_numpy()[args.gene_idx].astype(str).tolist()
    return x, ys, gene_names


def group_cells(
    adata: AnnData, matrix: Any, rows: np.ndarray, gene_idx: np.ndarray, layer: str | None
) -> CellData:
    """The cells ``rows`` × genes ``gene_idx`` of ``matrix`` (``adata.X`` or a layer) for the core.

    * dense in memory: a dense float32 copy (:class:`~scsparseot.core.DenseCells`), as before;
    * sparse in memory: a CSR copy of those rows and genes (:class:`~scsparseot.core.SparseCells`),
      densified later one mini-batch at a time;
    * ``adata.X`` of an AnnData opened with ``read_h5ad(path, backed="r")``: rows read from the
      file when needed (:class:`~scsparseot.core.LazyCells` over :class:`BackedRows`).
    """
    all_genes = gene_idx.size == adata.n_vars and np.array_equal(gene_idx, np.arange(adata.n_vars))
    if layer is None and adata.isbacked and not adata.is_view:
        reader = BackedRows(adata.filename, rows, None if all_genes else gene_idx, matrix=matrix)
        return LazyCells(reader, (rows.size, gene_idx.size))
    if sparse.issparse(matrix):
        sub = matrix[rows]
        return SparseCells(sub if all_genes else sub[:, gene_idx])
    return DenseCells(dense_rows(matrix, rows, gene_idx))


def _sparse_dataset(group: Any) -> Any:
    try:
        from anndata.io import sparse_dataset
    except ImportError:  # anndata < 0.11
        from anndata.experimental import sparse_dataset
    return sparse_dataset(group)


class BackedRows:
    """Reader of rows of the ``X`` matrix of an ``.h5ad`` file (dense or CSR on disk).

    Called with sorted distinct positions ``i`` into ``rows``, it returns the file's rows
    ``rows[i]`` (restricted to ``genes``) as a CSR matrix or a dense array. A run of nearby rows is
    read as one contiguous slice. The object pickles as the path and indices, and reopens the
    file read-only where it is unpickled (process and cluster workers).

    Parameters
    ----------
    path
        The ``.h5ad`` file.
    rows
        Sorted file rows of the group.
    genes
        File columns to keep (``None``: all).
    matrix
        An already open matrix of that file (``adata.X`` of the backed AnnData) to read in this
        process; workers open their own.
    """

    def __init__(self, path: Any, rows: np.ndarray, genes: np.ndarray | None, *, matrix: Any = None) -> None:
        self.path = str(path)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.genes = None if genes is None else np.asarray(genes, dtype=np.int64)
        self._matrix = matrix
        self._file: Any = None

    def _open(self) -> Any:
        if self._matrix is None:
            import h5py

            self._file = h5py.File(self.path, "r")
            node = self._file["X"]
            self._matrix = node if isinstance(node, h5py.Dataset) else _sparse_dataset(node)
        return self._matrix

    def __call__(self, idx: np.ndarray) -> np.ndarray | sparse.csr_matrix:
        wanted = self.rows[np.asarray(idx, dtype=np.int64)]
        matrix = self._open()
        if wanted.size == 0:
            block = np.zeros((0, matrix.shape[1]), dtype=np.float32)
        else:
            lo, hi = int(wanted[0]), int(wanted[-1]) + 1
            if hi - lo <= 2 * wanted.size:  # nearby rows: one contiguous read, then pick
                block = matrix[lo:hi]
                block = block[wanted - lo] if hi - lo != wanted.size else block
            else:
                block = matrix[wanted]
        if self.genes is not None:
            block = block[:, self.genes]
        return block

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows, "genes": self.genes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["rows"], state["genes"])  # type: ignore[misc]
