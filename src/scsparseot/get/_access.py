"""The pieces of one fit's results that the plots draw (read through :mod:`scsparseot._schema`).

Private accessors for :mod:`scsparseot.pl`: which targets were fitted, the rows of the source and
target cells, a target's displacement layer, the matrix and genes the fit read, and the λ moves.
The plots read results only through :mod:`scsparseot.get`, so a plot and its table agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from .. import _schema

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd
    from anndata import AnnData

__all__ = [
    "check_target",
    "check_targets",
    "displacement",
    "fitted_data",
    "moves",
    "source_rows",
    "target_rows",
]


def check_target(adata: AnnData, key: str, target: str | None) -> str:
    """The name of one fitted target.

    Parameters
    ----------
    adata
        Annotated data with the results of :func:`scsparseot.tl.sparse_ot`.
    key
        The ``key_added`` of the fit.
    target
        A target name, or ``None`` when only one target was fitted.

    Returns
    -------
    str
        The target's name.

    Raises
    ------
    KeyError
        If there are no results under ``key``, or ``target`` was not fitted (the message lists the
        fitted targets).
    ValueError
        If ``target`` is ``None`` and several targets were fitted.

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=60, n_genes=10, n_perturbed=2)
    >>> sso.tl.sparse_ot(adata, method="exact", fdr=None, progress=False)
    >>> check_target(adata, "sparse_ot", None)
    'drug_1'
    """
    return _schema.check_target(_schema.read_results(adata, key), key, target)


def check_targets(
    adata: AnnData, key: str, targets: str | Sequence[str] | None, *, allow_empty: bool = True
) -> list[str]:
    """The names of fitted targets, in the order given (``None``: every target, in fit order).

    Parameters
    ----------
    adata
        Annotated data with the results of :func:`scsparseot.tl.sparse_ot`.
    key
        The ``key_added`` of the fit.
    targets
        A target, a list of targets, or ``None`` for every fitted target.
    allow_empty
        Whether an empty list is returned as such; otherwise it raises a :class:`ValueError`.

    Returns
    -------
    list of str
        The target names.

    Raises
    ------
    KeyError
        If there are no results under ``key``, or a target was not fitted.
    ValueError
        If ``targets`` is empty and ``allow_empty`` is false.
    """
    return _schema.check_targets(_schema.read_results(adata, key), key, targets, allow_empty=allow_empty)


def source_rows(adata: AnnData, key: str) -> np.ndarray:
    """Row indices of the source (control) cells of the fit under ``key``.

    Parameters
    ----------
    adata
        Annotated data with the results of :func:`scsparseot.tl.sparse_ot`.
    key
        The ``key_added`` of the fit.

    Returns
    -------
    numpy.ndarray
        Positions of the cells whose label in the fit's ``groupby`` column is its ``source``.

    Raises
    ------
    KeyError
        If there are no results under ``key``, or the fit's ``groupby`` column is missing.
    """
    params = _schema.read_results(adata, key)["params"]
    return _group_rows(adata, key, params["groupby"], params["source"])


def target_rows(adata: AnnData, key: str, target: str) -> np.ndarray:
    """Row indices of the cells of ``target`` (a label of the fit's ``groupby`` column).

    Parameters
    ----------
    adata
        Annotated data with the results of :func:`scsparseot.tl.sparse_ot`.
    key
        The ``key_added`` of the fit.
    target
        The target's label.

    Returns
    -------
    numpy.ndarray
        Positions of the target's cells.

    Raises
    ------
    KeyError
        If there are no results under ``key``, or the fit's ``groupby`` column is missing.
    """
    return _group_rows(adata, key, _schema.read_results(adata, key)["params"]["groupby"], target)


def _group_rows(adata: AnnData, key: str, groupby: str, label: Any) -> np.ndarray:
    if groupby not in adata.obs:
        msg = f"adata.obs[{groupby!r}], the groupby column of the fit under {key!r}, is missing."
        raise KeyError(msg)
    return np.flatnonzero(adata.obs[groupby].astype(str).to_numpy() == str(label))


def displacement(adata: AnnData, key: str, target: str | None) -> tuple[str, np.ndarray, sparse.csr_matrix]:
    """A target's displacement layer, restricted to the source cells.

    Parameters
    ----------
    adata
        Annotated data with the results of :func:`scsparseot.tl.sparse_ot`.
    key
        The ``key_added`` of the fit.
    target
        The target, or ``None`` when only one was fitted.

    Returns
    -------
    tuple
        ``(target, rows, delta)``: the target's name, the source rows (:func:`source_rows`) and
        the CSR displacements ``T(x) − x`` of those rows, shape ``(rows.size, adata.n_vars)``.

    Raises
    ------
    KeyError
        If there are no results under ``key``, the target was not fitted, or its layer is missing.
    ValueError
        If ``target`` is ``None`` and several targets were fitted.

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=60, n_genes=10, n_perturbed=2)
    >>> sso.tl.sparse_ot(adata, method="exact", fdr=None, progress=False)
    >>> target, rows, delta = displacement(adata, "sparse_ot", None)
    >>> target, rows.size, delta.shape
    ('drug_1', 60, (60, 10))
    """
    res = _schema.read_results(adata, key)
    target = _schema.check_target(res, key, target)
    layer = _schema.find_layer(adata, key, target, len(_schema.fitted_targets(res)))
    if layer is None:
        missing = _schema.layer_key(key, target)
        msg = f"adata.layers[{missing!r}] is missing; rerun scsparseot.tl.sparse_ot(adata, ..., key_added={key!r})."
        raise KeyError(msg)
    rows = source_rows(adata, key)
    return target, rows, sparse.csr_matrix(adata.layers[layer])[rows]


def fitted_data(adata: AnnData, key: str) -> tuple[Any, np.ndarray]:
    """The matrix the fit under ``key`` read (``adata.X`` or its ``layer``) and the fitted genes.

    Parameters
    ----------
    adata
        Annotated data with the results of :func:`scsparseot.tl.sparse_ot`.
    key
        The ``key_added`` of the fit.

    Returns
    -------
    tuple
        ``(matrix, genes)``: the data matrix (dense, sparse or backed, as stored) and the
        positions of the fitted genes in ``var_names`` (every gene when the fit used all).

    Raises
    ------
    KeyError
        If there are no results under ``key``, or the fit's layer or one of its genes is missing.
    """
    params = _schema.read_results(adata, key)["params"]
    layer = params.get("layer")
    if layer is not None and layer not in adata.layers:
        msg = f"adata.layers[{layer!r}], the layer the fit under {key!r} read, is missing."
        raise KeyError(msg)
    matrix = adata.X if layer is None else adata.layers[layer]
    genes = params.get("genes")
    if genes is None:
        return matrix, np.arange(adata.n_vars)
    names = [str(g) for g in genes]
    idx = adata.var_names.get_indexer(names)
    if (idx < 0).any():
        missing = [g for g, i in zip(names, idx, strict=True) if i < 0]
        msg = f"Genes of the fit under {key!r} not in adata.var_names: {missing[:10]}{' ...' if len(missing) > 10 else ''}."
        raise KeyError(msg)
    return matrix, idx


def moves(adata: AnnData, key: str, target: str) -> pd.DataFrame | None:
    """The λ moves of ``target``'s search, by step (``None`` when the fit used a fixed λ).

    Parameters
    ----------
    adata
        Annotated data with the results of :func:`scsparseot.tl.sparse_ot`.
    key
        The ``key_added`` of the fit.
    target
        A fitted target.

    Returns
    -------
    pandas.DataFrame or None
        One row per move (the schema's ``moves`` columns: ``step``, ``lam``, ``dim``, ``err``,
        ``eval``, ``accepted``, ...), sorted by step; ``None`` when the target has no moves.

    Raises
    ------
    KeyError
        If there are no results under ``key``, or ``target`` was not fitted.
    """
    res = _schema.read_results(adata, key)
    target = _schema.check_target(res, key, target)
    table = res.get("moves")
    if table is None or "step" not in table.columns:
        return None
    table = table[table["target"].astype(str) == target].sort_values("step", kind="stable")
    return table if len(table) else None
