"""Argument checks for the AnnData layer: they read, never write, and name the fix."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from ._checks import check_choice, check_int, check_number, is_number
from ._checks import listing as _listing
from ._types import PenaltyName
from ._warnings import find_stack_level
from .core.cells import CellData

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "check_adata",
    "check_choice",
    "check_finite",
    "check_genes",
    "check_groups",
    "check_int",
    "check_layer",
    "check_number",
    "check_options",
    "dense_rows",
    "is_number",
    "warn_data_issues",
]


def check_adata(adata: Any) -> AnnData:
    """Raise :class:`TypeError` unless ``adata`` is an AnnData."""
    if not isinstance(adata, AnnData):
        msg = f"Expected an AnnData object, got {type(adata).__name__}."
        raise TypeError(msg)
    return adata


def check_groups(
    adata: AnnData, groupby: str, source: str, target: str | Sequence[str] | None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Resolve source and target labels of ``obs[groupby]`` to row indices.

    A group that is too small to fit is skipped with a warning when the targets
    were not named, and is an error when they were.
    """
    if not isinstance(groupby, str):
        msg = f"groupby must be the name of an obs column, got {type(groupby).__name__}."
        raise TypeError(msg)
    if groupby not in adata.obs.columns:
        msg = f"groupby={groupby!r} is not a column of adata.obs. Available columns: {_listing(adata.obs.columns)}."
        raise KeyError(msg)
    labels = adata.obs[groupby]
    if labels.isna().any():
        msg = f"adata.obs[{groupby!r}] has {int(labels.isna().sum())} missing labels; fill or drop those cells first."
        raise ValueError(msg)
    labels = labels.astype(str).to_numpy()
    present = list(pd.unique(labels))
    source = str(source)
    if source not in present:
        msg = f"source={source!r} is not a value of adata.obs[{groupby!r}]. Available: {_listing(present)}."
        raise KeyError(msg)
    if target is None:
        targets = [t for t in present if t != source]
        if not targets:
            msg = f"adata.obs[{groupby!r}] has no group besides the source {source!r}; nothing to fit."
            raise ValueError(msg)
        explicit = False
    else:
        targets = [str(target)] if isinstance(target, str) else [str(t) for t in target]
        if not targets:
            msg = "target is an empty list; pass None to fit every group besides the source."
            raise ValueError(msg)
        if len(set(targets)) != len(targets):
            msg = f"target lists a group more than once: {targets}."
            raise ValueError(msg)
        missing = [t for t in targets if t not in present]
        if missing:
            msg = f"target {_listing(missing)} not found in adata.obs[{groupby!r}]. Available: {_listing(present)}."
            raise KeyError(msg)
        if source in targets:
            msg = f"target includes the source group {source!r}; a map from a group to itself is the identity. Remove it from target."
            raise ValueError(msg)
        explicit = True
    source_rows = np.flatnonzero(labels == source)
    if source_rows.size < 2:
        msg = f"The source group {source!r} has {source_rows.size} cell(s); at least 2 are needed."
        raise ValueError(msg)
    target_rows = {}
    for t in targets:
        rows = np.flatnonzero(labels == t)
        if rows.size < 2:
            if explicit:
                msg = f"The target group {t!r} has {rows.size} cell(s); at least 2 are needed."
                raise ValueError(msg)
            warnings.warn(
                f"Skipping group {t!r}: it has {rows.size} cell(s), at least 2 are needed.",
                UserWarning,
                stacklevel=find_stack_level(),
            )
            continue
        target_rows[t] = rows
    if not target_rows:
        msg = f"No group of adata.obs[{groupby!r}] besides {source!r} has at least 2 cells."
        raise ValueError(msg)
    return source_rows, target_rows


def check_labels(adata: AnnData, name: str, key: Any, rows: np.ndarray, groupby: str) -> np.ndarray:
    """The obs column ``key`` (given as argument ``name``) as str labels of every cell, checked on ``rows``.

    Raises a :class:`TypeError` for a key that is not a string, a :class:`KeyError` for a missing
    column and a :class:`ValueError` for the group column itself or labels missing among ``rows``.
    """
    if not isinstance(key, str):
        msg = f"{name} must be the name of an obs column (a str), got {type(key).__name__}."
        raise TypeError(msg)
    if key not in adata.obs.columns:
        cols = ", ".join(map(repr, list(adata.obs.columns)[:20]))
        msg = f"{name}={key!r} is not a column of adata.obs; columns: {cols}."
        raise KeyError(msg)
    if key == groupby:
        msg = f"{name}={key!r} is the groupby column itself; name the column of each cell's {'state (e.g. cell type)' if name == 'state_key' else 'replicate (well, plate, donor)'}."
        raise ValueError(msg)
    col = adata.obs[key]
    missing = int(col.iloc[rows].isna().sum())
    if missing:
        msg = (
            f"adata.obs[{key!r}] ({name}) has {missing} missing label(s) among the fitted cells; give every "
            f"source and target cell a label (e.g. adata.obs[{key!r}] = adata.obs[{key!r}].astype(str)) "
            "or leave those cells out."
        )
        raise ValueError(msg)
    return col.astype(str).to_numpy()


def check_layer(adata: AnnData, layer: str | None) -> Any:
    """Return the matrix to read (``adata.X`` or a layer) after checking it is numeric."""
    if layer is None:
        matrix = adata.X
        where = "adata.X"
    else:
        if layer not in adata.layers:
            msg = f"layer={layer!r} is not in adata.layers. Available layers: {_listing(adata.layers.keys())}; use layer=None for adata.X."
            raise KeyError(msg)
        matrix = adata.layers[layer]
        where = f"adata.layers[{layer!r}]"
    if matrix is None:
        msg = f"{where} is empty (None); store the expression matrix there first."
        raise ValueError(msg)
    dtype = getattr(matrix, "dtype", None)
    if (
        dtype is None
        or not (np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.bool_))
        or np.issubdtype(dtype, np.complexfloating)
    ):
        msg = f"{where} must hold real numbers, got dtype {dtype}; convert it, e.g. adata.X = adata.X.astype('float32')."
        raise TypeError(msg)
    return matrix


def check_genes(adata: AnnData, genes: Sequence[str] | np.ndarray | pd.Index | None) -> np.ndarray:
    """Indices of the genes to fit (all genes when ``None``)."""
    if not adata.var_names.is_unique:
        msg = "adata.var_names are not unique; call adata.var_names_make_unique() first."
        raise ValueError(msg)
    if genes is None:
        return np.arange(adata.n_vars)
    if isinstance(genes, str):
        msg = "genes must be a list of gene names or a boolean mask, not a single string; wrap it in a list."
        raise TypeError(msg)
    arr = np.asarray(genes)
    if arr.dtype == bool:
        if arr.shape != (adata.n_vars,):
            msg = f"A boolean genes mask must have length n_vars={adata.n_vars}, got shape {arr.shape}."
            raise ValueError(msg)
        idx = np.flatnonzero(arr)
    else:
        names = [str(g) for g in arr.tolist()]
        missing = [g for g in names if g not in adata.var_names]
        if missing:
            msg = f"genes not found in adata.var_names: {_listing(missing)}."
            raise KeyError(msg)
        if len(set(names)) != len(names):
            msg = "genes lists some genes more than once; pass each gene once."
            raise ValueError(msg)
        idx = adata.var_names.get_indexer(names)
    if idx.size == 0:
        msg = "genes selects no gene; pass at least one gene name (or None for all genes)."
        raise ValueError(msg)
    return np.sort(idx)


def check_options(
    *, lam: Any, penalty: Any, support_tol: Any, key_added: Any, n_iters: Any, batch_size: Any, seed: Any
) -> None:
    """Check the scalar options of :func:`~scsparseot.tl.sparse_ot`."""
    if isinstance(lam, str):
        if lam != "auto":
            msg = f"lam must be a number >= 0 or 'auto', got {lam!r}."
            raise ValueError(msg)
    elif not is_number(lam):
        msg = f"lam must be a number >= 0 or 'auto', got {type(lam).__name__}."
        raise TypeError(msg)
    else:
        check_number("lam", lam, low=0)
    if isinstance(penalty, str):
        check_choice("penalty", penalty, PenaltyName)
    check_number(
        "support_tol", support_tol, low=0, finite=False, none_ok=True, expected="a number >= 0 (data units)"
    )
    if not isinstance(key_added, str) or not key_added:
        msg = f"key_added must be a non-empty string, got {key_added!r}."
        raise TypeError(msg)
    check_int("n_iters", n_iters, 0, none_ok=True)
    check_int("batch_size", batch_size, 2, none_ok=True)
    check_int("seed", seed, 0, expected="a non-negative integer")


def dense_rows(matrix: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Rows × cols of a dense or sparse matrix as a dense float32 array (one copy)."""
    if sparse.issparse(matrix):
        sub = matrix[rows][:, cols]
        out = sub.toarray()
    else:
        out = np.asarray(
            matrix[rows][:, cols] if not isinstance(matrix, np.ndarray) else matrix[np.ix_(rows, cols)]
        )
    return np.asarray(out, dtype=np.float32)


def check_finite(name: str, a: np.ndarray | CellData) -> None:
    """Raise :class:`ValueError` if ``a`` holds NaN or infinite values.

    For :class:`~scsparseot.core.CellData` the count comes from its streamed profile (the stored
    entries of a sparse matrix, blocks of a backed file), so nothing is densified.
    """
    n_bad = a.profile().n_nonfinite if isinstance(a, CellData) else int((~np.isfinite(a)).sum())
    if n_bad:
        msg = f"The {name} cells contain {n_bad} NaN/infinite value(s); remove or impute them (e.g. with np.nan_to_num) before fitting."
        raise ValueError(msg)


def warn_data_issues(x: np.ndarray | CellData, genes: list[str]) -> None:
    """Warn about data that fits poorly: raw counts, constant genes, genes on very different scales.

    ``x`` may be :class:`~scsparseot.core.CellData`: its profile (one streamed pass, cached) gives
    the standard deviations, the largest value and whether all values are whole numbers.
    """
    if isinstance(x, CellData):
        prof = x.profile()
        sd, biggest, whole = np.sqrt(prof.var), prof.max, prof.integer
    else:
        sd = x.std(0)
        biggest = float(x.max()) if x.size else -np.inf
        whole = bool(biggest > 30 and np.all(np.mod(x, 1) == 0))
    constant = np.flatnonzero(sd == 0)
    if constant.size:
        names = _listing([genes[i] for i in constant], limit=5)
        warnings.warn(
            f"{constant.size} gene(s) are constant in the source cells ({names}); they can only be called "
            "moved against a floor tolerance. Consider removing them (sc.pp.filter_genes) or passing genes=.",
            UserWarning,
            stacklevel=find_stack_level(),
        )
    if biggest > 30 and whole:
        warnings.warn(
            "The data look like raw counts (integers up to "
            f"{int(biggest)}); OT maps on counts are dominated by highly expressed genes. Normalise and "
            "log-transform first (sc.pp.normalize_total, sc.pp.log1p) or pass a log-normalised layer=.",
            UserWarning,
            stacklevel=find_stack_level(),
        )
    positive = sd[sd > 0]
    if positive.size > 1 and positive.max() / positive.min() > 100:
        warnings.warn(
            f"Gene standard deviations in the source span a factor {positive.max() / positive.min():.0f}; the "
            "transport cost is dominated by the widest genes. Consider sc.pp.scale (or a scaled layer=).",
            UserWarning,
            stacklevel=find_stack_level(),
        )
