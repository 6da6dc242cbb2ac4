"""One block of cells (a dense array or a sparse matrix) converted: canonical CSR, dense float32, hashed."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

__all__ = ["canonical_csr", "hash_block", "to_dense"]


def canonical_csr(matrix: Any, dtype: Any = None) -> sparse.csr_matrix:
    """CSR with sorted, unique entries; the caller's arrays are never sorted or merged in place."""
    csr = sparse.csr_matrix(matrix, dtype=dtype)
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    return csr


def to_dense(block: np.ndarray | sparse.spmatrix) -> np.ndarray:
    """``block`` as a dense float32 array (densified if sparse)."""
    if sparse.issparse(block):
        block = block.toarray()
    return np.asarray(block, dtype=np.float32)


def hash_block(h: Any, block: np.ndarray | sparse.spmatrix) -> None:
    """Feed ``block``'s values to a :mod:`hashlib` hash: its CSR arrays if sparse, its float32 bytes if dense."""
    if sparse.issparse(block):
        csr = canonical_csr(block, dtype=np.float32)
        for arr in (np.diff(csr.indptr), csr.indices.astype(np.int64), csr.data):
            h.update(np.ascontiguousarray(arr).tobytes())
    else:
        h.update(np.ascontiguousarray(block, dtype=np.float32).tobytes())
